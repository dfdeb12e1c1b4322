"""Organization rules, aggregators and the aggregate reads, Config SQL."""

from __future__ import annotations

import datetime as dt
import json

import botocore.exceptions
import pytest

from conftest import ADMIN, REGION, create_function, recording, rule_function

RULE_LAMBDA = f"arn:aws:lambda:{REGION}:{ADMIN}:function:runtime-rule"


def organization(aws, members: int = 2) -> list[str]:
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    accounts = []
    for index in range(members):
        status = org.create_account(AccountName=f"member-{index}", Email=f"m{index}@example.com")["CreateAccountStatus"]
        accounts.append(status["AccountId"])
    return accounts


def org_rule(aws, name: str = "lambda-runtimes") -> str:
    rule_function(aws, RULE_LAMBDA)
    return aws.client("config").put_organization_config_rule(
        OrganizationConfigRuleName=name,
        OrganizationCustomRuleMetadata={
            "LambdaFunctionArn": RULE_LAMBDA,
            "OrganizationConfigRuleTriggerTypes": ["ConfigurationItemChangeNotification",
                                                   "OversizedConfigurationItemChangeNotification",
                                                   "ScheduledNotification"],
            "ResourceTypesScope": ["AWS::Lambda::Function"],
            "InputParameters": '{"failPhase":"deprecated"}',
            "MaximumExecutionFrequency": "TwentyFour_Hours",
        })["OrganizationConfigRuleArn"]


def test_organization_rule_reaches_members_and_aggregates_back(aws):
    members = organization(aws)
    for account in [ADMIN, *members]:
        recording(aws, account)
    org_rule(aws)
    config_admin = aws.client("config")
    described = config_admin.describe_organization_config_rules()["OrganizationConfigRules"]
    assert [r["OrganizationConfigRuleName"] for r in described] == ["lambda-runtimes"]
    member_rules = aws.client("config", members[0]).describe_config_rules()["ConfigRules"]
    assert len(member_rules) == 1 and member_rules[0]["ConfigRuleName"].startswith("OrgConfigRule-lambda-runtimes-")
    assert member_rules[0]["Source"]["SourceIdentifier"] == RULE_LAMBDA

    api = aws.bind(RULE_LAMBDA)
    create_function(aws, "legacy", "python3.8", account=members[0])
    _, event = aws.next_invocation(api)
    assert event["accountId"] == members[0]
    assert event["executionRoleArn"].startswith(f"arn:aws:iam::{members[0]}:")
    assert event["configRuleName"] == member_rules[0]["ConfigRuleName"]

    # The token belongs to the member account: evaluations go in with that member's credentials.
    keys = aws.client("sts").assume_role(RoleArn=f"arn:aws:iam::{members[0]}:role/OrganizationAccountAccessRole",
                                        RoleSessionName="rule")["Credentials"]
    member_config = aws.client("config", key=keys["AccessKeyId"], secret=keys["SecretAccessKey"], token=keys["SessionToken"])
    with pytest.raises(botocore.exceptions.ClientError):
        config_admin.put_evaluations(ResultToken=event["resultToken"], Evaluations=[_evaluation("legacy")])
    member_config.put_evaluations(ResultToken=event["resultToken"], Evaluations=[_evaluation("legacy")])

    config_admin.put_configuration_aggregator(
        ConfigurationAggregatorName="org",
        OrganizationAggregationSource={"RoleArn": f"arn:aws:iam::{ADMIN}:role/aggregator", "AllAwsRegions": True})
    by_rule = config_admin.describe_aggregate_compliance_by_config_rules(ConfigurationAggregatorName="org")
    rows = {(r["AccountId"], r["ConfigRuleName"]): r["Compliance"]["ComplianceType"]
            for r in by_rule["AggregateComplianceByConfigRules"]}
    assert rows[(members[0], member_rules[0]["ConfigRuleName"])] == "NON_COMPLIANT"
    assert any(account == members[1] and kind == "INSUFFICIENT_DATA" for (account, _), kind in rows.items())
    details = config_admin.get_aggregate_compliance_details_by_config_rule(
        ConfigurationAggregatorName="org", ConfigRuleName=member_rules[0]["ConfigRuleName"],
        AccountId=members[0], AwsRegion=REGION)["AggregateEvaluationResults"]
    assert len(details) == 1 and details[0]["Annotation"] == "python3.8 deprecated"
    assert details[0]["AccountId"] == members[0]
    with pytest.raises(botocore.exceptions.ClientError) as error:
        config_admin.get_aggregate_compliance_details_by_config_rule(
            ConfigurationAggregatorName="org", ConfigRuleName=member_rules[0]["ConfigRuleName"],
            AccountId=members[0], AwsRegion=REGION, ComplianceType="NOT_APPLICABLE")
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    summary = config_admin.get_aggregate_config_rule_compliance_summary(
        ConfigurationAggregatorName="org", GroupByKey="ACCOUNT_ID")["AggregateComplianceCounts"]
    counts = {g["GroupName"]: g["ComplianceSummary"]["NonCompliantResourceCount"]["CappedCount"] for g in summary}
    assert counts[members[0]] == 1 and counts[members[1]] == 0

    resources = config_admin.list_aggregate_discovered_resources(
        ConfigurationAggregatorName="org", ResourceType="AWS::Lambda::Function",
        Filters={"AccountId": members[0]})["ResourceIdentifiers"]
    assert [r["ResourceId"] for r in resources] == ["legacy"]
    batch = config_admin.batch_get_aggregate_resource_config(ConfigurationAggregatorName="org", ResourceIdentifiers=[
        {"SourceAccountId": members[0], "SourceRegion": REGION, "ResourceId": "legacy", "ResourceType": "AWS::Lambda::Function"},
        {"SourceAccountId": members[1], "SourceRegion": REGION, "ResourceId": "nope", "ResourceType": "AWS::Lambda::Function"}])
    assert json.loads(batch["BaseConfigurationItems"][0]["configuration"])["runtime"] == "python3.8"
    assert len(batch["UnprocessedResourceIdentifiers"]) == 1

    # Only the management account may create organization rules.
    with pytest.raises(botocore.exceptions.ClientError) as error:
        aws.client("config", members[1]).put_organization_config_rule(
            OrganizationConfigRuleName="x", OrganizationCustomRuleMetadata={
                "LambdaFunctionArn": RULE_LAMBDA, "OrganizationConfigRuleTriggerTypes": ["ScheduledNotification"]})
    assert error.value.response["Error"]["Code"] == "OrganizationAccessDeniedException"
    config_admin.delete_organization_config_rule(OrganizationConfigRuleName="lambda-runtimes")
    assert aws.client("config", members[0]).describe_config_rules()["ConfigRules"] == []


def _evaluation(resource_id: str) -> dict:
    return {"ComplianceResourceType": "AWS::Lambda::Function", "ComplianceResourceId": resource_id,
            "ComplianceType": "NON_COMPLIANT", "Annotation": "python3.8 deprecated",
            "OrderingTimestamp": dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)}


def test_select_aggregate_resource_config(aws):
    members = organization(aws, 2)
    for account in members:
        recording(aws, account)
    create_function(aws, "a", "python3.8", account=members[0], tags={"team": "payments"})
    create_function(aws, "b", "nodejs20.x", account=members[0])
    create_function(aws, "c", "python3.12", account=members[1], Architectures=["arm64"])
    config = aws.client("config")
    config.put_configuration_aggregator(
        ConfigurationAggregatorName="org",
        OrganizationAggregationSource={"RoleArn": f"arn:aws:iam::{ADMIN}:role/aggregator", "AwsRegions": [REGION]})
    query = ("SELECT accountId, awsRegion, resourceId, configuration.runtime, configuration.packageType, "
             "configuration.lastModified, configuration.architectures, tags "
             "WHERE resourceType = 'AWS::Lambda::Function' AND configuration.runtime LIKE 'python%'")
    pages = config.get_paginator("select_aggregate_resource_config").paginate(
        Expression=query, ConfigurationAggregatorName="org", PaginationConfig={"PageSize": 1})
    rows = [json.loads(r) for page in pages for r in page["Results"]]
    assert sorted(r["resourceId"] for r in rows) == ["a", "c"]
    a = next(r for r in rows if r["resourceId"] == "a")
    assert a["configuration"]["runtime"] == "python3.8" and a["tags"] == [{"key": "team", "value": "payments"}]
    assert next(r for r in rows if r["resourceId"] == "c")["configuration"]["architectures"] == ["arm64"]
    in_query = config.select_aggregate_resource_config(
        ConfigurationAggregatorName="org",
        Expression="SELECT resourceId WHERE configuration.runtime IN ('nodejs20.x', 'python3.12') AND tags.key != 'team'")
    assert sorted(json.loads(r)["resourceId"] for r in in_query["Results"]) == ["b", "c"]
    assert in_query["QueryInfo"]["SelectFields"] == [{"Name": "resourceId"}]
    with pytest.raises(botocore.exceptions.ClientError) as error:
        config.select_aggregate_resource_config(ConfigurationAggregatorName="org", Expression="DROP TABLE x")
    assert error.value.response["Error"]["Code"] == "InvalidExpressionException"


def test_the_reads_of_gather_v2_filtered_listing_and_sharded_query(aws):
    """What the aggregator's gather v2 calls, with AWS's documented semantics: the rule listing filtered by
    name, account or region (API_DescribeAggregateComplianceByConfigRules, ConfigRuleComplianceFilters),
    the regions grouped (API_GetAggregateConfigRuleComplianceSummary), `awsRegion = ... AND accountId IN
    (...)` shards within the 4,096-character Expression (API_SelectAggregateResourceConfig)."""
    members = organization(aws, 3)
    for account in [ADMIN, *members]:
        recording(aws, account)
    org_rule(aws)
    create_function(aws, "legacy", "python3.8", account=members[0])
    create_function(aws, "fresh", "python3.12", account=members[1])
    config = aws.client("config")
    member_rule = aws.client("config", members[0]).describe_config_rules()["ConfigRules"][0]["ConfigRuleName"]
    config.put_configuration_aggregator(
        ConfigurationAggregatorName="org",
        OrganizationAggregationSource={"RoleArn": f"arn:aws:iam::{ADMIN}:role/aggregator", "AwsRegions": [REGION]})

    def listed(**filters):
        page = config.describe_aggregate_compliance_by_config_rules(ConfigurationAggregatorName="org", Filters=filters)
        return sorted((r["AccountId"], r["AwsRegion"], r["ConfigRuleName"]) for r in page["AggregateComplianceByConfigRules"])

    everything = listed()
    assert listed(ConfigRuleName=member_rule) == [t for t in everything if t[2] == member_rule]
    assert listed(ConfigRuleName="lambda-runtimes") == [], "the filter takes the exact (member) name"
    assert listed(AccountId=members[0]) == [t for t in everything if t[0] == members[0]]
    assert listed(AwsRegion="eu-west-1") == []
    regions = config.get_aggregate_config_rule_compliance_summary(
        ConfigurationAggregatorName="org", GroupByKey="AWS_REGION")["AggregateComplianceCounts"]
    assert [g["GroupName"] for g in regions] == [REGION]

    base = ("SELECT resourceId, accountId WHERE resourceType = 'AWS::Lambda::Function' "
            f"AND awsRegion = '{REGION}' AND accountId IN (")
    shard = base + ", ".join(f"'{a}'" for a in members[:2]) + ")"
    rows = config.select_aggregate_resource_config(ConfigurationAggregatorName="org", Expression=shard)["Results"]
    assert sorted((json.loads(r)["accountId"], json.loads(r)["resourceId"]) for r in rows) == \
        sorted([(members[0], "legacy"), (members[1], "fresh")])
    other = base + f"'{members[2]}')"
    assert config.select_aggregate_resource_config(ConfigurationAggregatorName="org", Expression=other)["Results"] == []
    # At the limit it runs; one character more is refused before it runs.
    ids = ", ".join(["'000000000000'"] * ((4096 - len(base) - 1) // 16))
    at_limit = base + ids + " " * (4096 - len(base) - len(ids) - 1) + ")"
    assert len(at_limit) == 4096
    config.select_aggregate_resource_config(ConfigurationAggregatorName="org", Expression=at_limit)
    with pytest.raises(botocore.exceptions.ClientError) as error:
        config.select_aggregate_resource_config(ConfigurationAggregatorName="org", Expression=at_limit + " ")
    assert error.value.response["Error"]["Code"] == "ValidationException"
