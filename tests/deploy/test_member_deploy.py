"""The member template — the body the StackSet embeds — deployed as a stack on the local AWS in a member account:
home region (roles created) and another region (roles skipped by the IsHomeRegion condition). Then the
compliance-change path end to end, as AWS runs it: the template deployed in an organization member account, the
organization rule's member copy evaluates a real function, PutEvaluations (with the member's credentials) changes its
compliance, Config puts "Config Rules Compliance Change" on the member's default bus, the *deployed* EventBridge rule
matches it and its *deployed* targets start the runbooks with the deployed input transformers (the local AWS delivers
to SSM Automation as EventBridge does: tests/localaws/localaws/eventbridge.py)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import yaml

from conftest import CDK, Local, handler_zip, member_template_of, wait_for

MEMBER = "333333333333"
ADMIN = "222222222222"  # cdk.json's adminAccountId
HOME, OTHER = "us-east-1", "eu-west-1"


def context() -> dict:
    return json.loads((CDK / "cdk.json").read_text())["context"]


@pytest.fixture(scope="module")
def member_template(cdk_out: Path) -> dict:
    return member_template_of(cdk_out)


@pytest.fixture(scope="module")
def deployed(local: Local, member_template: dict):
    home = local.deploy("lrg-member", member_template, MEMBER, HOME)
    other = local.deploy("lrg-member", member_template, MEMBER, OTHER)
    return {"home": home, "other": other}


def by_type(resources: dict, kind: str) -> list[dict]:
    return [r for r in resources.values() if r["ResourceType"] == kind]


def test_roles_only_in_the_home_region(deployed, member_template):
    ctx = context()
    home_roles = {r["PhysicalResourceId"] for r in by_type(deployed["home"], "AWS::IAM::Role")}
    assert ctx["memberRoleName"] in home_roles
    assert by_type(deployed["other"], "AWS::IAM::Role") == []
    # everything else exists in both regions
    for region in ("home", "other"):
        assert len(by_type(deployed[region], "AWS::SSM::Document")) == len(
            [r for r in member_template["Resources"].values() if r["Type"] == "AWS::SSM::Document"])
        assert by_type(deployed[region], "AWS::Events::Rule")


def test_member_role_trust_is_pinned(local, deployed):
    ctx = context()
    iam = local.client("iam", MEMBER)
    role = iam.get_role(RoleName=ctx["memberRoleName"])["Role"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ADMIN}:root"}
    assert statement["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": ctx["organizationId"]}
    assert sorted(statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == sorted(
        f"arn:aws:iam::{ADMIN}:role/lambda-runtime-guard-rule-{region}" for region in ctx["ruleRegions"])


def runbook_documents() -> dict[str, Path]:
    """SSM document name → runbook file (cdk/runbooks/runbooks.json, else the provisional fixtures)."""
    index = CDK / "runbooks" / "runbooks.json"
    if index.exists():
        documents = json.loads(index.read_text())["documents"].values()
        return {d["name"]: CDK / "runbooks" / d["file"] for d in documents}
    return {f"lambda-runtime-guard-{p.stem}": p for p in (CDK / "test/fixtures/runbooks-provisional").glob("*.yaml")}


def test_documents_equal_the_runbook_files(local, deployed):
    ssm = local.client("ssm", MEMBER, OTHER)
    for name, path in runbook_documents().items():
        document = ssm.get_document(Name=name, DocumentFormat="JSON")
        assert document["DocumentType"] == "Automation"
        assert json.loads(document["Content"]) == yaml.safe_load(path.read_text()), path.name


def test_successor_parameters(local, deployed):
    """Exactly the contract's parameters (names and values spelled once, in rule/lifecycle/src/upgrades.rs)."""
    upgrades = json.loads(((CDK / "contracts/runtime-upgrades.json")).read_text())
    ssm = local.client("ssm", MEMBER, OTHER)
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=upgrades["ssm_prefix"], Recursive=True)
    written = {p["Name"]: p["Value"] for page in pages for p in page["Parameters"]}
    assert written == upgrades["parameters"]
    assert f"{upgrades['ssm_prefix']}/successor/go1.x" not in written  # no config-only upgrade for go1.x

def test_compliance_change_starts_the_deployed_runbook(local, member_template):
    ctx = context()
    # An organization managed from the admin account, and the member template deployed in a member account of it.
    org = local.client("organizations", ADMIN)
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="compliance-change", Email="cc@example.com")["CreateAccountStatus"]["AccountId"]
    local.deploy("lrg-member", member_template, member, HOME)
    events = local.client("events", member, HOME)
    [rule] = [r for r in events.list_rules()["Rules"] if r.get("EventPattern")]
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert targets, "the deployed rule has targets"
    for target in targets:
        assert target["Arn"].startswith(f"arn:aws:ssm:{HOME}:{member}:automation-definition/")
        assert target["Arn"].endswith(":$DEFAULT")
        assert target["RoleArn"].endswith(":role/lambda-runtime-guard-start-automation")

    # The organization rule (its Lambda in the admin account) and Config recording in the member account.
    rule_lambda = local.client("lambda", ADMIN, HOME).create_function(
        FunctionName="compliance-change-rule", Runtime="provided.al2023", Handler="bootstrap",
        Role=local.function_role(ADMIN, "compliance-change-rule"), Code={"ZipFile": handler_zip()})["FunctionArn"]
    local.client("config", ADMIN, HOME).put_organization_config_rule(
        OrganizationConfigRuleName=ctx["ruleName"],
        OrganizationCustomRuleMetadata={"LambdaFunctionArn": rule_lambda, "ResourceTypesScope": ["AWS::Lambda::Function"],
                                        "OrganizationConfigRuleTriggerTypes": ["ConfigurationItemChangeNotification"]})
    local.start_recording(member, HOME)
    config = local.client("config", member, HOME)

    lam = local.client("lambda", member, HOME)
    function = lam.create_function(FunctionName="legacy-report", Runtime="python3.8", Role=local.function_role(member, "fn-role"),
                                   Handler="index.handler", Code={"ZipFile": handler_zip()})["FunctionArn"]
    # Config invokes the rule's Lambda for the new function; the Lambda evaluates and answers with the token.
    invocation = wait_for(lambda: next((i["Event"] for i in local.control("GET", f"/_localaws/runtime/invocations?FunctionArn={rule_lambda}")["Invocations"]
                                        if i["Event"]["accountId"] == member), None), "the rule's invocation")
    member_rule = invocation["configRuleName"]
    assert member_rule.startswith(f"OrgConfigRule-{ctx['ruleName']}-")

    def evaluate(compliance: str, hours: int, annotation: str | None = None) -> None:
        evaluation = {"ComplianceResourceType": "AWS::Lambda::Function", "ComplianceResourceId": "legacy-report",
                      "ComplianceType": compliance,
                      "OrderingTimestamp": datetime.datetime(2026, 11, 25, hours, tzinfo=datetime.timezone.utc)}
        if annotation:
            evaluation["Annotation"] = annotation
        assert config.put_evaluations(ResultToken=invocation["resultToken"], Evaluations=[evaluation])["FailedEvaluations"] == []

    ssm = local.client("ssm", member, HOME)

    def member_deliveries() -> list[dict]:
        """What EventBridge delivered for the member account's rules (the local AWS records every attempt)."""
        return [d for d in local.control("GET", "/_localaws/events/deliveries")["Deliveries"] if f":{member}:rule/" in d["RuleArn"]]

    # A first result, COMPLIANT: Config sends the event, the deployed pattern (NON_COMPLIANT only) matches nothing.
    evaluate("COMPLIANT", 8)
    assert member_deliveries() == []
    assert ssm.describe_automation_executions()["AutomationExecutionMetadataList"] == []
    # The function becomes NON_COMPLIANT: each deployed target starts its runbook, once.
    evaluate("NON_COMPLIANT", 9, "python3.8 deprecated 2024-10-14. Upgrade to python3.12.")
    delivered = member_deliveries()
    assert all(d["Outcome"] == "Delivered" for d in delivered), delivered
    assert sorted(d["TargetId"] for d in delivered) == sorted(t["Id"] for t in targets)
    documents = {t["Id"]: t["Arn"].split("automation-definition/")[1].rsplit(":", 1)[0] for t in targets}
    for delivery in delivered:
        state = wait_for(lambda: (lambda e: e if e["AutomationExecutionStatus"] not in ("Pending", "InProgress") else None)(
            ssm.get_automation_execution(AutomationExecutionId=delivery["AutomationExecutionId"])["AutomationExecution"]),
            f"{delivery['TargetId']} to end")
        assert state["DocumentName"] == documents[delivery["TargetId"]]
        assert state["Parameters"]["FunctionName"] == ["legacy-report"], state["Parameters"]
        assert state["Parameters"]["ConfigRuleName"] == [member_rule]
        assert state["Parameters"]["AutomationAssumeRole"] == [f"arn:aws:iam::{member}:role/lambda-runtime-guard-automation"]
        assert state["AutomationExecutionStatus"] == "Success", (delivery["TargetId"], state.get("FailureMessage"),
                                                                 state.get("StepExecutions"))
    assert lam.list_tags(Resource=function)["Tags"], "the runbook tagged the function"
    # Still NON_COMPLIANT at the next evaluation: no change, so no event and nothing started again.
    evaluate("NON_COMPLIANT", 10, "python3.8 deprecated 2024-10-14. Upgrade to python3.12.")
    assert len(member_deliveries()) == len(delivered)
