"""The member template — the body the StackSet embeds — deployed as a stack on the local AWS in a member account:
home region (roles created) and another region (roles skipped by the IsHomeRegion condition). Then the
compliance-change path end to end: an event shaped like AWS Config's goes through the *deployed* EventBridge
rule — moto evaluates the deployed pattern and delivers matches to a probe SQS target added next to the deployed
SSM targets (moto cannot start SSM Automation) — then the deployed input transformer is applied with EventBridge's
semantics (moto 5.2 inserts string values unquoted, which is not what EventBridge does, so `transform` below does
it) and the result starts the runbook by its deployed document name against a real function."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import CDK, Local

MEMBER = "333333333333"
ADMIN = "222222222222"  # cdk.json's adminAccountId
HOME, OTHER = "us-east-1", "eu-west-1"


def context() -> dict:
    return json.loads((CDK / "cdk.json").read_text())["context"]


@pytest.fixture(scope="module")
def member_template(cdk_out: Path) -> dict:
    stackset = json.loads((cdk_out / "MemberStackSet.template.json").read_text())
    [resource] = [r for r in stackset["Resources"].values() if r["Type"] == "AWS::CloudFormation::StackSet"]
    return json.loads(resource["Properties"]["TemplateBody"])


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
    upgrades = json.loads(((CDK / "contracts/runtime-upgrades.json")).read_text())
    ssm = local.client("ssm", MEMBER, OTHER)
    prefix = upgrades["ssm_prefix"]
    for runtime, target in upgrades["successors"].items():
        assert ssm.get_parameter(Name=f"{prefix}/successor/{runtime}")["Parameter"]["Value"] == target
    for runtime, targets in upgrades["allowed_targets"].items():
        value = ssm.get_parameter(Name=f"{prefix}/upgrade-targets/{runtime}")["Parameter"]["Value"]
        assert value == "," + ",".join(targets) + ","
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=f"{prefix}/successor/go1.x")


def compliance_change(rule_name: str, function: str, compliance: str = "NON_COMPLIANT") -> dict:
    """An event as AWS Config sends it to the member account's default bus (detail per the Config docs)."""
    return {
        "Source": "aws.config",
        "DetailType": "Config Rules Compliance Change",
        "Resources": [],
        "Detail": json.dumps({
            "resourceId": function,
            "awsRegion": HOME,
            "awsAccountId": MEMBER,
            "configRuleName": rule_name,
            "recordVersion": "1.0",
            "configRuleARN": f"arn:aws:config:{HOME}:{MEMBER}:config-rule/config-rule-abc123",
            "messageType": "ComplianceChangeNotification",
            "newEvaluationResult": {
                "evaluationResultIdentifier": {"evaluationResultQualifier": {
                    "configRuleName": rule_name, "resourceType": "AWS::Lambda::Function", "resourceId": function}},
                "complianceType": compliance,
                "annotation": "python3.8 deprecated 2024-10-14. Upgrade to python3.12.",
            },
            "oldEvaluationResult": {"complianceType": "COMPLIANT"},
            "notificationCreationTime": "2026-11-25T10:00:00.000Z",
            "resourceType": "AWS::Lambda::Function",
        }),
    }


def transform(event: dict, transformer: dict) -> dict:
    """EventBridge's input transformer for our subset: InputPathsMap of `$.a.b` paths; a placeholder becomes the
    value as JSON (a string is quoted), and `"<name>"` inside quotes becomes the string content."""
    template = transformer["InputTemplate"]
    for name, path in transformer["InputPathsMap"].items():
        value = event
        for key in path.removeprefix("$.").split("."):
            value = value.get(key) if isinstance(value, dict) else None
        text = json.dumps(value) if value is not None else "null"
        template = template.replace(f'"<{name}>"', text).replace(f"<{name}>", text)
    return json.loads(template)


def zipped_handler() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 'ok'\n")
    return buffer.getvalue()


def test_compliance_change_starts_the_deployed_runbook(local, deployed):
    ctx = context()
    events = local.client("events", MEMBER, HOME)
    sqs = local.client("sqs", MEMBER, HOME)
    lam = local.client("lambda", MEMBER, HOME)
    iam = local.client("iam", MEMBER, HOME)
    ssm = local.client("ssm", MEMBER, HOME)

    [rule] = [r for r in events.list_rules()["Rules"] if r.get("EventPattern")]
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert targets, "the deployed rule has targets"
    for target in targets:
        assert target["Arn"].startswith(f"arn:aws:ssm:{HOME}:{MEMBER}:automation-definition/")
        assert target["Arn"].endswith(":$DEFAULT")
        assert target["RoleArn"].endswith(":role/lambda-runtime-guard-start-automation")
    # moto cannot deliver to SSM Automation, and its transformer crashes on our (EventBridge-valid) template, so the
    # deployed targets (recorded above) make way for one probe queue per target that receives the matched event
    events.remove_targets(Rule=rule["Name"], Ids=[t["Id"] for t in targets])
    probes = {}
    for target in targets:
        url = sqs.create_queue(QueueName=f"probe-{target['Id']}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_targets(Rule=rule["Name"], Targets=[{"Id": f"probe-{target['Id']}", "Arn": arn}])
        probes[target["Id"]] = (url, target)

    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    function = lam.create_function(FunctionName="legacy-report", Runtime="python3.8", Role=role, Handler="index.handler",
                                   Code={"ZipFile": zipped_handler()})["FunctionArn"]

    org_rule = f"OrgConfigRule-{ctx['ruleName']}-a1b2c3"
    # no match: compliant, another rule, another resource type
    other_type = compliance_change(org_rule, "legacy-report")
    detail = json.loads(other_type["Detail"]); detail["resourceType"] = "AWS::S3::Bucket"; other_type["Detail"] = json.dumps(detail)
    entries = [compliance_change(org_rule, "legacy-report", "COMPLIANT"),
               compliance_change("OrgConfigRule-someone-elses-rule-x1", "legacy-report"), other_type]
    events.put_events(Entries=entries)
    for url, _ in probes.values():
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []

    # match: NON_COMPLIANT under the org rule's member copy
    events.put_events(Entries=[compliance_change(org_rule, "legacy-report")])
    for runbook, (url, target) in probes.items():
        [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        event = json.loads(message["Body"])
        assert event["detail-type"] == "Config Rules Compliance Change"
        parameters = transform(event, target["InputTransformer"])
        assert parameters["FunctionName"] == ["legacy-report"], parameters
        assert parameters["AutomationAssumeRole"] == [f"arn:aws:iam::{MEMBER}:role/lambda-runtime-guard-automation"]
        document = target["Arn"].split("automation-definition/")[1].rsplit(":", 1)[0]
        execution = ssm.start_automation_execution(DocumentName=document, Parameters=parameters)["AutomationExecutionId"]
        deadline = time.monotonic() + 20
        while True:
            state = ssm.get_automation_execution(AutomationExecutionId=execution)["AutomationExecution"]
            if state["AutomationExecutionStatus"] not in ("Pending", "InProgress") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert state["AutomationExecutionStatus"] == "Success", (runbook, state.get("FailureMessage"), state.get("StepExecutions"))
    tags = lam.list_tags(Resource=function)["Tags"]
    assert tags, "the runbook tagged the function"
