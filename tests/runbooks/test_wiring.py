"""How the runbooks are started: the EventBridge pattern and input transformers in
cdk/runbooks/compliance-change-pattern.json (organization rules), and a per-account RemediationConfiguration."""

from __future__ import annotations

import copy
import json
import re
import time

import pytest

import runbooks as rb
from runbooks import ACCOUNT, REGION, ROLE, ran

WIRING = json.loads((rb.RUNBOOKS / "compliance-change-pattern.json").read_text())
ORG_RULE = "lambda-runtime-guard"
MEMBER_RULE = f"OrgConfigRule-{ORG_RULE}-x1y2z3ab"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:lambda-runtime-guard"


def fill(text: str, dry_run: str = "false") -> str:
    values = {"RULE_NAME": ORG_RULE, "AUTOMATION_ROLE_ARN": ROLE, "TOPIC_ARN": TOPIC, "DRY_RUN": dry_run}
    return re.sub(r"%([A-Z_]+)%", lambda m: values[m.group(1)], text)


def pattern() -> str:
    return fill(json.dumps(WIRING["eventPattern"]))


def event(compliance: str = "NON_COMPLIANT", rule: str = MEMBER_RULE, resource_type: str = "AWS::Lambda::Function",
          resource: str = "legacy", message_type: str = "ComplianceChangeNotification") -> dict:
    """A "Config Rules Compliance Change" event as Config sends it
    (https://docs.aws.amazon.com/config/latest/developerguide/example-config-rule-compliance-notification.html)."""
    qualifier = {"configRuleName": rule, "resourceType": resource_type, "resourceId": resource, "evaluationMode": "DETECTIVE"}
    return {
        "version": "0", "id": "d8a1b1c2-1111-2222-3333-444455556666", "detail-type": "Config Rules Compliance Change",
        "source": "aws.config", "account": ACCOUNT, "time": "2026-11-25T10:00:00Z", "region": REGION,
        "resources": [], "detail": {
            "resourceId": resource, "awsRegion": REGION, "awsAccountId": ACCOUNT, "configRuleName": rule,
            "recordVersion": "1.0", "messageType": message_type, "resourceType": resource_type,
            "configRuleARN": f"arn:aws:config:{REGION}:{ACCOUNT}:config-rule/aws-service-rule/"
                             "config-multiaccountsetup.amazonaws.com/config-rule-abcdef",
            "notificationCreationTime": "2026-11-25T10:00:00.000Z",
            "newEvaluationResult": {
                "evaluationResultIdentifier": {"evaluationResultQualifier": qualifier,
                                               "orderingTimestamp": "2026-11-25T09:59:00.000Z"},
                "complianceType": compliance, "resultRecordedTime": "2026-11-25T10:00:00.000Z",
                "configRuleInvokedTime": "2026-11-25T09:59:30.000Z",
                "annotation": "python3.8 is deprecated since 2024-10-14"},
            "oldEvaluationResult": {
                "evaluationResultIdentifier": {"evaluationResultQualifier": qualifier,
                                               "orderingTimestamp": "2026-11-20T09:59:00.000Z"},
                "complianceType": "COMPLIANT", "resultRecordedTime": "2026-11-20T10:00:00.000Z",
                "configRuleInvokedTime": "2026-11-20T09:59:30.000Z"}}}


def transform(transformer: dict, source: dict) -> dict:
    """EventBridge's input transformer for a JSON template: a placeholder inside a JSON string gets the
    value's text, elsewhere the value as JSON; a path absent from the event gives null
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html)."""
    from jsonpath_ng import parse

    values = {}
    for key, path in transformer["InputPathsMap"].items():
        found = [m.value for m in parse(path).find(source)]
        values[key] = found[0] if found else None
    template, out, in_string, i = fill(transformer["InputTemplate"]), [], False, 0
    while i < len(template):
        c = template[i]
        match = re.match(r"<([A-Za-z0-9_.-]+)>", template[i:])
        if match and match.group(1) in values:
            value = values[match.group(1)]
            out.append(json.dumps(value)[1:-1] if in_string and isinstance(value, str) else json.dumps(value))
            i += match.end()
            continue
        if c == '"' and (i == 0 or template[i - 1] != "\\"):
            in_string = not in_string
        out.append(c)
        i += 1
    return json.loads("".join(out))


@pytest.mark.parametrize("sample,matches", [
    (event(), True),
    (event(compliance="COMPLIANT"), False),
    (event(compliance="NOT_APPLICABLE"), False),
    (event(rule="lambda-runtime-guard"), False),  # a per-account rule: its RemediationConfiguration handles it
    (event(rule="OrgConfigRule-another-rule-x1y2z3ab"), False),
    (event(resource_type="AWS::S3::Bucket"), False),
])
def test_event_pattern_matches_non_compliant_lambda_functions_of_the_org_rule(aws, sample, matches):
    result = aws.client("events").test_event_pattern(EventPattern=pattern(), Event=json.dumps(sample))
    assert result["Result"] is matches


def test_the_pattern_decides_on_compliance_not_on_the_envelope(aws):
    """The same event fails a pattern that wants COMPLIANT: the service's matcher discriminates on the field."""
    other = json.loads(pattern())
    other["detail"]["newEvaluationResult"]["complianceType"] = ["COMPLIANT"]
    result = aws.client("events").test_event_pattern(EventPattern=json.dumps(other), Event=json.dumps(event()))
    assert result["Result"] is False


def test_the_event_target_starts_the_upgrade_as_eventbridge_would(aws):
    rb.write_upgrade_parameters(aws)
    rb.deploy(aws)
    api = rb.config_rule(aws, rule=MEMBER_RULE)
    rb.function(aws, "legacy", "python3.8")
    rb.evaluate(aws, api, {"legacy": "NON_COMPLIANT"}, rule=MEMBER_RULE)
    target = WIRING["targets"]["UpgradeLambdaRuntime"]
    parameters = transform(target["inputTransformer"], event())
    assert parameters == {"FunctionName": ["legacy"], "ConfigRuleName": [MEMBER_RULE], "DryRun": ["false"],
                          "AutomationAssumeRole": [ROLE]}
    ssm = aws.client("ssm")
    started = ssm.start_automation_execution(DocumentName=target["document"], Parameters=parameters)
    execution = rb.wait(aws, started["AutomationExecutionId"])
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    assert aws.client("lambda").get_function_configuration(FunctionName="legacy")["Runtime"] == \
        rb.contract()["successors"]["python3.8"]


def test_the_event_target_tags_and_notifies(aws):
    rb.deploy(aws)
    sns, sqs = aws.client("sns"), aws.client("sqs")
    sns.create_topic(Name="lambda-runtime-guard")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=TOPIC, Protocol="sqs", Endpoint=queue_arn)
    arn = rb.function(aws, "legacy", "python3.8")["FunctionArn"]
    target = WIRING["targets"]["TagAndNotify"]
    parameters = transform(target["inputTransformer"], event())
    started = aws.client("ssm").start_automation_execution(DocumentName=target["document"], Parameters=parameters)
    execution = rb.wait(aws, started["AutomationExecutionId"])
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    tags = aws.client("lambda").list_tags(Resource=arn)["Tags"]
    assert tags["lambda-runtime-guard:finding"] == "deprecated-runtime"
    message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])["Message"]
    assert "python3.8 is deprecated since 2024-10-14" in message and MEMBER_RULE in message


def test_per_account_remediation_configuration_upgrades_automatically(aws):
    """A per-account rule with an automatic RemediationConfiguration (CDK's PerAccountRuleStack shape)."""
    rb.write_upgrade_parameters(aws)
    rb.deploy(aws)
    api = rb.config_rule(aws)
    aws.client("config").put_remediation_configurations(RemediationConfigurations=[{
        "ConfigRuleName": rb.RULE, "TargetType": "SSM_DOCUMENT", "TargetId": rb.name("UpgradeLambdaRuntime"),
        "Parameters": {"FunctionName": {"ResourceValue": {"Value": "RESOURCE_ID"}},
                       "ConfigRuleName": {"StaticValue": {"Values": [rb.RULE]}},
                       "DryRun": {"StaticValue": {"Values": ["false"]}},
                       "AutomationAssumeRole": {"StaticValue": {"Values": [ROLE]}}},
        "Automatic": True, "MaximumAutomaticAttempts": 3, "RetryAttemptSeconds": 600}])
    rb.function(aws, "legacy", "python3.8")
    rb.evaluate(aws, api, {"legacy": "NON_COMPLIANT"})
    lam = aws.client("lambda")
    deadline = time.time() + 20
    while lam.get_function_configuration(FunctionName="legacy")["Runtime"] == "python3.8" and time.time() < deadline:
        time.sleep(0.1)
    assert lam.get_function_configuration(FunctionName="legacy")["Runtime"] == rb.contract()["successors"]["python3.8"]
    status = aws.client("config").describe_remediation_execution_status(ConfigRuleName=rb.RULE)
    assert status["RemediationExecutionStatuses"][0]["ResourceKey"]["resourceId"] == "legacy"


def test_tag_and_notify_is_idempotent(aws):
    rb.deploy(aws, "TagAndNotify")
    aws.client("sns").create_topic(Name="lambda-runtime-guard")
    rb.function(aws, "legacy", "python3.8")
    first = rb.run(aws, "TagAndNotify", FunctionName="legacy", TopicArn=TOPIC, Phase="deprecated", Deadline="2027-03-03")
    assert ran(first)[-1] == "Notify", first.get("FailureMessage")
    again = rb.run(aws, "TagAndNotify", FunctionName="legacy", TopicArn=TOPIC, Phase="deprecated", Deadline="2027-03-03")
    assert ran(again)[-1] == "EndAlreadyNotified"
    moved = rb.run(aws, "TagAndNotify", FunctionName="legacy", TopicArn=TOPIC, Phase="update-blocked", Deadline="2027-03-03")
    assert ran(moved)[-1] == "Notify"
    arn = aws.client("lambda").get_function_configuration(FunctionName="legacy")["FunctionArn"]
    assert aws.client("lambda").list_tags(Resource=arn)["Tags"]["lambda-runtime-guard:phase"] == "update-blocked"


def test_set_runtime_update_mode_auto(aws):
    rb.deploy(aws, "SetRuntimeUpdateModeAuto")
    lam = aws.client("lambda")
    rb.function(aws, "pinned", "python3.12")
    lam.put_runtime_management_config(FunctionName="pinned", UpdateRuntimeOn="Manual",
                                      RuntimeVersionArn="arn:aws:lambda:us-east-1::runtime:" + "a" * 64)
    execution = rb.run(aws, "SetRuntimeUpdateModeAuto", FunctionName="pinned")
    assert execution["AutomationExecutionStatus"] == "Success" and ran(execution)[-1] == "VerifyAuto"
    assert lam.get_runtime_management_config(FunctionName="pinned")["UpdateRuntimeOn"] == "Auto"
    again = rb.run(aws, "SetRuntimeUpdateModeAuto", FunctionName="pinned")
    assert ran(again)[-1] == "EndAlreadyAuto"
