"""AWS Config -> EventBridge -> SSM Automation, as AWS does it: PutEvaluations that changes a resource's
compliance puts a "Config Rules Compliance Change" event on the evaluated account's default bus, moto's own
matcher picks the rules, and rule targets are delivered as EventBridge delivers them (SSM Automation
executions, SQS messages, failures recorded and sent to a dead-letter queue, never failing PutEvaluations)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import botocore.exceptions
import pytest

from conftest import ADMIN, REGION, create_function, custom_rule, recording, rule_function

RULE_LAMBDA = f"arn:aws:lambda:{REGION}:{ADMIN}:function:runtime-rule"
WIRING = json.loads((Path(__file__).resolve().parents[3] / "cdk/runbooks/compliance-change-pattern.json").read_text())
ORG_RULE = "lambda-runtime-guard"
EVENTS_ROLE = "role/lambda-runtime-guard-start-automation"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# ---------------------------------------------------------------- helpers


def token_for(aws, rule_name: str, resource: str | None = None) -> dict:
    """The invocation event Config sent for `rule_name` (the rule's Lambda would read it from the Runtime API)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for invocation in aws.control("GET", f"/_localaws/runtime/invocations?FunctionArn={RULE_LAMBDA}")["Invocations"]:
            event = invocation["Event"]
            invoking = json.loads(event["invokingEvent"])
            if event["configRuleName"] == rule_name and (
                    resource is None or invoking.get("configurationItem", {}).get("resourceId") == resource):
                return event
        time.sleep(0.05)
    raise AssertionError(f"no invocation for {rule_name}")


def evaluate(config, token: str, resource: str, compliance: str, when: dt.datetime, annotation: str | None = None,
             resource_type: str = "AWS::Lambda::Function") -> dict:
    evaluation = {"ComplianceResourceType": resource_type, "ComplianceResourceId": resource,
                  "ComplianceType": compliance, "OrderingTimestamp": when}
    if annotation:
        evaluation["Annotation"] = annotation
    return config.put_evaluations(ResultToken=token, Evaluations=[evaluation])


def probe_queue(aws, account: str | None = None, pattern: dict | None = None, name: str = "probe") -> tuple:
    """An EventBridge rule on the default bus with an SQS target that receives the whole event."""
    sqs, events = aws.client("sqs", account), aws.client("events", account)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern or {"source": ["aws.config"]}))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    return sqs, url


def drain(sqs, url: str) -> list[dict]:
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                  MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            return messages
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages.extend(got)


def events_in(sqs, url: str) -> list[dict]:
    return [json.loads(m["Body"]) for m in drain(sqs, url)]


def organization(aws, members: int = 1) -> list[str]:
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    return [org.create_account(AccountName=f"member-{i}", Email=f"m{i}@example.com")["CreateAccountStatus"]["AccountId"]
            for i in range(members)]


def org_rule(aws, name: str = ORG_RULE) -> None:
    rule_function(aws, RULE_LAMBDA)
    aws.client("config").put_organization_config_rule(
        OrganizationConfigRuleName=name,
        OrganizationCustomRuleMetadata={
            "LambdaFunctionArn": RULE_LAMBDA,
            "OrganizationConfigRuleTriggerTypes": ["ConfigurationItemChangeNotification"],
            "ResourceTypesScope": ["AWS::Lambda::Function"]})


def member_rule_name(aws, account: str, org_rule_name: str = ORG_RULE) -> str:
    [name] = [r["ConfigRuleName"] for r in aws.client("config", account).describe_config_rules()["ConfigRules"]
              if r["ConfigRuleName"].startswith(f"OrgConfigRule-{org_rule_name}-")]
    return name


def fill(text: str, account: str) -> str:
    values = {"RULE_NAME": ORG_RULE, "AUTOMATION_ROLE_ARN": f"arn:aws:iam::{account}:role/automation",
              "TOPIC_ARN": f"arn:aws:sns:{REGION}:{account}:findings", "DRY_RUN": "true",
              "REMEDIATION_DOCUMENT": "TagAndNotify"}
    return re.sub(r"%([A-Z_]+)%", lambda m: values[m.group(1)], text)


# A tiny Automation document with the parameters of the TagAndNotify target's transformer.
TINY = {"schemaVersion": "0.3", "description": "records its parameters",
        "parameters": {"FunctionName": {"type": "String"}, "ConfigRuleName": {"type": "String"},
                       "Annotation": {"type": "String", "default": ""}, "TopicArn": {"type": "String"},
                       "AutomationAssumeRole": {"type": "String"}},
        "mainSteps": [{"name": "Done", "action": "aws:sleep", "inputs": {"Duration": "PT0S"}}]}


def wired(aws, account: str, document: str = "tiny", dead_letter: str | None = None) -> str:
    """The member account's compliance-change rule as CDK deploys it (pattern and TagAndNotify transformer
    from cdk/runbooks/compliance-change-pattern.json), its target being `document`."""
    aws.client("ssm", account).create_document(Name="tiny", Content=json.dumps(TINY), DocumentType="Automation",
                                               DocumentFormat="JSON")
    events = aws.client("events", account)
    events.put_rule(Name="compliance-change", EventPattern=fill(json.dumps(WIRING["eventPattern"]), account))
    target = {"Id": "TagAndNotify", "Arn": f"arn:aws:ssm:{REGION}:{account}:automation-definition/{document}:$DEFAULT",
              "RoleArn": f"arn:aws:iam::{account}:{EVENTS_ROLE}",
              "InputTransformer": json.loads(fill(json.dumps(WIRING["targets"]["TagAndNotify"]["inputTransformer"]), account))}
    if dead_letter:
        target["DeadLetterConfig"] = {"Arn": dead_letter}
    events.put_targets(Rule="compliance-change", Targets=[target])
    return target["Arn"]


def executions(aws, account: str) -> list[dict]:
    return aws.client("ssm", account).describe_automation_executions()["AutomationExecutionMetadataList"]


def deliveries(aws) -> list[dict]:
    return aws.control("GET", "/_localaws/events/deliveries")["Deliveries"]


def member_setup(aws, extra_rules: tuple[str, ...] = ()) -> tuple[str, object]:
    """An organization with one member that records Lambda and runs the organization rule(s)."""
    [member] = organization(aws)
    recording(aws, member)
    org_rule(aws)
    for name in extra_rules:
        org_rule(aws, name)
    return member, aws.client("config", member)


T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone.utc)


# ---------------------------------------------------------------- Config -> EventBridge


def test_a_first_result_emits_one_event_of_the_documented_shape(aws):
    recording(aws)
    custom_rule(aws, "lambda-runtimes", RULE_LAMBDA)
    sqs, url = probe_queue(aws)
    create_function(aws, "legacy", "python3.8")
    token = token_for(aws, "lambda-runtimes")["resultToken"]
    config = aws.client("config")
    evaluate(config, token, "legacy", "NON_COMPLIANT", T0, "python3.8 is deprecated")
    [event] = events_in(sqs, url)
    assert {k: event[k] for k in ("version", "detail-type", "source", "account", "region", "resources")} == {
        "version": "0", "detail-type": "Config Rules Compliance Change", "source": "aws.config",
        "account": ADMIN, "region": REGION, "resources": []}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", event["time"]) and event["id"]
    detail = event["detail"]
    rule_arn = config.describe_config_rules(ConfigRuleNames=["lambda-runtimes"])["ConfigRules"][0]["ConfigRuleArn"]
    assert {k: v for k, v in detail.items() if k not in ("newEvaluationResult", "notificationCreationTime")} == {
        "awsAccountId": ADMIN, "configRuleName": "lambda-runtimes", "configRuleARN": rule_arn,
        "resourceType": "AWS::Lambda::Function", "resourceId": "legacy", "awsRegion": REGION,
        "messageType": "ComplianceChangeNotification", "recordVersion": "1.0"}
    assert "oldEvaluationResult" not in detail  # a first result has nothing before it
    assert ISO.match(detail["notificationCreationTime"])
    new = detail["newEvaluationResult"]
    assert new["evaluationResultIdentifier"] == {
        "evaluationResultQualifier": {"configRuleName": "lambda-runtimes", "resourceType": "AWS::Lambda::Function",
                                      "resourceId": "legacy", "evaluationMode": "DETECTIVE"},
        "orderingTimestamp": "2026-11-20T10:00:00.000Z"}
    assert new["complianceType"] == "NON_COMPLIANT" and new["annotation"] == "python3.8 is deprecated"
    assert ISO.match(new["resultRecordedTime"]) and ISO.match(new["configRuleInvokedTime"])


def test_the_same_result_again_emits_nothing_and_a_flip_emits_the_old_result(aws):
    recording(aws)
    custom_rule(aws, "lambda-runtimes", RULE_LAMBDA)
    sqs, url = probe_queue(aws)
    create_function(aws, "legacy", "python3.8")
    token = token_for(aws, "lambda-runtimes")["resultToken"]
    config = aws.client("config")
    evaluate(config, token, "legacy", "NON_COMPLIANT", T0, "deprecated")
    assert len(events_in(sqs, url)) == 1
    # The same compliance again (a newer result, another annotation): no change, no event.
    evaluate(config, token, "legacy", "NON_COMPLIANT", T0 + dt.timedelta(hours=1), "still deprecated")
    # An older result is ignored (the latest OrderingTimestamp wins): no event either.
    evaluate(config, token, "legacy", "COMPLIANT", T0 - dt.timedelta(days=1))
    # TestMode stores nothing, so it changes nothing.
    config.put_evaluations(ResultToken="TESTMODE", TestMode=True, Evaluations=[{
        "ComplianceResourceType": "AWS::Lambda::Function", "ComplianceResourceId": "legacy",
        "ComplianceType": "COMPLIANT", "OrderingTimestamp": T0 + dt.timedelta(hours=2)}])
    assert events_in(sqs, url) == []
    evaluate(config, token, "legacy", "COMPLIANT", T0 + dt.timedelta(hours=3))
    [event] = events_in(sqs, url)
    detail = event["detail"]
    assert detail["newEvaluationResult"]["complianceType"] == "COMPLIANT"
    assert detail["newEvaluationResult"]["annotation"] is None
    old = detail["oldEvaluationResult"]
    assert old["complianceType"] == "NON_COMPLIANT" and old["annotation"] == "still deprecated"
    assert old["evaluationResultIdentifier"]["orderingTimestamp"] == "2026-11-20T11:00:00.000Z"
    # A result for another resource is a first result of its own.
    evaluate(config, token, "other", "NOT_APPLICABLE", T0)
    [event] = events_in(sqs, url)
    assert event["detail"]["resourceId"] == "other" and "oldEvaluationResult" not in event["detail"]


def test_an_organization_rule_event_names_the_member_copy_on_the_member_bus(aws):
    member, config = member_setup(aws)
    member_sqs, member_url = probe_queue(aws, member)
    admin_sqs, admin_url = probe_queue(aws)
    name = member_rule_name(aws, member)
    create_function(aws, "legacy", "python3.8", account=member)
    evaluate(config, token_for(aws, name)["resultToken"], "legacy", "NON_COMPLIANT", T0, "deprecated")
    [event] = events_in(member_sqs, member_url)
    assert re.match(rf"^OrgConfigRule-{ORG_RULE}-[a-z0-9]+$", event["detail"]["configRuleName"])
    assert event["detail"]["configRuleName"] == name
    assert event["account"] == event["detail"]["awsAccountId"] == member
    assert event["detail"]["newEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"][
        "configRuleName"] == name
    assert events_in(admin_sqs, admin_url) == []  # the evaluated account's bus, not the organization's admin


# ---------------------------------------------------------------- EventBridge -> SSM Automation


def test_the_deployed_pattern_starts_the_automation_with_the_transformed_parameters(aws):
    member, config = member_setup(aws)
    wired(aws, member)
    name = member_rule_name(aws, member)
    create_function(aws, "legacy", "python3.8", account=member)
    evaluate(config, token_for(aws, name)["resultToken"], "legacy", "NON_COMPLIANT", T0, 'python3.8 "deprecated"')
    [started] = executions(aws, member)
    execution = aws.client("ssm", member).get_automation_execution(
        AutomationExecutionId=started["AutomationExecutionId"])["AutomationExecution"]
    assert execution["DocumentName"] == "tiny"
    assert execution["Parameters"] == {
        "FunctionName": ["legacy"], "ConfigRuleName": [name], "Annotation": ['python3.8 "deprecated"'],
        "TopicArn": [f"arn:aws:sns:{REGION}:{member}:findings"],
        "AutomationAssumeRole": [f"arn:aws:iam::{member}:role/automation"]}
    [delivery] = deliveries(aws)
    assert delivery["Outcome"] == "Delivered" and delivery["TargetId"] == "TagAndNotify"
    assert delivery["Rule"] == "compliance-change" and delivery["AutomationExecutionId"] == started["AutomationExecutionId"]
    assert delivery["RuleArn"] == f"arn:aws:events:{REGION}:{member}:rule/compliance-change"


def test_events_the_pattern_does_not_match_start_nothing(aws):
    member, config = member_setup(aws, extra_rules=("someone-elses-rule",))
    wired(aws, member)
    # A schedule rule ("Rules with ScheduleExpressions self-trigger based on the given schedule",
    # API_PutRule.html) is never matched by events, whatever they are.
    events = aws.client("events", member)
    events.put_rule(Name="daily", ScheduleExpression="rate(1 day)")
    events.put_targets(Rule="daily", Targets=[{"Id": "tiny", "RoleArn": f"arn:aws:iam::{member}:{EVENTS_ROLE}",
                                               "Arn": f"arn:aws:ssm:{REGION}:{member}:automation-definition/tiny"}])
    ours, theirs = member_rule_name(aws, member), member_rule_name(aws, member, "someone-elses-rule")
    create_function(aws, "legacy", "python3.8", account=member)
    token, other_token = token_for(aws, ours)["resultToken"], token_for(aws, theirs)["resultToken"]
    evaluate(config, token, "legacy", "COMPLIANT", T0)  # a change, but to COMPLIANT
    evaluate(config, other_token, "legacy", "NON_COMPLIANT", T0)  # another organization rule
    evaluate(config, token, "my-bucket", "NON_COMPLIANT", T0, resource_type="AWS::S3::Bucket")  # not a function
    evaluate(config, token, "legacy", "NOT_APPLICABLE", T0 + dt.timedelta(hours=1))
    assert executions(aws, member) == []
    assert deliveries(aws) == []
    # ... and a disabled rule matches nothing ("EventBridge does not match any events against the rule").
    events.disable_rule(Name="compliance-change")
    evaluate(config, token, "legacy", "NON_COMPLIANT", T0 + dt.timedelta(hours=2))
    assert executions(aws, member) == [] and deliveries(aws) == []


def test_a_delivery_failure_is_recorded_and_does_not_fail_put_evaluations(aws):
    member, config = member_setup(aws)
    sqs = aws.client("sqs", member)
    dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    target_arn = wired(aws, member, document="no-such-runbook", dead_letter=dlq)
    # A second target on the same rule is delivered although the first fails.
    probe_url = sqs.create_queue(QueueName="probe")["QueueUrl"]
    probe = sqs.get_queue_attributes(QueueUrl=probe_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("events", member).put_targets(Rule="compliance-change", Targets=[{"Id": "probe", "Arn": probe}])
    name = member_rule_name(aws, member)
    create_function(aws, "legacy", "python3.8", account=member)
    answer = evaluate(config, token_for(aws, name)["resultToken"], "legacy", "NON_COMPLIANT", T0, "deprecated")
    assert answer["FailedEvaluations"] == []
    assert config.get_compliance_details_by_config_rule(ConfigRuleName=name)["EvaluationResults"][0][
        "ComplianceType"] == "NON_COMPLIANT"
    assert executions(aws, member) == []
    failed, delivered = sorted(deliveries(aws), key=lambda d: d["Outcome"] != "Failed")
    assert (failed["Outcome"], failed["TargetId"], failed["ErrorCode"]) == (
        "Failed", "TagAndNotify", "AutomationDefinitionNotFoundException")
    assert failed["SentToDeadLetterQueue"] is True
    assert (delivered["Outcome"], delivered["TargetId"]) == ("Delivered", "probe")
    [dead] = drain(sqs, dlq_url)
    assert json.loads(dead["Body"])["detail"]["resourceId"] == "legacy"  # the event, not the transformed input
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "AutomationDefinitionNotFoundException"
    assert attributes["RULE_ARN"].endswith(":rule/compliance-change") and attributes["TARGET_ARN"] == target_arn
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert len(drain(sqs, probe_url)) == 1


def test_parameters_the_runbook_refuses_are_a_failed_delivery(aws):
    member, config = member_setup(aws)
    wired(aws, member)
    aws.client("events", member).put_targets(Rule="compliance-change", Targets=[{
        "Id": "TagAndNotify", "Arn": f"arn:aws:ssm:{REGION}:{member}:automation-definition/tiny",
        "RoleArn": f"arn:aws:iam::{member}:{EVENTS_ROLE}",
        "InputTransformer": {"InputPathsMap": {"function": "$.detail.resourceId"},
                             "InputTemplate": '{"FunctionName": [<function>], "Unknown": ["x"]}'}}])
    name = member_rule_name(aws, member)
    create_function(aws, "legacy", "python3.8", account=member)
    evaluate(config, token_for(aws, name)["resultToken"], "legacy", "NON_COMPLIANT", T0, "deprecated")
    [delivery] = deliveries(aws)
    assert delivery["Outcome"] == "Failed"
    assert delivery["ErrorCode"] == "InvalidAutomationExecutionParametersException"
    assert json.loads(delivery["Input"]) == {"FunctionName": ["legacy"], "Unknown": ["x"]}


def test_put_targets_refuses_an_automation_target_without_a_role(aws):
    events = aws.client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["aws.config"]}))
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        events.put_targets(Rule="r", Targets=[{
            "Id": "t", "Arn": f"arn:aws:ssm:{REGION}:{ADMIN}:automation-definition/tiny:$DEFAULT"}])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "RoleArn is required for target" in refused.value.response["Error"]["Message"]
    assert events.list_targets_by_rule(Rule="r")["Targets"] == []


def test_target_input_follows_eventbridge(aws):
    """Input, InputPath and InputTransformer as EventBridge applies them, seen by SQS targets."""
    recording(aws)
    custom_rule(aws, "lambda-runtimes", RULE_LAMBDA)
    sqs, events = aws.client("sqs"), aws.client("events")
    queues = {}
    for name in ("constant", "path", "transformed", "text"):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queues[name] = (url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    events.put_rule(Name="all-config", EventPattern=json.dumps({"source": ["aws.config"]}))
    events.put_targets(Rule="all-config", Targets=[
        {"Id": "constant", "Arn": queues["constant"][1], "Input": '{"fixed": [1, "two"]}'},
        {"Id": "path", "Arn": queues["path"][1], "InputPath": "$.detail.newEvaluationResult"},
        {"Id": "transformed", "Arn": queues["transformed"][1], "InputTransformer": {
            "InputPathsMap": {"id": "$.detail.resourceId", "missing": "$.detail.nothing",
                              "qualifier": "$.detail.newEvaluationResult.evaluationResultIdentifier.evaluationResultQualifier"},
            "InputTemplate": '{"id": <id>, "said": "function <id> of <aws.events.rule-name>", "missing": <missing>, '
                             '"qualifier": <qualifier>, "list": [<id>, 3]}'}},
        {"Id": "text", "Arn": queues["text"][1], "InputTransformer": {
            "InputPathsMap": {"id": "$.detail.resourceId"}, "InputTemplate": '"instance <id> is non-compliant"'}},
    ])
    create_function(aws, "legacy", "python3.8")
    evaluate(aws.client("config"), token_for(aws, "lambda-runtimes")["resultToken"], "legacy", "NON_COMPLIANT", T0, "x")
    bodies = {name: [m["Body"] for m in drain(sqs, url)] for name, (url, _) in queues.items()}
    assert json.loads(bodies["constant"][0]) == {"fixed": [1, "two"]}
    assert json.loads(bodies["path"][0])["complianceType"] == "NON_COMPLIANT"
    assert json.loads(bodies["transformed"][0]) == {
        "id": "legacy", "said": "function legacy of all-config", "missing": None,
        "qualifier": {"configRuleName": "lambda-runtimes", "resourceType": "AWS::Lambda::Function",
                      "resourceId": "legacy", "evaluationMode": "DETECTIVE"},
        "list": ["legacy", 3]}
    assert bodies["text"] == ['"instance legacy is non-compliant"']
    assert {d["TargetId"]: d["Outcome"] for d in deliveries(aws)} == {
        "constant": "Delivered", "path": "Delivered", "transformed": "Delivered", "text": "Delivered"}
