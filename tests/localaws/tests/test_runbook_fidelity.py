"""Lambda and Automation behaviour the remediation runbooks (cdk/runbooks/) meet: each test names the AWS page
the behaviour follows (see localaws/lambda_fidelity.py and localaws/automation.py)."""

from __future__ import annotations

import json
import time

import botocore.exceptions
import pytest

from conftest import create_function, zip_bytes
from test_automation import document


def wait(aws, execution_id: str) -> dict:
    ssm = aws.client("ssm")
    for _ in range(100):
        execution = ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        if execution["AutomationExecutionStatus"] not in ("Pending", "InProgress", "Cancelling"):
            return execution
        time.sleep(0.1)
    raise AssertionError(f"execution {execution_id} did not finish")

PIN = "arn:aws:lambda:us-east-1::runtime:0b4f9c7e5e0a4bc1a2f7d2c7e6f4c8a1b8f3a5e9d2c4b6a8f0e1d3c5b7a9f2e4"


def error_of(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call(*args, **kwargs)
    response = error.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def settle(lam, name: str) -> dict:
    for _ in range(20):
        configuration = lam.get_function_configuration(FunctionName=name)
        if configuration["LastUpdateStatus"] != "InProgress":
            return configuration
    raise AssertionError(f"{name} stays InProgress")


def test_manual_mode_refuses_runtime_and_architecture_changes(aws):
    # https://docs.aws.amazon.com/lambda/latest/dg/runtime-management-rollback.html
    lam = aws.client("lambda")
    create_function(aws, "pinned", "python3.9")
    lam.put_runtime_management_config(FunctionName="pinned", UpdateRuntimeOn="Manual", RuntimeVersionArn=PIN)
    code, message, _ = error_of(lam.update_function_configuration, FunctionName="pinned", Runtime="python3.12")
    assert code == "InvalidParameterValueException" and "Manual" in message
    code, _, _ = error_of(lam.update_function_code, FunctionName="pinned", ZipFile=zip_bytes(), Architectures=["arm64"])
    assert code == "InvalidParameterValueException"
    lam.update_function_configuration(FunctionName="pinned", MemorySize=256)  # not a runtime change
    settle(lam, "pinned")
    lam.put_runtime_management_config(FunctionName="pinned", UpdateRuntimeOn="Auto")
    assert lam.update_function_configuration(FunctionName="pinned", Runtime="python3.12")["Runtime"] == "python3.12"


def test_update_blocked_runtime_is_refused_on_the_emulated_date(aws):
    # https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html#runtime-deprecation-levels
    lam = aws.client("lambda")
    create_function(aws, "old", "python3.8")
    create_function(aws, "new", "python3.12")
    catalog = {r["runtime"]: r for r in json.loads((aws_root() / "rule/lifecycle/data/runtimes.json").read_text())["runtimes"]}
    blocked_on = catalog["python3.8"]["block_update_date"]
    aws.control("POST", "/_localaws/lambda/settings", {"Today": blocked_on})
    code, message, _ = error_of(lam.update_function_configuration, FunctionName="new", Runtime="python3.8")
    assert code == "InvalidParameterValueException"
    assert "The runtime parameter of python3.8 is no longer supported" in message
    code, _, _ = error_of(lam.update_function_code, FunctionName="old", ZipFile=zip_bytes())
    assert code == "InvalidParameterValueException"
    lam.update_function_configuration(FunctionName="old", MemorySize=256)  # not naming the runtime: allowed
    settle(lam, "old")
    aws.control("POST", "/_localaws/lambda/settings", {"Today": "2026-01-01"})  # before the block
    lam.update_function_configuration(FunctionName="new", Runtime="python3.8")


def test_last_update_status_in_progress_then_successful_or_failed(aws):
    # https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
    lam = aws.client("lambda")
    create_function(aws, "orders", "python3.9")
    aws.control("POST", "/_localaws/lambda/settings", {"UpdatePolls": 2})
    assert lam.update_function_configuration(FunctionName="orders", Runtime="python3.12")["LastUpdateStatus"] == "InProgress"
    code, _, status = error_of(lam.update_function_configuration, FunctionName="orders", MemorySize=512)
    assert (code, status) == ("ResourceConflictException", 409)
    seen = [lam.get_function_configuration(FunctionName="orders")["LastUpdateStatus"] for _ in range(3)]
    assert seen == ["InProgress", "InProgress", "Successful"]

    aws.control("POST", "/_localaws/lambda/update-failures",
                {"Rules": [{"FunctionName": "orders", "Runtime": "python3.13", "Reason": "layer incompatible"}]})
    lam.update_function_configuration(FunctionName="orders", Runtime="python3.13")
    failed = settle(lam, "orders")
    assert failed["LastUpdateStatus"] == "Failed" and failed["LastUpdateStatusReason"] == "layer incompatible"
    lam.update_function_configuration(FunctionName="orders", Runtime="python3.12")  # not matched: succeeds
    assert settle(lam, "orders")["LastUpdateStatus"] == "Successful"


def test_revision_id_is_enforced(aws):
    # https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html (RevisionId)
    lam = aws.client("lambda")
    create_function(aws, "orders", "python3.9")
    revision = lam.get_function_configuration(FunctionName="orders")["RevisionId"]
    assert lam.get_function(FunctionName="orders")["Configuration"]["RevisionId"] == revision
    lam.update_function_configuration(FunctionName="orders", MemorySize=256, RevisionId=revision)
    fresh = settle(lam, "orders")["RevisionId"]
    assert fresh != revision
    code, _, status = error_of(lam.update_function_configuration, FunctionName="orders", Runtime="python3.12",
                               RevisionId=revision)
    assert (code, status) == ("PreconditionFailedException", 412)
    code, _, _ = error_of(lam.publish_version, FunctionName="orders", RevisionId=revision)
    assert code == "PreconditionFailedException"
    assert lam.publish_version(FunctionName="orders", RevisionId=fresh)["Version"] == "1"


def test_image_functions_take_no_runtime(aws):
    # https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html
    lam = aws.client("lambda")
    role = aws.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName="image", Role=role, PackageType="Image",
                        Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"})
    code, message, _ = error_of(lam.update_function_configuration, FunctionName="image", Runtime="python3.12")
    assert code == "InvalidParameterValueException" and "PackageType is Image" in message


def test_versions_qualifiers_aliases_and_layers(aws):
    # https://docs.aws.amazon.com/lambda/latest/api/API_PublishVersion.html: no new version when nothing changed
    lam = aws.client("lambda")
    create_function(aws, "orders", "python3.9")
    first = lam.publish_version(FunctionName="orders")["Version"]
    assert lam.publish_version(FunctionName="orders")["Version"] == first
    lam.create_alias(FunctionName="orders", Name="live", FunctionVersion=first)
    lam.update_function_configuration(FunctionName="orders", Runtime="python3.12")
    settle(lam, "orders")
    assert lam.get_function_configuration(FunctionName="orders", Qualifier=first)["Runtime"] == "python3.9"
    assert lam.get_function_configuration(FunctionName="orders")["Runtime"] == "python3.12"
    assert [(a["Name"], a["FunctionVersion"]) for a in lam.list_aliases(FunctionName="orders")["Aliases"]] == [("live", first)]
    layer = lam.publish_layer_version(LayerName="deps", Content={"ZipFile": zip_bytes()},
                                      CompatibleRuntimes=["python3.8", "python3.9"])["LayerVersionArn"]
    assert lam.get_layer_version_by_arn(Arn=layer)["CompatibleRuntimes"] == ["python3.8", "python3.9"]


# ------------------------------------------------------------------ Automation

def run(aws, content: dict, parameters: dict | None = None, name: str = "Doc") -> dict:
    document(aws, name, content)
    started = aws.client("ssm").start_automation_execution(DocumentName=name, **({"Parameters": parameters} if parameters else {}))
    return wait(aws, started["AutomationExecutionId"])


def statuses(execution: dict) -> dict[str, str]:
    return {s["StepName"]: s["StepStatus"] for s in execution["StepExecutions"]}


READ = {"Service": "ssm", "Api": "GetParameter", "Name": "/p"}


def test_branch_without_match_or_default_goes_to_the_next_step_and_operators(aws):
    # https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-branch.html
    aws.client("ssm").put_parameter(Name="/p", Value="Python3.12", Type="String")
    choices = [
        {"NextStep": "Hit", "And": [{"Variable": "{{ Read.Value }}", "EqualsIgnoreCase": "python3.12"},
                                    {"Variable": "{{ Read.Value }}", "StartsWith": "Py"},
                                    {"Variable": "{{ Read.Value }}", "EndsWith": ".12"},
                                    {"Not": {"Variable": "{{ Read.Value }}", "Contains": "node"}},
                                    {"Variable": "{{ Count }}", "NumericGreaterOrEquals": 3},
                                    {"Variable": "{{ Count }}", "NumericLesserOrEquals": 3}]}]
    content = {"schemaVersion": "0.3", "parameters": {"Count": {"type": "Integer", "default": 3}},
               "mainSteps": [
                   {"name": "Read", "action": "aws:executeAwsApi", "inputs": READ,
                    "outputs": [{"Name": "Value", "Selector": "$.Parameter.Value", "Type": "String"}]},
                   {"name": "NoMatch", "action": "aws:branch",
                    "inputs": {"Choices": [{"NextStep": "Hit", "Variable": "{{ Read.Value }}", "StringEquals": "x"}]}},
                   {"name": "Next", "action": "aws:branch", "inputs": {"Choices": choices}},
                   {"name": "Miss", "action": "aws:sleep", "isEnd": True, "inputs": {"Duration": "PT0S"}},
                   {"name": "Hit", "action": "aws:sleep", "inputs": {"Duration": "PT0S"}}]}
    execution = run(aws, content)
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    assert statuses(execution) == {"Read": "Success", "NoMatch": "Success", "Next": "Success", "Miss": "Skipped",
                                   "Hit": "Success"}
    content["mainSteps"][2]["inputs"]["Choices"][0]["Matches"] = "x"
    document(aws, "Bad", content)
    code, _, _ = error_of(aws.client("ssm").start_automation_execution, DocumentName="Bad")
    assert code == "InvalidDocumentContent"


def test_is_critical_on_failure_and_timeout(aws):
    # https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-actions.html (isCritical, timeoutSeconds)
    content = {"schemaVersion": "0.3", "mainSteps": [
        {"name": "Missing", "action": "aws:executeAwsApi", "onFailure": "step:After", "inputs": READ},
        {"name": "Skipped", "action": "aws:sleep", "inputs": {"Duration": "PT0S"}},
        {"name": "After", "action": "aws:sleep", "inputs": {"Duration": "PT0S"}}]}
    execution = run(aws, content)
    assert execution["AutomationExecutionStatus"] == "Failed"  # a critical step failed, even though After ran
    assert "ParameterNotFound" in execution["FailureMessage"] and statuses(execution)["After"] == "Success"
    content["mainSteps"][0]["isCritical"] = False
    assert run(aws, content, name="NotCritical")["AutomationExecutionStatus"] == "Success"

    aws.client("ssm").put_parameter(Name="/p", Value="v", Type="String")
    aws.control("POST", "/_localaws/faults", {"Rules": [{"Service": "ssm", "Operation": "GetParameter", "LatencyMs": 1500}]})
    slow = {"schemaVersion": "0.3", "mainSteps": [
        {"name": "Slow", "action": "aws:executeAwsApi", "timeoutSeconds": 1, "inputs": READ}]}
    execution = run(aws, slow, name="Slow")
    assert execution["AutomationExecutionStatus"] == "Failed" and "timed out" in execution["FailureMessage"]


def test_on_cancel_runs_the_named_step(aws):
    # https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-actions.html (onCancel)
    content = {"schemaVersion": "0.3", "mainSteps": [
        {"name": "Long", "action": "aws:sleep", "onCancel": "step:Cleanup", "inputs": {"Duration": "PT2S"}},
        {"name": "Work", "action": "aws:sleep", "inputs": {"Duration": "PT0S"}},
        {"name": "Cleanup", "action": "aws:executeAwsApi", "isEnd": True,
         "inputs": {"Service": "ssm", "Api": "PutParameter", "Name": "/cleaned", "Value": "yes", "Type": "String"}}]}
    document(aws, "Cancel", content)
    ssm = aws.client("ssm")
    started = ssm.start_automation_execution(DocumentName="Cancel")["AutomationExecutionId"]
    time.sleep(0.3)
    ssm.stop_automation_execution(AutomationExecutionId=started)
    execution = wait(aws, started)
    assert execution["AutomationExecutionStatus"] == "Cancelled"
    assert statuses(execution)["Work"] != "Success" and statuses(execution)["Cleanup"] == "Success"
    assert ssm.get_parameter(Name="/cleaned")["Parameter"]["Value"] == "yes"


def test_ssm_references_and_child_automation(aws):
    # https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-variables.html ({{ssm:name}})
    # https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-executeAutomation.html
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/app/target", Value="python3.12", Type="String")
    child = {"schemaVersion": "0.3", "parameters": {"Target": {"type": "String"}}, "mainSteps": [
        {"name": "Echo", "action": "aws:executeAwsApi",
         "inputs": {"Service": "ssm", "Api": "GetParameter", "Name": "/app/{{ Target }}"},
         "outputs": [{"Name": "Value", "Selector": "$.Parameter.Value", "Type": "String"}]}],
        "outputs": ["Echo.Value"]}
    ssm.put_parameter(Name="/app/python3.12", Value="resolved", Type="String")
    document(aws, "Child", child)
    parent = {"schemaVersion": "0.3", "mainSteps": [
        {"name": "Run", "action": "aws:executeAutomation",
         "inputs": {"DocumentName": "Child", "RuntimeParameters": {"Target": "{{ssm:/app/target}}"}}}]}
    execution = run(aws, parent, name="Parent")
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    step = execution["StepExecutions"][0]
    assert json.loads(step["Outputs"]["Output"][0]) == {"Echo.Value": ["resolved"]}
    inner = ssm.get_automation_execution(AutomationExecutionId=step["Outputs"]["ExecutionId"][0])["AutomationExecution"]
    assert inner["ParentAutomationExecutionId"] == execution["AutomationExecutionId"]

    missing = {"schemaVersion": "0.3", "mainSteps": [
        {"name": "Run", "action": "aws:executeAutomation",
         "inputs": {"DocumentName": "Child", "RuntimeParameters": {"Target": "{{ssm:/app/none}}"}}}]}
    failed = run(aws, missing, name="Missing")
    assert failed["AutomationExecutionStatus"] == "Failed" and "/app/none" in failed["FailureMessage"]


def aws_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[3]
