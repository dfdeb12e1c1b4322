"""The synthetic organization (`POST /_localaws/synthetic-org`, localaws/synthetic_org.py): Config aggregator reads
and Organizations answered from a formula, with AWS's page sizes and refusals; and the opt-in read-rate quotas
(`ConfigReadQuota`, `OrganizationsReadQuota`, localaws/faults.py).

https://docs.aws.amazon.com/config/latest/APIReference/API_SelectAggregateResourceConfig.html
https://docs.aws.amazon.com/config/latest/APIReference/API_DescribeAggregateComplianceByConfigRules.html
https://docs.aws.amazon.com/config/latest/APIReference/API_GetAggregateComplianceDetailsByConfigRule.html
https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html
"""

from __future__ import annotations

import collections
import json
import time

import botocore.exceptions
import pytest

AGG = "synthetic-org"
LAMBDA_QUERY = ("SELECT resourceId, arn, accountId, awsRegion, configuration.runtime, configuration.packageType, "
                "configuration.architectures, configuration.lastModified, tags WHERE resourceType = 'AWS::Lambda::Function'")
RC_QUERY = ("SELECT accountId, awsRegion, configuration.targetResourceId, configuration.configRuleList "
            "WHERE resourceType = 'AWS::Config::ResourceCompliance' "
            "AND configuration.targetResourceType = 'AWS::Lambda::Function'")
SMALL = {"Accounts": 30, "Regions": 3, "Functions": 1000, "OtherRules": 4, "OrganizationalUnits": 7, "Seed": 7,
         "ResourceComplianceRecorded": True}


def synthetic(aws, **spec):
    return aws.control("POST", "/_localaws/synthetic-org", {**SMALL, **spec})


def refused(call, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call(**kwargs)
    return error.value.response


def select_all(config, expression: str, limit: int | None = 100) -> tuple[list[dict], int]:
    rows, calls, token = [], 0, None
    while True:
        kwargs = {"ConfigurationAggregatorName": AGG, "Expression": expression}
        if limit is not None:
            kwargs["Limit"] = limit
        if token:
            kwargs["NextToken"] = token
        page = config.select_aggregate_resource_config(**kwargs)
        calls += 1
        rows += [json.loads(r) for r in page["Results"]]
        token = page.get("NextToken")
        if not token:
            return rows, calls


def describe_all(config, limit: int | None = None, **filters) -> tuple[list[dict], int]:
    rows, calls, token = [], 0, None
    while True:
        kwargs = {"ConfigurationAggregatorName": AGG, **({"Filters": filters} if filters else {})}
        if limit is not None:
            kwargs["Limit"] = limit
        if token:
            kwargs["NextToken"] = token
        page = config.describe_aggregate_compliance_by_config_rules(**kwargs)
        calls += 1
        rows += page["AggregateComplianceByConfigRules"]
        token = page.get("NextToken")
        if not token:
            return rows, calls


def details_all(config, rule: str, account: str, region: str, limit: int | None = None, **extra) -> tuple[list[dict], int]:
    rows, calls, token = [], 0, None
    while True:
        kwargs = {"ConfigurationAggregatorName": AGG, "ConfigRuleName": rule, "AccountId": account,
                  "AwsRegion": region, **extra}
        if limit is not None:
            kwargs["Limit"] = limit
        if token:
            kwargs["NextToken"] = token
        page = config.get_aggregate_compliance_details_by_config_rule(**kwargs)
        calls += 1
        rows += page["AggregateEvaluationResults"]
        token = page.get("NextToken")
        if not token:
            return rows, calls


def test_off_by_default_and_turned_off_by_delete_and_reset(aws):
    assert aws.control("GET", "/_localaws/synthetic-org") == {"Active": False}
    config = aws.client("config")
    response = refused(config.describe_aggregate_compliance_by_config_rules, ConfigurationAggregatorName=AGG)
    assert response["Error"]["Code"] == "NoSuchConfigurationAggregatorException"
    described = synthetic(aws)
    assert described["Active"] and described["Derived"]["Pairs"] == 90
    assert config.describe_aggregate_compliance_by_config_rules(ConfigurationAggregatorName=AGG)["AggregateComplianceByConfigRules"]
    assert aws.control("DELETE", "/_localaws/synthetic-org") == {"Active": False}
    refused(config.describe_aggregate_compliance_by_config_rules, ConfigurationAggregatorName=AGG)
    synthetic(aws)
    aws.control("POST", "/_localaws/reset")
    assert aws.control("GET", "/_localaws/synthetic-org") == {"Active": False}


def test_a_bad_spec_is_refused(aws):
    for spec in ({"Accounts": 0}, {"Accounts": 10_001}, {"Regions": 18}, {"Regions": ["us-east-1", "us-east-1"]},
                 {"NonCompliantShare": 1.5}, {"Functions": -1}, {"Acounts": 5}, {"ResourceComplianceRecorded": "yes"}):
        with pytest.raises(Exception) as error:
            aws.control("POST", "/_localaws/synthetic-org", spec)
        assert "400" in str(error.value), spec


def test_the_whole_inventory_pages_through_once_each_with_the_fields_the_aggregator_reads(aws):
    derived = synthetic(aws)["Derived"]
    rows, calls = select_all(aws.client("config"), LAMBDA_QUERY)
    assert len(rows) == 1000 and calls == 10
    keys = {(r["accountId"], r["awsRegion"], r["resourceId"]) for r in rows}
    assert len(keys) == 1000
    per_pair = collections.Counter((r["accountId"], r["awsRegion"]) for r in rows)
    assert len(per_pair) == 90 and set(per_pair.values()) == set(derived["FunctionsPerPair"]) == {11, 12}
    first = rows[0]
    assert first["arn"] == f"arn:aws:lambda:{first['awsRegion']}:{first['accountId']}:function:{first['resourceId']}"
    assert first["configuration"]["packageType"] in ("Zip", "Image")
    assert first["configuration"]["lastModified"].endswith("+0000")
    assert first["tags"] and set(first["tags"][0]) == {"key", "value"}
    images = [r for r in rows if r["configuration"]["packageType"] == "Image"]
    assert images and all("runtime" not in r["configuration"] for r in images)
    # Config's page without Limit is 25 rows.
    page = aws.client("config").select_aggregate_resource_config(ConfigurationAggregatorName=AGG, Expression=LAMBDA_QUERY)
    assert len(page["Results"]) == 25
    # The same spec gives the same organization; another seed another one.
    again, _ = select_all(aws.client("config"), LAMBDA_QUERY)
    assert again == rows
    synthetic(aws, Seed=8)
    other, _ = select_all(aws.client("config"), LAMBDA_QUERY)
    assert len(other) == 1000 and other != rows


def test_shards_by_region_and_account_batches_partition_the_inventory(aws):
    synthetic(aws)
    config = aws.client("config")
    everything, _ = select_all(config, LAMBDA_QUERY)
    accounts = sorted({r["accountId"] for r in everything})
    regions = sorted({r["awsRegion"] for r in everything})
    assert len(accounts) == 30 and len(regions) == 3
    seen: list[tuple[str, str, str]] = []
    for region in regions:
        for batch in (accounts[:11], accounts[11:25], accounts[25:]):
            ids = ", ".join(f"'{a}'" for a in batch)
            rows, _ = select_all(config, f"{LAMBDA_QUERY} AND awsRegion = '{region}' AND accountId IN ({ids})")
            assert {(r["accountId"], r["awsRegion"]) for r in rows} <= {(a, region) for a in batch}
            seen += [(r["accountId"], r["awsRegion"], r["resourceId"]) for r in rows]
    assert sorted(seen) == sorted((r["accountId"], r["awsRegion"], r["resourceId"]) for r in everything)
    # awsRegion IN and accountId = shapes, conditions in any order.
    rows, _ = select_all(config, "SELECT resourceId WHERE accountId = '%s' AND awsRegion IN ('%s', '%s') "
                         "AND resourceType = 'AWS::Lambda::Function'" % (accounts[3], regions[0], regions[2]))
    assert len(rows) == sum(1 for r in everything if r["accountId"] == accounts[3] and r["awsRegion"] != regions[1])
    # Unknown accounts and Regions match nothing; so does a resource type the organization does not record.
    assert select_all(config, f"{LAMBDA_QUERY} AND accountId = '999999999999'")[0] == []
    assert select_all(config, f"{LAMBDA_QUERY} AND awsRegion = 'mars-north-1'")[0] == []
    assert select_all(config, "SELECT resourceId WHERE resourceType = 'AWS::S3::Bucket'")[0] == []


def test_functions_spread_over_fewer_pairs_when_asked(aws):
    derived = synthetic(aws, PairsWithFunctions=20)["Derived"]
    assert derived["PairsWithFunctions"] == 20 and derived["FunctionsPerPair"] == [50, 50]
    config = aws.client("config")
    rows, calls = select_all(config, LAMBDA_QUERY)
    assert len(rows) == 1000 and calls == 10
    assert set(collections.Counter((r["accountId"], r["awsRegion"]) for r in rows).values()) == {50}
    # "Does not display rules that do not have compliance results": the rule only where functions are.
    member = derived["MemberRuleName"]
    triples, _ = describe_all(config, ConfigRuleName=member)
    assert len(triples) == 20


def test_select_refusals_as_aws(aws):
    synthetic(aws)
    strict = aws.client("config", validate=False)
    for key in ("Limit", "MaxResults"):
        response = refused(strict.select_aggregate_resource_config, ConfigurationAggregatorName=AGG,
                           Expression=LAMBDA_QUERY, **{key: 101})
        assert response["Error"]["Code"] == "ValidationException", response
        assert "less than or equal to 100" in response["Error"]["Message"]
    ids = ", ".join(f"'{200000000000 + i:012d}'" for i in range(300))  # about 4,500 characters
    response = refused(strict.select_aggregate_resource_config, ConfigurationAggregatorName=AGG,
                       Expression=f"{LAMBDA_QUERY} AND accountId IN ({ids})")
    assert response["Error"]["Code"] == "ValidationException"
    assert "length less than or equal to 4096" in response["Error"]["Message"]
    config = aws.client("config")
    for token in ("garbage", "WyJ4IiwxXQ"):
        response = refused(config.select_aggregate_resource_config, ConfigurationAggregatorName=AGG,
                           Expression=LAMBDA_QUERY, NextToken=token)
        assert response["Error"]["Code"] == "InvalidNextTokenException"
    # A token belongs to its expression.
    token = config.select_aggregate_resource_config(ConfigurationAggregatorName=AGG, Expression=LAMBDA_QUERY,
                                                    Limit=10)["NextToken"]
    response = refused(config.select_aggregate_resource_config, ConfigurationAggregatorName=AGG,
                       Expression=f"{LAMBDA_QUERY} AND awsRegion = 'us-east-1'", NextToken=token)
    assert response["Error"]["Code"] == "InvalidNextTokenException"
    # What the synthetic organization does not understand is refused by name, never answered with everything.
    for expression, named in ((f"{LAMBDA_QUERY} AND configuration.runtime = 'python3.8'", "configuration.runtime"),
                              (f"{LAMBDA_QUERY} AND awsRegion != 'us-east-1'", "!="),
                              (f"{LAMBDA_QUERY} AND accountId LIKE '2000%'", "LIKE"),
                              ("SELECT resourceId WHERE awsRegion = 'us-east-1'", "resourceType"),
                              ("SELECT resourceId WHERE resourceType = 'AWS::Lambda::Function' OR awsRegion = 'x'", "OR")):
        response = refused(config.select_aggregate_resource_config, ConfigurationAggregatorName=AGG, Expression=expression)
        assert response["Error"]["Code"] == "InvalidExpressionException", expression
        assert named in response["Error"]["Message"], response["Error"]["Message"]


def test_resource_compliance_only_when_recorded_and_agrees_with_the_details(aws):
    derived = synthetic(aws, ResourceComplianceRecorded=False)["Derived"]
    config = aws.client("config")
    assert select_all(config, RC_QUERY)[0] == []
    synthetic(aws)
    rows, calls = select_all(config, RC_QUERY)
    assert len(rows) == 1000 and calls == 10
    member = derived["MemberRuleName"]
    assert all(r["configuration"]["configRuleList"][0]["configRuleName"] == member for r in rows)
    noncompliant = [r for r in rows if r["configuration"]["configRuleList"][0]["complianceType"] == "NON_COMPLIANT"]
    filtered, _ = select_all(config, f"{RC_QUERY} AND configuration.complianceType = 'NON_COMPLIANT'")
    assert filtered == noncompliant
    by_rule, _ = select_all(config, f"{RC_QUERY} AND configuration.configRuleList.configRuleName = '{member}' "
                                    "AND configuration.configRuleList.complianceType = 'NON_COMPLIANT'")
    assert by_rule == noncompliant
    # A property inside the array of rules keeps the array, as Config returns it (clients iterate it).
    names, _ = select_all(config, "SELECT configuration.configRuleList.configRuleName, "
                                  "configuration.configRuleList.complianceType WHERE "
                                  "resourceType = 'AWS::Config::ResourceCompliance'", limit=5)
    assert names[0] == {"configuration": {"configRuleList": [
        {"configRuleName": member, "complianceType": rows[0]["configuration"]["configRuleList"][0]["complianceType"]}]}}
    # The NON_COMPLIANT triples' contributor counts add up to the NON_COMPLIANT items, and each triple's details
    # name the same functions.
    triples, _ = describe_all(config, ConfigRuleName=member, ComplianceType="NON_COMPLIANT")
    assert sum(t["Compliance"]["ComplianceContributorCount"]["CappedCount"] for t in triples) == len(noncompliant)
    triple = triples[0]
    details, _ = details_all(config, member, triple["AccountId"], triple["AwsRegion"], ComplianceType="NON_COMPLIANT")
    ids = {d["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"] for d in details}
    assert ids == {r["configuration"]["targetResourceId"] for r in noncompliant
                   if (r["accountId"], r["awsRegion"]) == (triple["AccountId"], triple["AwsRegion"])}


def test_describe_filters_and_page_sizes(aws):
    derived = synthetic(aws)["Derived"]
    member = derived["MemberRuleName"]
    config = aws.client("config")
    rows, calls = describe_all(config)
    # Every pair holds functions (the rule) and every other rule has results everywhere: 90 * (1 + 4) triples,
    # in one page of the default (maximum) 1,000.
    assert len(rows) == 450 and calls == 1
    assert len({(r["ConfigRuleName"], r["AccountId"], r["AwsRegion"]) for r in rows}) == 450
    small, calls = describe_all(config, limit=100)
    assert small == rows and calls == 5
    mine, _ = describe_all(config, ConfigRuleName=member)
    assert len(mine) == 90 and {r["ConfigRuleName"] for r in mine} == {member}
    assert member.startswith("OrgConfigRule-lambda-runtime-lifecycle-") and len(member.rsplit("-", 1)[1]) == 8
    noncompliant, _ = describe_all(config, ConfigRuleName=member, ComplianceType="NON_COMPLIANT")
    assert 0 < len(noncompliant) < 90
    assert noncompliant == [r for r in mine if r["Compliance"]["ComplianceType"] == "NON_COMPLIANT"]
    assert all(r["Compliance"]["ComplianceContributorCount"]["CappedCount"] >= 1 for r in noncompliant)
    account, region = mine[40]["AccountId"], mine[40]["AwsRegion"]
    pair, _ = describe_all(config, AccountId=account, AwsRegion=region)
    assert [r["ConfigRuleName"] for r in pair][0] == member and len(pair) == 5
    assert describe_all(config, ConfigRuleName="no-such-rule")[0] == []
    strict = aws.client("config", validate=False)
    response = refused(strict.describe_aggregate_compliance_by_config_rules, ConfigurationAggregatorName=AGG, Limit=1001)
    assert response["Error"]["Code"] == "ValidationException"
    for kind in ("NOT_APPLICABLE", "INSUFFICIENT_DATA"):
        response = refused(config.describe_aggregate_compliance_by_config_rules, ConfigurationAggregatorName=AGG,
                           Filters={"ComplianceType": kind})
        assert response["Error"]["Code"] == "InvalidParameterValueException"
    response = refused(config.describe_aggregate_compliance_by_config_rules, ConfigurationAggregatorName=AGG,
                       NextToken="not-a-token")
    assert response["Error"]["Code"] == "InvalidNextTokenException"
    # Other aggregators keep the moto-backed behaviour.
    response = refused(config.describe_aggregate_compliance_by_config_rules, ConfigurationAggregatorName="another")
    assert response["Error"]["Code"] == "NoSuchConfigurationAggregatorException"


def test_details_page_by_fifty_by_default_and_at_most_a_hundred(aws):
    derived = synthetic(aws, Functions=12_000, PairsWithFunctions=50, NonCompliantShare=1.0,
                        NonCompliantFunctionShare=0.25)["Derived"]
    member = derived["MemberRuleName"]
    config = aws.client("config")
    triple = describe_all(config, ConfigRuleName=member)[0][0]
    count = triple["Compliance"]["ComplianceContributorCount"]
    assert count == {"CappedCount": 60, "CapExceeded": False}  # 240 functions, a quarter NON_COMPLIANT
    args = (config, member, triple["AccountId"], triple["AwsRegion"])
    everything, calls = details_all(*args)
    assert len(everything) == 240 and calls == 5  # 50 a page by default
    ids = [d["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"] for d in everything]
    assert ids == sorted(ids) and len(set(ids)) == 240
    noncompliant, calls = details_all(*args, limit=100, ComplianceType="NON_COMPLIANT")
    assert len(noncompliant) == 60 and calls == 1
    assert all(d["Annotation"].endswith("is deprecated") for d in noncompliant)
    compliant, calls = details_all(*args, limit=7, ComplianceType="COMPLIANT")
    assert len(compliant) == 180 and calls == 26
    assert sorted(d["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"] for d in noncompliant + compliant) == ids
    inventory, _ = select_all(config, f"{LAMBDA_QUERY} AND accountId = '{triple['AccountId']}' AND awsRegion = '{triple['AwsRegion']}'")
    assert sorted(r["resourceId"] for r in inventory) == ids
    strict = aws.client("config", validate=False)
    response = refused(strict.get_aggregate_compliance_details_by_config_rule, ConfigurationAggregatorName=AGG,
                       ConfigRuleName=member, AccountId=triple["AccountId"], AwsRegion=triple["AwsRegion"], Limit=101)
    assert response["Error"]["Code"] == "ValidationException"
    response = refused(strict.get_aggregate_compliance_details_by_config_rule, ConfigurationAggregatorName=AGG,
                       ConfigRuleName=member, AwsRegion=triple["AwsRegion"])
    assert response["Error"]["Code"] == "ValidationException" and "accountId" in response["Error"]["Message"]
    response = refused(config.get_aggregate_compliance_details_by_config_rule, ConfigurationAggregatorName=AGG,
                       ConfigRuleName=member, AccountId=triple["AccountId"], AwsRegion=triple["AwsRegion"],
                       ComplianceType="NOT_APPLICABLE")
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    # A token of another triple is refused.
    token = config.get_aggregate_compliance_details_by_config_rule(
        ConfigurationAggregatorName=AGG, ConfigRuleName=member, AccountId=triple["AccountId"],
        AwsRegion=triple["AwsRegion"], Limit=10)["NextToken"]
    response = refused(config.get_aggregate_compliance_details_by_config_rule, ConfigurationAggregatorName=AGG,
                       ConfigRuleName=member, AccountId=triple["AccountId"],
                       AwsRegion="us-west-1" if triple["AwsRegion"] != "us-west-1" else "us-east-1", NextToken=token)
    assert response["Error"]["Code"] == "InvalidNextTokenException"
    # Other rules have results too (over S3 buckets); a pair without the rule's results has none.
    other = describe_all(config, ConfigRuleName=derived["OtherRuleNames"][0], AccountId=triple["AccountId"],
                         AwsRegion=triple["AwsRegion"])[0]
    assert len(details_all(config, other[0]["ConfigRuleName"], triple["AccountId"], triple["AwsRegion"])[0]) == 3


def test_organizations_pages_of_at_most_twenty_walk_every_account_once(aws):
    derived = synthetic(aws, Accounts=100)["Derived"]
    org = aws.client("organizations")
    assert org.describe_organization()["Organization"]["MasterAccountId"] == "123456789012"
    roots = org.list_roots()["Roots"]
    assert [r["Id"] for r in roots] == [derived["RootId"]]
    seen, calls, pending, paths = [], collections.Counter(), [(roots[0]["Id"], "Root")], {}
    while pending:
        parent, path = pending.pop()
        for operation, member in (("list_organizational_units_for_parent", "OrganizationalUnits"),
                                  ("list_accounts_for_parent", "Accounts")):
            token = None
            while True:
                page = getattr(org, operation)(ParentId=parent, **({"NextToken": token} if token else {}))
                calls[operation] += 1
                assert len(page[member]) <= 20
                for item in page[member]:
                    if member == "OrganizationalUnits":
                        pending.append((item["Id"], f"{path}/{item['Name']}"))
                    else:
                        seen.append(item["Id"])
                        paths[item["Id"]] = path
                token = page.get("NextToken")
                if not token:
                    break
    assert len(seen) == len(set(seen)) == 100
    assert calls["list_organizational_units_for_parent"] == 8  # the root and 7 OUs, one page each
    listed, token, pages = [], None, 0
    while True:
        page = org.list_accounts(**({"NextToken": token} if token else {}))
        pages += 1
        assert len(page["Accounts"]) <= 20
        listed += [a["Id"] for a in page["Accounts"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(listed) == sorted(seen) and pages == 5
    assert {a["State"] for a in org.list_accounts(MaxResults=3)["Accounts"]} == {"ACTIVE"}
    tags = org.list_tags_for_resource(ResourceId=seen[5])["Tags"]
    assert {t["Key"] for t in tags} == {"cost-center", "environment", "owner"}
    strict = aws.client("organizations", validate=False)
    response = refused(strict.list_accounts, MaxResults=21)
    assert response["Error"]["Code"] == "InvalidInputException" and response["Reason"] == "MAX_VALUE_EXCEEDED"
    response = refused(org.list_accounts, NextToken="bogus")
    assert response["Error"]["Code"] == "InvalidInputException" and response["Reason"] == "INVALID_NEXT_TOKEN"
    response = refused(org.list_accounts_for_parent, ParentId="ou-zzzz-00000000")
    assert response["Error"]["Code"] == "ParentNotFoundException"
    response = refused(org.list_tags_for_resource, ResourceId="999999999999")
    assert response["Error"]["Code"] == "TargetNotFoundException"
    # A member account's calls are not served from the synthetic organization (moto answers them).
    member = aws.client("organizations", seen[7])
    response = refused(member.list_roots)
    assert response["Error"]["Code"] != "InvalidInputException"


def test_every_call_is_counted_by_operation(aws):
    synthetic(aws)
    config, org = aws.client("config"), aws.client("organizations")
    select_all(config, LAMBDA_QUERY)
    describe_all(config, limit=100)
    org.list_roots()
    calls = aws.control("GET", "/_localaws/stats")["Calls"]
    assert calls["config:SelectAggregateResourceConfig"] == 10
    assert calls["config:DescribeAggregateComplianceByConfigRules"] == 5
    assert calls["organizations:ListRoots"] == 1


def test_the_org_rule_and_the_aggregator_are_described(aws):
    derived = synthetic(aws, InputParameters='{"failPhase":"deprecated"}')["Derived"]
    config = aws.client("config")
    rules = config.describe_organization_config_rules(OrganizationConfigRuleNames=["lambda-runtime-lifecycle"])
    metadata = rules["OrganizationConfigRules"][0]["OrganizationCustomRuleMetadata"]
    assert metadata["InputParameters"] == '{"failPhase":"deprecated"}'
    assert rules["OrganizationConfigRules"][0]["OrganizationConfigRuleArn"].endswith(derived["MemberRuleName"].rsplit("-", 1)[1])
    aggregators = config.describe_configuration_aggregators(ConfigurationAggregatorNames=[AGG])
    assert aggregators["ConfigurationAggregators"][0]["ConfigurationAggregatorName"] == AGG


def test_a_million_functions_page_in_constant_time(aws):
    derived = synthetic(aws, Accounts=5000, Regions=17, Functions=1_000_000, OtherRules=100,
                        OrganizationalUnits=300)["Derived"]
    assert derived["Pairs"] == 85_000 and derived["FunctionsPerPair"] == [11, 12]
    config = aws.client("config")
    # A shard: one Region and 240 accounts (the expression stays under 4,096 characters).
    base = int(derived["FirstMemberAccount"]) - 1  # member account a is base + a
    ids = ", ".join(f"'{base + a:012d}'" for a in range(4000, 4240))
    expression = ("SELECT resourceId, accountId, configuration.runtime WHERE resourceType = 'AWS::Lambda::Function' "
                  f"AND awsRegion = 'eu-west-1' AND accountId IN ({ids})")
    assert len(expression) < 4096
    started = time.monotonic()
    rows, calls = select_all(config, expression)
    assert len({(r["accountId"], r["resourceId"]) for r in rows}) == len(rows)
    assert 240 * 11 <= len(rows) <= 240 * 12
    assert calls == -(-len(rows) // 100)
    assert time.monotonic() - started < 30
    # A page deep inside the whole inventory costs what the first does.
    first = config.select_aggregate_resource_config(ConfigurationAggregatorName=AGG, Expression=LAMBDA_QUERY, Limit=100)
    token = first["NextToken"]
    timings = []
    for _ in range(3):
        started = time.monotonic()
        page = config.select_aggregate_resource_config(ConfigurationAggregatorName=AGG, Expression=LAMBDA_QUERY,
                                                       Limit=100, NextToken=token)
        timings.append(time.monotonic() - started)
    assert len(page["Results"]) == 100 and max(timings) < 1.0
    mine, calls = describe_all(config, limit=1000, ConfigRuleName=derived["MemberRuleName"], AwsRegion="eu-west-1")
    assert len(mine) == 5000 and calls == 5


# ---------------------------------------------------------------- read-rate quotas


def test_read_quotas_are_off_unless_asked_for(aws):
    described = aws.control("GET", "/_localaws/faults")
    assert described["ConfigReadQuota"] is None and described["OrganizationsReadQuota"] is None
    synthetic(aws)
    config = aws.client("config")
    for _ in range(30):
        config.describe_aggregate_compliance_by_config_rules(ConfigurationAggregatorName=AGG, Limit=1)


def test_config_reads_are_throttled_beyond_the_rate_and_recover(aws):
    synthetic(aws)
    described = aws.control("POST", "/_localaws/faults", {"ConfigReadQuota": {}, "OrganizationsReadQuota": {"RequestsPerSecond": 1}})
    assert described["ConfigReadQuota"] == {"RequestsPerSecond": 10, "Accounts": []}
    aws.control("POST", "/_localaws/faults", {"ConfigReadQuota": {"RequestsPerSecond": 4},
                                              "OrganizationsReadQuota": {"RequestsPerSecond": 1}})
    config, org = aws.client("config"), aws.client("organizations")
    started = time.monotonic()
    for _ in range(2):
        config.select_aggregate_resource_config(ConfigurationAggregatorName=AGG, Expression=LAMBDA_QUERY, Limit=1)
    config.describe_aggregate_compliance_by_config_rules(ConfigurationAggregatorName=AGG, Limit=1)
    config.describe_config_rules()  # every read of the service shares the budget
    response = refused(config.select_aggregate_resource_config, ConfigurationAggregatorName=AGG,
                       Expression=LAMBDA_QUERY, Limit=1)
    assert time.monotonic() - started < 0.9, "the machine is too slow for a one-second window"
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    org.list_roots()
    response = refused(org.list_accounts)
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Another account has a budget of its own; writes are not counted.
    aws.client("config", "222233334444").describe_config_rules()
    aws.client("config").put_configuration_aggregator(
        ConfigurationAggregatorName="writes", AccountAggregationSources=[{"AccountIds": ["123456789012"], "AllAwsRegions": True}])
    time.sleep(1.05)
    assert config.select_aggregate_resource_config(ConfigurationAggregatorName=AGG, Expression=LAMBDA_QUERY, Limit=1)["Results"]
    # An SDK's standard retries (backing off) get through a throttled second.
    patient = aws.client("config", retries=6)
    for _ in range(8):
        patient.describe_aggregate_compliance_by_config_rules(ConfigurationAggregatorName=AGG, Limit=1)
    injected = aws.control("GET", "/_localaws/faults")["Injected"]
    assert injected["quota:config:SelectAggregateResourceConfig"] == 1
    assert injected["quota:organizations:ListAccounts"] == 1
    assert injected.get("quota:config:DescribeAggregateComplianceByConfigRules", 0) >= 1
    assert "quota:config:PutConfigurationAggregator" not in injected


def test_read_quota_can_name_its_accounts_and_bad_specs_are_refused(aws):
    aws.control("POST", "/_localaws/faults", {"ConfigReadQuota": {"RequestsPerSecond": 1, "Accounts": ["222233334444"]}})
    mine, other = aws.client("config"), aws.client("config", "222233334444")
    for _ in range(5):
        mine.describe_config_rules()
    other.describe_config_rules()
    assert refused(other.describe_config_rules)["Error"]["Code"] == "ThrottlingException"
    for spec in ({"ConfigReadQuota": {"RequestsPerSecnd": 1}}, {"ConfigReadQuota": {"RequestsPerSecond": 0}},
                 {"OrganizationsReadQuota": 3}):
        with pytest.raises(Exception) as error:
            aws.control("POST", "/_localaws/faults", spec)
        assert "400" in str(error.value)


# ---------------------------------------------------------------- the bench's minimum (tests/bench/gather_org.py)


def _gather_org():
    import importlib.util

    from conftest import ROOT

    module_spec = importlib.util.spec_from_file_location("gather_org", ROOT.parent / "bench" / "gather_org.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_the_minimum_for_r1_follows_the_research_arithmetic():
    gather_org = _gather_org()
    minimum = gather_org.minimum_calls(gather_org.R1)
    assert minimum["by_operation"] == {
        "config:DescribeOrganizationConfigRules": 1,
        "config:DescribeAggregateComplianceByConfigRules": 85,  # 85,000 triples of the rule, 1,000 a page
        # inventory, 21 shards of 240 accounts, + the NON_COMPLIANT ResourceCompliance items, ~7,300 a shard
        "config:SelectAggregateResourceConfig": 10_007 + 1_537,
        "organizations:ListRoots": 1,
        "organizations:ListOrganizationalUnitsForParent": 301,  # the root and 300 OUs, at most 20 children each
        "organizations:ListAccountsForParent": 301,  # about 17 accounts under each
        "organizations:ListTagsForResource": 5000,
    }
    assert minimum["total"] == 17_233 and minimum["config"] == 11_630
    assert minimum["steps"]["compliance_via"] == "NonCompliantResourceCompliance"
    assert minimum["alternatives"]["compliance_resource_compliance"] == 10_007  # every item: 1 M functions
    assert minimum["alternatives"]["inventory_unsharded"] == 10_000
    assert minimum["alternatives"]["describe_unfiltered"] == 8_585  # (85,000 + 85,000 * 100) / 1,000
    assert minimum["alternatives"]["compliance_noncompliant_details"] > 20_000  # ~30 % of 85,000 triples
    without = gather_org.minimum_calls({**gather_org.R1, "ResourceComplianceRecorded": False})
    assert without["steps"]["compliance_via"] == "NonCompliantDetails"
    assert without["by_operation"]["config:GetAggregateComplianceDetailsByConfigRule"] == \
        minimum["alternatives"]["compliance_noncompliant_details"]


@pytest.mark.parametrize("recorded", [True, False])
def test_the_reference_replay_makes_exactly_the_minimum(aws, recorded):
    gather_org = _gather_org()

    class Local:  # the session's server, as gather_org.LocalAws speaks to it
        url = aws.url

        @staticmethod
        def control(method, path, payload=None):
            return aws.control(method, "/_localaws/" + path, payload)

    spec = {"Accounts": 500, "Regions": 3, "Functions": 20_000, "PairsWithFunctions": 1200, "OtherRules": 10,
            "OrganizationalUnits": 45, "ResourceComplianceRecorded": recorded, "Seed": 3,
            "NonCompliantFunctionShare": 0.5}
    Local.control("POST", "synthetic-org", spec)
    read = gather_org.replay(Local, spec, concurrency=4)
    minimum = gather_org.minimum_calls(spec)
    assert read["functions"] == 20_000 and read["accounts"] == 500 and read["triples"] == 1200
    calls = {k: v for k, v in aws.control("GET", "/_localaws/stats")["Calls"].items()
             if k.startswith(("config:", "organizations:"))}
    assert calls == minimum["by_operation"]
    assert minimum["steps"]["compliance_via"] == ("NonCompliantResourceCompliance" if recorded else "NonCompliantDetails")


def test_the_rule_compliance_summary_counts_every_triple_by_group(aws):
    """GetAggregateConfigRuleComplianceSummary (API_GetAggregateConfigRuleComplianceSummary): compliant and
    noncompliant rules per Region (or account), the triples without results in neither; paged by Limit."""
    synthetic(aws)
    config = aws.client("config")
    rows, _ = describe_all(config)
    by_region: dict[str, list[int]] = {}
    for row in rows:
        counts = by_region.setdefault(row["AwsRegion"], [0, 0])
        counts[row["Compliance"]["ComplianceType"] == "NON_COMPLIANT"] += 1
    answer = config.get_aggregate_config_rule_compliance_summary(ConfigurationAggregatorName=AGG, GroupByKey="AWS_REGION")
    found = {c["GroupName"]: [c["ComplianceSummary"]["CompliantResourceCount"]["CappedCount"],
                              c["ComplianceSummary"]["NonCompliantResourceCount"]["CappedCount"]]
             for c in answer["AggregateComplianceCounts"]}
    assert found == by_region and len(found) == 3
    first = config.get_aggregate_config_rule_compliance_summary(ConfigurationAggregatorName=AGG, GroupByKey="AWS_REGION",
                                                                Limit=2)
    rest = config.get_aggregate_config_rule_compliance_summary(ConfigurationAggregatorName=AGG, GroupByKey="AWS_REGION",
                                                               NextToken=first["NextToken"])
    assert [c["GroupName"] for c in first["AggregateComplianceCounts"] + rest["AggregateComplianceCounts"]] == sorted(found)
    assert "NextToken" not in rest
