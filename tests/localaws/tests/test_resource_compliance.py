"""AWS::Config::ResourceCompliance items (localaws/resource_compliance.py): recorded per evaluated resource when the
recorder records the type, a new version whenever a rule's result for the resource changes, read through the
advanced query (SelectResourceConfig, SelectAggregateResourceConfig) with Config's array semantics.

https://docs.aws.amazon.com/config/latest/developerguide/view-compliance-history.html
https://docs.aws.amazon.com/config/latest/developerguide/quering-resource-compliance-history.html
https://docs.aws.amazon.com/config/latest/developerguide/querying-AWS-resources.html ("Multiple properties within an array")
https://docs.aws.amazon.com/config/latest/APIReference/API_SelectAggregateResourceConfig.html
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import botocore.exceptions
import pytest

from conftest import ADMIN, REGION, create_function, custom_rule, rule_function

RULE_LAMBDA = f"arn:aws:lambda:{REGION}:{ADMIN}:function:runtime-rule"
RC = "AWS::Config::ResourceCompliance"
FN = "AWS::Lambda::Function"
T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone.utc)
ALL = "SELECT resourceId, configuration WHERE resourceType = 'AWS::Config::ResourceCompliance'"


def recorder(aws, group: dict[str, Any], account: str | None = None, start: bool = True) -> None:
    """A configuration recorder with the given recording group (PutConfigurationRecorder), running."""
    config = aws.client("config", account)
    config.put_configuration_recorder(ConfigurationRecorder={
        "name": "default", "roleARN": f"arn:aws:iam::{account or ADMIN}:role/config-recorder", "recordingGroup": group})
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config-bucket"})
    if start:
        config.start_configuration_recorder(ConfigurationRecorderName="default")


ALL_SUPPORTED = {"allSupported": True, "includeGlobalResourceTypes": False}


def event_where(aws, predicate: Callable[[dict], bool], timeout: float = 10) -> dict:
    """The first invocation event of the rules' Lambda that satisfies `predicate` (the emulator queues them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for invocation in aws.control("GET", f"/_localaws/runtime/invocations?FunctionArn={RULE_LAMBDA}")["Invocations"]:
            if predicate(invocation["Event"]):
                return invocation["Event"]
        time.sleep(0.05)
    raise AssertionError("no such invocation of the rules' Lambda")


def token(aws, rule: str, account: str = ADMIN) -> str:
    return event_where(aws, lambda e: e["configRuleName"] == rule and e["accountId"] == account)["resultToken"]


def put(aws, result_token: str, results: dict[str, str], account: str | None = None, at: dt.datetime = T0) -> None:
    """PutEvaluations as the rule would: {function name: compliance}."""
    aws.client("config", account).put_evaluations(ResultToken=result_token, Evaluations=[
        {"ComplianceResourceType": FN, "ComplianceResourceId": name, "ComplianceType": compliance,
         "Annotation": f"{name} judged {compliance}", "OrderingTimestamp": at} for name, compliance in results.items()])


def select(config, expression: str, aggregator: str | None = None, limit: int | None = None) -> tuple[list[dict], int]:
    """Every row of an advanced query, page after page; and the number of pages."""
    rows, pages, next_token = [], 0, None
    while True:
        kwargs: dict[str, Any] = {"Expression": expression}
        if limit is not None:
            kwargs["Limit"] = limit
        if next_token:
            kwargs["NextToken"] = next_token
        if aggregator:
            page = config.select_aggregate_resource_config(ConfigurationAggregatorName=aggregator, **kwargs)
        else:
            page = config.select_resource_config(**kwargs)
        pages += 1
        rows += [json.loads(r) for r in page["Results"]]
        next_token = page.get("NextToken")
        if not next_token:
            return rows, pages


def items(aws, account: str | None = None) -> dict[str, dict]:
    """The current ResourceCompliance items of an account: target id -> configuration."""
    rows, _ = select(aws.client("config", account), ALL)
    return {r["configuration"]["targetResourceId"]: r["configuration"] for r in rows}


def rule_ref(aws, name: str, account: str | None = None) -> dict[str, str]:
    rule = aws.client("config", account).describe_config_rules(ConfigRuleNames=[name])["ConfigRules"][0]
    return {"configRuleArn": rule["ConfigRuleArn"], "configRuleId": rule["ConfigRuleId"], "configRuleName": name}


def history(aws, function: str, account: str | None = None) -> list[dict]:
    """The item's versions, oldest first (GetResourceConfigHistory, as the developer guide reads the history)."""
    page = aws.client("config", account).get_resource_config_history(
        resourceType=RC, resourceId=f"{FN}/{function}", chronologicalOrder="Forward", limit=100)
    return page["configurationItems"]


def refused(call, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call(**kwargs)
    return error.value.response["Error"]


def two_rules(aws, group: dict[str, Any] = ALL_SUPPORTED) -> tuple[str, str]:
    """Rules rule-a and rule-b (custom Lambda rules on functions), the recorder with `group`, function fn-1 created:
    the result tokens of both rules."""
    recorder(aws, group)
    custom_rule(aws, "rule-a", RULE_LAMBDA)
    custom_rule(aws, "rule-b", RULE_LAMBDA)
    create_function(aws, "fn-1", "python3.8")
    return token(aws, "rule-a"), token(aws, "rule-b")


@pytest.mark.parametrize("group, recorded", [
    (ALL_SUPPORTED, True),
    ({"allSupported": False, "resourceTypes": [FN, RC]}, True),
    ({"allSupported": False, "resourceTypes": [FN]}, False),
    ({"allSupported": False, "exclusionByResourceTypes": {"resourceTypes": [RC]},
      "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"}}, False),
])
def test_recorded_only_when_the_recorder_records_the_type(aws, group, recorded):
    """allSupported records ResourceCompliance, as does listing it; a recorder that lists only functions, or
    excludes the type (AWS's cost guidance), records none: the query finds nothing and there is no history."""
    token_a, _ = two_rules(aws, group)
    put(aws, token_a, {"fn-1": "NON_COMPLIANT"})
    assert set(items(aws)) == ({"fn-1"} if recorded else set())
    if not recorded:
        error = refused(aws.client("config").get_resource_config_history, resourceType=RC, resourceId=f"{FN}/fn-1")
        assert error["Code"] == "ResourceNotDiscoveredException"
    # The functions themselves are recorded either way (the exclusion excludes one type only).
    functions, _ = select(aws.client("config"), "SELECT resourceId WHERE resourceType = 'AWS::Lambda::Function'")
    assert {"resourceId": "fn-1"} in functions


def test_a_stopped_recorder_records_nothing(aws):
    token_a, _ = two_rules(aws)
    aws.client("config").stop_configuration_recorder(ConfigurationRecorderName="default")
    put(aws, token_a, {"fn-1": "NON_COMPLIANT"})
    assert items(aws) == {}


def test_a_non_compliant_result_makes_an_item_of_the_documented_shape(aws):
    token_a, _ = two_rules(aws)
    put(aws, token_a, {"fn-1": "NON_COMPLIANT"})
    rows, _ = select(aws.client("config"), "SELECT resourceId, resourceType, resourceName, arn, accountId, awsRegion, "
                                           "configuration, relationships WHERE resourceType = 'AWS::Config::ResourceCompliance'")
    # resourceId "<target type>/<target id>", no resourceName or arn, the relationship to the target, and the
    # configuration with the rule's reference and compliance (no annotation, no result time).
    assert rows == [{
        "resourceId": f"{FN}/fn-1", "resourceType": RC, "accountId": ADMIN, "awsRegion": REGION,
        "configuration": {"complianceType": "NON_COMPLIANT", "targetResourceId": "fn-1", "targetResourceType": FN,
                          "configRuleList": [{**rule_ref(aws, "rule-a"), "complianceType": "NON_COMPLIANT"}]},
        "relationships": [{"resourceType": FN, "resourceId": "fn-1", "relationshipName": "Is associated with "}]}]
    [first] = history(aws, "fn-1")
    assert first["configurationItemStatus"] == "ResourceDiscovered"
    assert "arn" not in first and "resourceName" not in first
    assert json.loads(first["configuration"]) == rows[0]["configuration"]
    listed = aws.client("config").list_discovered_resources(resourceType=RC)["resourceIdentifiers"]
    assert listed == [{"resourceType": RC, "resourceId": f"{FN}/fn-1"}]


def test_each_change_is_a_new_version_and_the_query_reads_the_latest(aws):
    token_a, token_b = two_rules(aws)
    a, b = rule_ref(aws, "rule-a"), rule_ref(aws, "rule-b")
    put(aws, token_a, {"fn-1": "NON_COMPLIANT"})
    put(aws, token_b, {"fn-1": "COMPLIANT"})
    assert items(aws)["fn-1"] == {"complianceType": "NON_COMPLIANT", "targetResourceId": "fn-1", "targetResourceType": FN,
                                  "configRuleList": [{**a, "complianceType": "NON_COMPLIANT"},
                                                     {**b, "complianceType": "COMPLIANT"}]}
    put(aws, token_b, {"fn-1": "COMPLIANT"}, at=T0 + dt.timedelta(minutes=1))  # the same result: no new version
    assert len(history(aws, "fn-1")) == 2
    put(aws, token_a, {"fn-1": "COMPLIANT"}, at=T0 + dt.timedelta(minutes=2))
    assert items(aws)["fn-1"]["complianceType"] == "COMPLIANT"
    assert [c["complianceType"] for c in items(aws)["fn-1"]["configRuleList"]] == ["COMPLIANT", "COMPLIANT"]
    versions = history(aws, "fn-1")
    assert [json.loads(v["configuration"])["complianceType"] for v in versions] == ["NON_COMPLIANT", "NON_COMPLIANT", "COMPLIANT"]
    assert [v["configurationItemStatus"] for v in versions] == ["ResourceDiscovered", "OK", "OK"]
    captured = [v["configurationItemCaptureTime"] for v in versions]
    assert captured == sorted(captured)
    # NOT_APPLICABLE is no compliance: the rule leaves the list.
    put(aws, token_b, {"fn-1": "NOT_APPLICABLE"}, at=T0 + dt.timedelta(minutes=3))
    assert items(aws)["fn-1"]["configRuleList"] == [{**a, "complianceType": "COMPLIANT"}]
    # An older result than the one held is ignored (PutEvaluations' OrderingTimestamp), so nothing changes.
    put(aws, token_a, {"fn-1": "NON_COMPLIANT"}, at=T0)
    assert items(aws)["fn-1"]["complianceType"] == "COMPLIANT" and len(history(aws, "fn-1")) == 4


def test_only_not_applicable_makes_no_item(aws):
    token_a, _ = two_rules(aws)
    put(aws, token_a, {"fn-1": "NOT_APPLICABLE"})
    assert items(aws) == {}


def test_deleted_results_rules_and_functions_leave_the_item(aws):
    token_a, token_b = two_rules(aws)
    create_function(aws, "fn-2", "python3.8")
    create_function(aws, "fn-3", "python3.8")
    config = aws.client("config")
    put(aws, token_a, {"fn-1": "NON_COMPLIANT", "fn-2": "NON_COMPLIANT", "fn-3": "COMPLIANT"})
    put(aws, token_b, {"fn-1": "COMPLIANT"})
    # DeleteEvaluationResults: rule-a's entries go; fn-1 keeps rule-b's, fn-2 and fn-3 had only rule-a's.
    config.delete_evaluation_results(ConfigRuleName="rule-a")
    assert {k: [r["configRuleName"] for r in v["configRuleList"]] for k, v in items(aws).items()} == {"fn-1": ["rule-b"]}
    assert history(aws, "fn-2")[-1]["configurationItemStatus"] == "ResourceDeleted"
    # Deleting a rule: its entries go too ("Deleting rules creates configuration items").
    put(aws, token_a, {"fn-1": "NON_COMPLIANT", "fn-2": "NON_COMPLIANT"}, at=T0 + dt.timedelta(minutes=1))
    config.delete_config_rule(ConfigRuleName="rule-b")
    assert {k: (v["complianceType"], [r["configRuleName"] for r in v["configRuleList"]]) for k, v in items(aws).items()} == {
        "fn-1": ("NON_COMPLIANT", ["rule-a"]), "fn-2": ("NON_COMPLIANT", ["rule-a"])}
    # A deleted function: Config notifies the rule (ResourceDeleted), which answers NOT_APPLICABLE, as custom rules
    # should for deleted resources (evaluate-config_develop-rules-delete.html); the item goes.
    aws.client("lambda").delete_function(FunctionName="fn-2")
    deleted = event_where(aws, lambda e: e["configRuleName"] == "rule-a" and json.loads(e["invokingEvent"]).get(
        "configurationItem", {}).get("configurationItemStatus") == "ResourceDeleted")
    put(aws, deleted["resultToken"], {"fn-2": "NOT_APPLICABLE"}, at=T0 + dt.timedelta(minutes=2))
    assert set(items(aws)) == {"fn-1"}
    assert [v["configurationItemStatus"] for v in history(aws, "fn-2")] == [
        "ResourceDiscovered", "ResourceDeleted", "ResourceDiscovered", "ResourceDeleted"]


def test_conditions_on_an_array_match_any_element_not_the_same_one(aws):
    """The developer guide's example: R compliant with rule A and noncompliant with rule B is returned by
    `configRuleList.complianceType = 'NON_COMPLIANT' AND configRuleList.configRuleName = 'rule-a'`."""
    token_a, token_b = two_rules(aws)
    create_function(aws, "fn-2", "python3.8")
    put(aws, token_a, {"fn-1": "COMPLIANT", "fn-2": "COMPLIANT"})
    put(aws, token_b, {"fn-1": "NON_COMPLIANT"})
    config = aws.client("config")
    base = ("SELECT configuration.targetResourceId WHERE resourceType = 'AWS::Config::ResourceCompliance' "
            "AND configuration.configRuleList.complianceType = 'NON_COMPLIANT' ")
    rows, _ = select(config, base + "AND configuration.configRuleList.configRuleName = 'rule-a'")
    assert rows == [{"configuration": {"targetResourceId": "fn-1"}}]
    rows, _ = select(config, base + "AND configuration.configRuleList.configRuleName IN ('rule-a', 'nope')")
    assert rows == [{"configuration": {"targetResourceId": "fn-1"}}]
    rows, _ = select(config, base + "AND configuration.configRuleList.configRuleName = 'nope'")
    assert rows == []
    # A property inside the array comes back as the array of objects holding it.
    rows, _ = select(config, "SELECT configuration.configRuleList.configRuleName WHERE resourceType = "
                             "'AWS::Config::ResourceCompliance' AND configuration.targetResourceId = 'fn-1'")
    assert rows == [{"configuration": {"configRuleList": [{"configRuleName": "rule-a"}, {"configRuleName": "rule-b"}]}}]


def test_a_property_the_type_does_not_have_is_refused(aws):
    token_a, _ = two_rules(aws)
    put(aws, token_a, {"fn-1": "NON_COMPLIANT"})
    config = aws.client("config")
    for condition in ("configuration.configRuleList.annotation = 'x'", "configuration.runtime = 'python3.8'",
                      "configuration.compliance = 'NON_COMPLIANT'"):
        error = refused(config.select_resource_config,
                        Expression=f"SELECT resourceId WHERE resourceType = 'AWS::Config::ResourceCompliance' AND {condition}")
        assert error["Code"] == "InvalidExpressionException"
        assert condition.split(" ")[0] in error["Message"]
    # The same property on the type that has it is fine.
    select(config, "SELECT resourceId WHERE resourceType = 'AWS::Lambda::Function' AND configuration.runtime = 'python3.8'")


def organization(aws, members: int) -> list[str]:
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    return [org.create_account(AccountName=f"member-{i}", Email=f"m{i}@example.com")["CreateAccountStatus"]["AccountId"]
            for i in range(members)]


def aggregator_query(rule: str, accounts: list[str]) -> str:
    """What the aggregator sends for the organization rule's non-compliant functions of a shard."""
    return ("SELECT accountId, awsRegion, configuration.targetResourceId, configuration.configRuleList "
            "WHERE resourceType = 'AWS::Config::ResourceCompliance' AND configuration.targetResourceType = "
            f"'AWS::Lambda::Function' AND configuration.configRuleList.configRuleName IN ('{rule}') AND "
            f"configuration.configRuleList.complianceType = 'NON_COMPLIANT' AND awsRegion = '{REGION}' AND accountId IN ("
            + ", ".join(f"'{a}'" for a in accounts) + ")")


def test_the_aggregators_query_across_two_accounts_pages_by_the_limit(aws):
    members = organization(aws, 3)
    for account in [ADMIN, *members]:
        recorder(aws, ALL_SUPPORTED, account)
    rule_function(aws, RULE_LAMBDA)
    config = aws.client("config")
    config.put_organization_config_rule(OrganizationConfigRuleName="runtimes", OrganizationCustomRuleMetadata={
        "LambdaFunctionArn": RULE_LAMBDA, "ResourceTypesScope": [FN],
        "OrganizationConfigRuleTriggerTypes": ["ConfigurationItemChangeNotification"]})
    member_rule = aws.client("config", members[0]).describe_config_rules()["ConfigRules"][0]["ConfigRuleName"]
    results = {members[0]: {"a-1": "NON_COMPLIANT", "a-2": "COMPLIANT", "a-3": "NON_COMPLIANT"},
               members[1]: {"b-1": "NON_COMPLIANT", "b-2": "NON_COMPLIANT"},
               # outside the shard; 30 results for the default page size below (only c-01 is created: results
               # for the others are taken as they come, as PutEvaluations takes any resource id)
               members[2]: {f"c-{i:02d}": "NON_COMPLIANT" for i in range(1, 31)}}
    for account, functions in results.items():
        for name in list(functions)[:3]:
            create_function(aws, name, "python3.8", account=account)
        put(aws, token(aws, member_rule, account), functions, account)
    # A second (account) rule on a-2 NON_COMPLIANT: a-2 is non-compliant overall, but not for the org rule, and
    # the two conditions on configRuleList meet in different elements, so Config returns it (any element).
    aws.client("lambda").add_permission(FunctionName="runtime-rule", StatementId="config", Principal="config.amazonaws.com",
                                        Action="lambda:InvokeFunction")
    custom_rule(aws, "local-check", RULE_LAMBDA, account=members[0])
    create_function(aws, "a-4", "python3.8", account=members[0])
    put(aws, token(aws, "local-check", members[0]), {"a-2": "NON_COMPLIANT"}, members[0])
    config.put_configuration_aggregator(
        ConfigurationAggregatorName="org",
        OrganizationAggregationSource={"RoleArn": f"arn:aws:iam::{ADMIN}:role/aggregator", "AllAwsRegions": True})
    query = aggregator_query(member_rule, members[:2])
    first = config.select_aggregate_resource_config(ConfigurationAggregatorName="org", Expression=query, Limit=2)
    assert len(first["Results"]) == 2 and "NextToken" in first
    assert first["QueryInfo"]["SelectFields"] == [{"Name": "accountId"}, {"Name": "awsRegion"},
                                                   {"Name": "configuration.targetResourceId"},
                                                   {"Name": "configuration.configRuleList"}]
    rows, pages = select(config, query, aggregator="org", limit=2)
    assert pages == 3
    got = {(r["accountId"], r["awsRegion"], r["configuration"]["targetResourceId"]) for r in rows}
    assert got == {(members[0], REGION, "a-1"), (members[0], REGION, "a-2"), (members[0], REGION, "a-3"),
                   (members[1], REGION, "b-1"), (members[1], REGION, "b-2")}
    assert len(rows) == 5
    by_target = {r["configuration"]["targetResourceId"]: r for r in rows}
    assert set(by_target["b-1"]) == {"accountId", "awsRegion", "configuration"}
    assert by_target["b-1"]["configuration"]["configRuleList"] == [
        {**rule_ref(aws, member_rule, members[1]), "complianceType": "NON_COMPLIANT"}]
    assert [(e["configRuleName"], e["complianceType"]) for e in by_target["a-2"]["configuration"]["configRuleList"]] == \
        sorted([(member_rule, "COMPLIANT"), ("local-check", "NON_COMPLIANT")])
    # The default page size of a non-aggregation query is 25 (API_SelectAggregateResourceConfig): 35 items.
    page = config.select_aggregate_resource_config(ConfigurationAggregatorName="org", Expression=ALL)
    assert len(page["Results"]) == 25 and "NextToken" in page
    assert len(select(config, ALL, aggregator="org")[0]) == 3 + 2 + 30
    # A property the type does not have is refused here too.
    error = refused(config.select_aggregate_resource_config, ConfigurationAggregatorName="org",
                    Expression=query.replace("configuration.targetResourceType", "configuration.resourceType"))
    assert error["Code"] == "InvalidExpressionException"


# ---- the synthetic organization serves the same items and the same semantics

SMALL = {"Accounts": 12, "Regions": 2, "Functions": 300, "OtherRules": 2, "OrganizationalUnits": 3, "Seed": 5,
         "ResourceComplianceRecorded": True}


def test_the_synthetic_organization_answers_as_the_query_semantics_over_its_items(aws):
    """The synthetic organization plans its answers from formulas; here they are compared with sql.py's semantics
    run over its items one by one, for the aggregator's query and its variants."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from localaws import sql
    from localaws.synthetic_org import Spec

    derived = aws.control("POST", "/_localaws/synthetic-org", SMALL)["Derived"]
    spec = Spec(SMALL)
    everything = [spec.compliance_item(a, r, k, spec.pair_count(a, r))
                  for a in range(spec.accounts) for r in range(len(spec.regions)) for k in range(spec.pair_count(a, r))]
    member = derived["MemberRuleName"]
    accounts = [spec.account_id(a) for a in (1, 2, 3, 5, 8)]
    config = aws.client("config")
    expressions = [
        aggregator_query(member, accounts),
        aggregator_query("OrgConfigRule-other-abcdefgh", accounts),
        aggregator_query(member, accounts).replace("= 'NON_COMPLIANT'", "= 'COMPLIANT'"),
        ALL + " AND configuration.complianceType IN ('NON_COMPLIANT')",
        "SELECT resourceId, configuration.configRuleList.complianceType WHERE resourceType = "
        "'AWS::Config::ResourceCompliance' AND configuration.configRuleList.complianceType = 'COMPLIANT' "
        f"AND awsRegion = '{spec.regions[1]}'",
    ]
    for expression in expressions:
        rows, _ = select(config, expression, aggregator=derived["AggregatorName"], limit=7)
        expected = sql.parse(expression).run(everything)
        assert rows == expected, expression
    assert select(config, expressions[0], aggregator=derived["AggregatorName"], limit=7)[0], "the shard has some"
    [one] = select(config, "SELECT resourceId, resourceName, arn, relationships WHERE resourceType = "
                           f"'AWS::Config::ResourceCompliance' AND accountId = '{spec.account_id(1)}' AND awsRegion = "
                           f"'{spec.regions[0]}'", aggregator=derived["AggregatorName"], limit=1)[0][:1]
    target = one["resourceId"].split("/", 1)[1]
    assert one == {"resourceId": f"{FN}/{target}",
                   "relationships": [{"resourceType": FN, "resourceId": target, "relationshipName": "Is associated with "}]}
    error = refused(config.select_aggregate_resource_config, ConfigurationAggregatorName=derived["AggregatorName"],
                    Expression=ALL + " AND configuration.configRuleList.annotation = 'x'")
    assert error["Code"] == "InvalidExpressionException" and "configuration.configRuleList.annotation" in error["Message"]
