"""SSM Automation execution of the step types the project's runbooks use, and Config remediation."""

from __future__ import annotations

import datetime as dt
import json
import time

import botocore.exceptions
import pytest

from conftest import ADMIN, REGION, create_function, custom_rule, recording

UPGRADE = {
    "schemaVersion": "0.3",
    "description": "Upgrade a Lambda function's runtime with a rollback point (test copy of the project's shape).",
    "parameters": {
        "FunctionName": {"type": "String"},
        "TargetRuntime": {"type": "String", "default": "python3.12"},
        "DryRun": {"type": "Boolean", "default": False},
        "MemorySize": {"type": "Integer", "default": 128},
    },
    "mainSteps": [
        {"name": "PublishRollbackPoint", "action": "aws:executeAwsApi",
         "inputs": {"Service": "lambda", "Api": "PublishVersion", "FunctionName": "{{ FunctionName }}"},
         "outputs": [{"Name": "Version", "Selector": "$.Version", "Type": "String"}]},
        {"name": "ReadRuntime", "action": "aws:executeAwsApi",
         "inputs": {"Service": "lambda", "Api": "GetFunctionConfiguration", "FunctionName": "{{ FunctionName }}"},
         "outputs": [{"Name": "Runtime", "Selector": "$.Runtime", "Type": "String"}]},
        {"name": "ChooseMode", "action": "aws:branch",
         "inputs": {"Choices": [{"NextStep": "Done", "Variable": "{{ DryRun }}", "BooleanEquals": True}],
                    "Default": "Upgrade"}},
        {"name": "Upgrade", "action": "aws:executeAwsApi", "onFailure": "step:Rollback",
         "inputs": {"Service": "lambda", "Api": "UpdateFunctionConfiguration", "FunctionName": "{{ FunctionName }}",
                    "Runtime": "{{ TargetRuntime }}", "MemorySize": "{{ MemorySize }}"}},
        {"name": "WaitUpdated", "action": "aws:waitForAwsResourceProperty", "timeoutSeconds": 10,
         "inputs": {"Service": "lambda", "Api": "GetFunctionConfiguration", "FunctionName": "{{ FunctionName }}",
                    "PropertySelector": "$.LastUpdateStatus", "DesiredValues": ["Successful"]}},
        {"name": "AssertRuntime", "action": "aws:assertAwsResourceProperty",
         "inputs": {"Service": "lambda", "Api": "GetFunctionConfiguration", "FunctionName": "{{ FunctionName }}",
                    "PropertySelector": "$.Runtime", "DesiredValues": ["{{ TargetRuntime }}"]}},
        {"name": "Pause", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}},
        {"name": "Done", "action": "aws:executeAwsApi", "isEnd": True,
         "inputs": {"Service": "lambda", "Api": "TagResource",
                    "Resource": "arn:aws:lambda:{{ global:REGION }}:{{ global:ACCOUNT_ID }}:function:{{ FunctionName }}",
                    "Tags": {"runtime-remediation": "{{ automation:EXECUTION_ID }}"}}},
        {"name": "Rollback", "action": "aws:executeAwsApi", "isEnd": True,
         "inputs": {"Service": "lambda", "Api": "TagResource",
                    "Resource": "arn:aws:lambda:{{ global:REGION }}:{{ global:ACCOUNT_ID }}:function:{{ FunctionName }}",
                    "Tags": {"runtime-remediation": "rolled-back from {{ ReadRuntime.Runtime }}"}}},
    ],
    "outputs": ["PublishRollbackPoint.Version", "ReadRuntime.Runtime"],
}


def document(aws, name: str, content: dict) -> None:
    aws.client("ssm").create_document(Name=name, DocumentType="Automation", DocumentFormat="JSON",
                                      Content=json.dumps(content))


def wait(aws, execution_id: str, account: str | None = None) -> dict:
    ssm = aws.client("ssm", account)
    for _ in range(100):
        execution = ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        if execution["AutomationExecutionStatus"] not in ("Pending", "InProgress"):
            return execution
        time.sleep(0.1)
    raise AssertionError(f"execution {execution_id} did not finish")


def test_runbook_steps_outputs_and_branch(aws):
    create_function(aws, "orders", "python3.8")
    document(aws, "UpgradeLambdaRuntime", UPGRADE)
    ssm = aws.client("ssm")
    run = ssm.start_automation_execution(DocumentName="UpgradeLambdaRuntime", Parameters={"FunctionName": ["orders"]})
    execution = wait(aws, run["AutomationExecutionId"])
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    steps = {s["StepName"]: s for s in execution["StepExecutions"]}
    assert steps["PublishRollbackPoint"]["Outputs"]["Version"] == ["1"]
    assert steps["ReadRuntime"]["Outputs"]["Runtime"] == ["python3.8"]
    assert steps["Rollback"]["StepStatus"] == "Skipped"
    assert execution["Outputs"]["ReadRuntime.Runtime"] == ["python3.8"]
    lam = aws.client("lambda")
    configuration = lam.get_function_configuration(FunctionName="orders")
    assert configuration["Runtime"] == "python3.12"
    tags = lam.list_tags(Resource=configuration["FunctionArn"])["Tags"]
    assert tags["runtime-remediation"] == run["AutomationExecutionId"]

    dry = ssm.start_automation_execution(DocumentName="UpgradeLambdaRuntime",
                                         Parameters={"FunctionName": ["orders"], "TargetRuntime": ["python3.13"],
                                                     "DryRun": ["true"]})
    execution = wait(aws, dry["AutomationExecutionId"])
    assert execution["AutomationExecutionStatus"] == "Success"
    assert {s["StepName"]: s["StepStatus"] for s in execution["StepExecutions"]}["Upgrade"] == "Skipped"
    assert lam.get_function_configuration(FunctionName="orders")["Runtime"] == "python3.12"


def test_service_model_validation_fails_the_step_and_on_failure_jumps(aws):
    create_function(aws, "orders", "python3.8")
    broken = json.loads(json.dumps(UPGRADE))
    upgrade = next(s for s in broken["mainSteps"] if s["name"] == "Upgrade")
    upgrade["inputs"]["MemorySize"] = "lots"  # the Lambda model wants an integer
    document(aws, "UpgradeLambdaRuntime", broken)
    ssm = aws.client("ssm")
    run = ssm.start_automation_execution(DocumentName="UpgradeLambdaRuntime", Parameters={"FunctionName": ["orders"]})
    execution = wait(aws, run["AutomationExecutionId"])
    steps = {s["StepName"]: s for s in execution["StepExecutions"]}
    assert steps["Upgrade"]["StepStatus"] == "Failed"
    assert "MemorySize" in steps["Upgrade"]["FailureMessage"]
    assert steps["Rollback"]["StepStatus"] == "Success"
    lam = aws.client("lambda")
    arn = lam.get_function_configuration(FunctionName="orders")["FunctionArn"]
    assert lam.list_tags(Resource=arn)["Tags"]["runtime-remediation"] == "rolled-back from python3.8"

    missing = ssm.start_automation_execution(DocumentName="UpgradeLambdaRuntime", Parameters={"FunctionName": ["nope"]})
    failed = wait(aws, missing["AutomationExecutionId"])
    assert failed["AutomationExecutionStatus"] == "Failed"
    assert "ResourceNotFoundException" in failed["FailureMessage"]
    with pytest.raises(botocore.exceptions.ClientError) as error:
        ssm.start_automation_execution(DocumentName="UpgradeLambdaRuntime")  # FunctionName has no default
    assert error.value.response["Error"]["Code"] == "InvalidAutomationExecutionParametersException"
    with pytest.raises(botocore.exceptions.ClientError) as error:
        ssm.start_automation_execution(DocumentName="Missing")
    assert error.value.response["Error"]["Code"] == "AutomationDefinitionNotFoundException"


TAG = {
    "schemaVersion": "0.3",
    "assumeRole": "{{ AutomationAssumeRole }}",
    "parameters": {"FunctionName": {"type": "String"}, "Finding": {"type": "String", "default": "runtime"},
                   "AutomationAssumeRole": {"type": "String", "default": ""}},
    "mainSteps": [
        {"name": "Resolve", "action": "aws:executeAwsApi",
         "inputs": {"Service": "lambda", "Api": "GetFunctionConfiguration", "FunctionName": "{{ FunctionName }}"},
         "outputs": [{"Name": "Arn", "Selector": "$.FunctionArn", "Type": "String"}]},
        {"name": "Tag", "action": "aws:executeAwsApi",
         "inputs": {"Service": "lambda", "Api": "TagResource", "Resource": "{{ Resolve.Arn }}",
                    "Tags": {"runtime-finding": "{{ Finding }}"}}},
    ],
}


def test_remediation_manual_and_automatic(aws):
    rule_lambda = f"arn:aws:lambda:{REGION}:{ADMIN}:function:runtime-rule"
    recording(aws)
    custom_rule(aws, "lambda-runtimes", rule_lambda)
    api = aws.bind(rule_lambda)
    document(aws, "TagAndNotify", TAG)
    config = aws.client("config")
    config.put_remediation_configurations(RemediationConfigurations=[{
        "ConfigRuleName": "lambda-runtimes", "TargetType": "SSM_DOCUMENT", "TargetId": "TagAndNotify",
        "Parameters": {"FunctionName": {"ResourceValue": {"Value": "RESOURCE_ID"}},
                       "Finding": {"StaticValue": {"Values": ["deprecated"]}}},
        "Automatic": False}])
    assert config.describe_remediation_configurations(ConfigRuleNames=["lambda-runtimes"])["RemediationConfigurations"][0]["TargetId"] == "TagAndNotify"
    arn = create_function(aws, "legacy", "python3.8")["FunctionArn"]
    config.start_remediation_execution(ConfigRuleName="lambda-runtimes",
                                       ResourceKeys=[{"resourceType": "AWS::Lambda::Function", "resourceId": "legacy"}])
    lam = aws.client("lambda")
    _until(lambda: lam.list_tags(Resource=arn)["Tags"].get("runtime-finding") == "deprecated")
    status = config.describe_remediation_execution_status(ConfigRuleName="lambda-runtimes")["RemediationExecutionStatuses"]
    assert status[0]["State"] == "SUCCEEDED" and status[0]["ResourceKey"]["resourceId"] == "legacy"

    # Automatic: refused without AutomationAssumeRole, as AWS does; then a NON_COMPLIANT evaluation starts the
    # runbook by itself.
    automatic = {
        "ConfigRuleName": "lambda-runtimes", "TargetType": "SSM_DOCUMENT", "TargetId": "TagAndNotify",
        "Parameters": {"FunctionName": {"ResourceValue": {"Value": "RESOURCE_ID"}},
                       "Finding": {"StaticValue": {"Values": ["automatic"]}}},
        "Automatic": True, "MaximumAutomaticAttempts": 2, "RetryAttemptSeconds": 60}
    with pytest.raises(botocore.exceptions.ClientError) as error:
        config.put_remediation_configurations(RemediationConfigurations=[automatic])
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "AutomationAssumeRole" in error.value.response["Error"]["Message"]
    automatic["Parameters"]["AutomationAssumeRole"] = {"StaticValue": {"Values": [f"arn:aws:iam::{ADMIN}:role/remediation"]}}
    config.put_remediation_configurations(RemediationConfigurations=[automatic])
    other = create_function(aws, "older", "nodejs16.x")["FunctionArn"]
    token = None
    for _ in range(3):  # the rule function's own, legacy's and older's change notifications
        request_id, event = aws.next_invocation(api)
        if json.loads(event["invokingEvent"])["configurationItem"]["resourceId"] == "older":
            token = event["resultToken"]
        aws.answer(api, request_id)
    config.put_evaluations(ResultToken=token, Evaluations=[{
        "ComplianceResourceType": "AWS::Lambda::Function", "ComplianceResourceId": "older",
        "ComplianceType": "NON_COMPLIANT", "Annotation": "nodejs16.x deprecated",
        "OrderingTimestamp": dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)}])
    _until(lambda: lam.list_tags(Resource=other)["Tags"].get("runtime-finding") == "automatic")


def test_remediation_is_refused_for_organization_rules(aws):
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    rule_lambda = f"arn:aws:lambda:{REGION}:{ADMIN}:function:runtime-rule"
    custom_rule(aws, "plain", rule_lambda)  # creates the rule function too
    aws.client("config").put_organization_config_rule(
        OrganizationConfigRuleName="org-rule",
        OrganizationCustomRuleMetadata={"LambdaFunctionArn": rule_lambda,
                                        "OrganizationConfigRuleTriggerTypes": ["ScheduledNotification"]})
    org_rule_name = next(r["ConfigRuleName"] for r in aws.client("config").describe_config_rules()["ConfigRules"]
                         if r["ConfigRuleName"].startswith("OrgConfigRule-"))
    with pytest.raises(botocore.exceptions.ClientError) as error:
        aws.client("config").put_remediation_configurations(RemediationConfigurations=[{
            "ConfigRuleName": org_rule_name, "TargetType": "SSM_DOCUMENT", "TargetId": "TagAndNotify"}])
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"


def _until(check, seconds: float = 10) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")
