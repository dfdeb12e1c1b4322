"""aws:executeScript and rate-controlled aws:executeAutomation (Targets/TargetParameterName, MaxConcurrency,
MaxErrors) as the local AWS runs them; each test names the AWS page the behaviour follows (see the comments in
localaws/automation.py)."""

from __future__ import annotations

import json
import time

import botocore.exceptions
import pytest

from conftest import ADMIN

ROLE = f"arn:aws:iam::{ADMIN}:role/automation"


def document(aws, name: str, content: dict) -> None:
    aws.client("ssm").create_document(Name=name, DocumentType="Automation", DocumentFormat="JSON",
                                      Content=json.dumps(content))


def wait(aws, execution_id: str, seconds: float = 30) -> dict:
    ssm = aws.client("ssm")
    deadline = time.time() + seconds
    while time.time() < deadline:
        execution = ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        if execution["AutomationExecutionStatus"] not in ("Pending", "InProgress", "Cancelling"):
            return execution
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_id} did not finish")


def run(aws, content: dict, name: str = "Doc", **parameters) -> dict:
    document(aws, name, content)
    values = {k: v if isinstance(v, list) else [str(v)] for k, v in parameters.items()}
    started = aws.client("ssm").start_automation_execution(DocumentName=name, **({"Parameters": values} if values else {}))
    return wait(aws, started["AutomationExecutionId"])


def step(execution: dict, name: str) -> dict:
    return next(s for s in execution["StepExecutions"] if s["StepName"] == name)


def script(source: str, payload: dict | None = None, runtime: str = "python3.11", outputs: list | None = None,
           role: bool = True, **extra) -> dict:
    """A one-step document running `source` (its handler is `handler`)."""
    content = {"schemaVersion": "0.3", "parameters": {"Word": {"type": "String", "default": "hello"},
                                                      "Count": {"type": "Integer", "default": 3}},
               "mainSteps": [{"name": "Script", "action": "aws:executeScript", **extra,
                              "inputs": {"Runtime": runtime, "Handler": "handler", "Script": source,
                                         "InputPayload": payload or {}},
                              "outputs": outputs or []}]}
    if role:
        content["assumeRole"] = "{{ AutomationAssumeRole }}"
        content["parameters"]["AutomationAssumeRole"] = {"type": "String", "default": ROLE}
    return content


# ------------------------------------------------------------------ aws:executeScript
# https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-executeScript.html

def test_the_handler_gets_input_payload_and_outputs_select_from_the_payload(aws):
    source = ("def handler(events, context):\n"
              "    return {'echo': events['word'] * 2, 'count': events['count'] + 1,\n"
              "            'names': ['a', 'b'], 'flag': True}\n")
    content = script(source, {"word": "{{ Word }}", "count": "{{ Count }}"}, outputs=[
        {"Name": "Echo", "Selector": "$.Payload.echo", "Type": "String"},
        {"Name": "Count", "Selector": "$.Payload.count", "Type": "Integer"},
        {"Name": "Names", "Selector": "$.Payload.names", "Type": "StringList"},
        {"Name": "Flag", "Selector": "$.Payload.flag", "Type": "Boolean"}])
    content["outputs"] = ["Script.Echo", "Script.Names"]
    execution = run(aws, content, Word="ab")
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    outputs = step(execution, "Script")["Outputs"]
    assert outputs["Echo"] == ["abab"] and outputs["Count"] == ["4"] and outputs["Names"] == ["a", "b"]
    assert json.loads(outputs["OutputPayload"][0])["Payload"]["flag"] is True
    assert execution["Outputs"] == {"Script.Echo": ["abab"], "Script.Names": ["a", "b"]}


def test_the_script_runs_in_its_own_process_with_the_assumed_role_against_this_server(aws):
    aws.client("ssm").put_parameter(Name="/local/only", Value="here", Type="String")
    source = ("import os, sys, boto3\n"
              "STATE = []\n"
              "def handler(events, context):\n"
              "    STATE.append(1)\n"
              "    return {'arn': boto3.client('sts').get_caller_identity()['Arn'],\n"
              "            'value': boto3.client('ssm').get_parameter(Name='/local/only')['Parameter']['Value'],\n"
              "            'endpoint': os.environ.get('AWS_ENDPOINT_URL'), 'in_server': 'localaws' in sys.modules,\n"
              "            'calls': len(STATE)}\n")
    content = script(source, outputs=[{"Name": "All", "Selector": "$.Payload", "Type": "StringMap"}])
    for attempt in range(2):  # module state does not survive: a new process each time
        execution = run(aws, content, name=f"Doc{attempt}")
        assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
        payload = json.loads(step(execution, "Script")["Outputs"]["OutputPayload"][0])["Payload"]
        assert payload["arn"].startswith(f"arn:aws:sts::{ADMIN}:assumed-role/automation/")
        assert payload["value"] == "here" and payload["endpoint"] == aws.url
        assert payload["in_server"] is False and payload["calls"] == 1


def test_without_an_assume_role_the_script_has_no_credentials(aws):
    # automation-document-script.html: "If no role is found, Automation attempts to run the ... script ...
    # without any permissions ... the step containing the script fails".
    source = "import boto3\ndef handler(events, context):\n    return boto3.client('sts').get_caller_identity()\n"
    execution = run(aws, script(source, role=False))
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert "NoCredentialsError" in step(execution, "Script")["FailureMessage"]


def test_an_exception_fails_the_step_with_its_message(aws):
    source = "def handler(events, context):\n    raise ValueError('2 Config rules match: [a, b]')\n"
    execution = run(aws, script(source))
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert "ValueError: 2 Config rules match: [a, b]" in execution["FailureMessage"]
    assert "Traceback" in step(execution, "Script")["FailureMessage"]


def test_a_missing_handler_fails_the_step(aws):
    execution = run(aws, script("def main(events, context):\n    return 1\n"))
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert "Handler 'handler' is not a function defined in Script" in execution["FailureMessage"]


def test_timeout_seconds_fails_the_step(aws):
    source = "import time\ndef handler(events, context):\n    time.sleep(10)\n"
    started = time.time()
    execution = run(aws, script(source, timeoutSeconds=1))
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert "timed out after 1 seconds" in execution["FailureMessage"]
    assert time.time() - started < 8


def test_a_payload_over_100_kb_fails_the_step(aws):
    # "Payload ... Up to 100KB is returned": localaws fails rather than truncating (not verified on AWS).
    execution = run(aws, script("def handler(events, context):\n    return 'x' * 200000\n"))
    assert execution["AutomationExecutionStatus"] == "Failed" and "100 KB" in execution["FailureMessage"]


def test_an_unsupported_runtime_is_refused(aws):
    document(aws, "Py312", script("def handler(e, c):\n    return 1\n", runtime="python3.12"))
    with pytest.raises(botocore.exceptions.ClientError) as error:
        aws.client("ssm").start_automation_execution(DocumentName="Py312")
    assert error.value.response["Error"]["Code"] == "InvalidDocumentContent"
    assert "python3.12" in error.value.response["Error"]["Message"]


@pytest.mark.parametrize("runtime,message", [
    ("python3.8", "stopped running Python 3.6, 3.7 and 3.8"),  # the page's notice: not runnable after 2025-02-18
    ("PowerShell 7.4", "localaws runs Python scripts only"),
])
def test_retired_and_powershell_runtimes_fail_the_step(aws, runtime, message):
    execution = run(aws, script("def handler(e, c):\n    return 1\n", runtime=runtime))
    assert execution["AutomationExecutionStatus"] == "Failed" and message in execution["FailureMessage"]


# ------------------------------------------------------------------ aws:executeAutomation with targets
# https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-executeAutomation.html
# https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_StartAutomationExecution.html (Targets,
# TargetParameterName, MaxConcurrency, MaxErrors) and running-automations-scale-controls.html

CHILD = {"schemaVersion": "0.3",
         "parameters": {"Name": {"type": "String"}, "Pause": {"type": "String", "default": "PT0S"},
                        "Suffix": {"type": "String", "default": ""}},
         "mainSteps": [
             {"name": "Pause", "action": "aws:sleep", "inputs": {"Duration": "{{ Pause }}"}},
             {"name": "Read", "action": "aws:executeAwsApi",  # fails for a name without a parameter
              "inputs": {"Service": "ssm", "Api": "GetParameter", "Name": "/targets/{{ Name }}"},
              "outputs": [{"Name": "Value", "Selector": "$.Parameter.Value", "Type": "String"}]}],
         "outputs": ["Read.Value"]}


def parent(values, concurrency: str = "10", errors: str = "100%", pause: str = "PT0S", **target) -> dict:
    """A script lists the values (a StringList output), then one aws:executeAutomation step runs Child per value."""
    inputs = {"DocumentName": "Child", "TargetParameterName": "Name",
              "Targets": [{"Key": "ParameterValues", "Values": "{{ List.Values }}"}],
              "MaxConcurrency": concurrency, "MaxErrors": errors,
              "RuntimeParameters": {"Pause": pause, "Suffix": "shared"}}
    inputs.update(target)
    return {"schemaVersion": "0.3", "assumeRole": "{{ AutomationAssumeRole }}",
            "parameters": {"AutomationAssumeRole": {"type": "String", "default": ROLE}},
            "mainSteps": [
                {"name": "List", "action": "aws:executeScript",
                 "inputs": {"Runtime": "python3.11", "Handler": "handler", "InputPayload": {"values": values},
                            "Script": "def handler(events, context):\n    return events['values']\n"},
                 "outputs": [{"Name": "Values", "Selector": "$.Payload", "Type": "StringList"}]},
                {"name": "RunAll", "action": "aws:executeAutomation", "inputs": inputs}]}


def children(aws, rate_controlled: str) -> dict[str, dict]:
    """The child executions of a rate-controlled execution, by their target value."""
    ssm = aws.client("ssm")
    rows = ssm.describe_automation_executions(Filters=[{"Key": "ParentExecutionId", "Values": [rate_controlled]}])
    out = {}
    for row in rows["AutomationExecutionMetadataList"]:
        child = wait(aws, row["AutomationExecutionId"])
        out[child["Parameters"]["Name"][0]] = child
    return out


def good(aws, *names: str) -> None:
    for name in names:
        aws.client("ssm").put_parameter(Name=f"/targets/{name}", Value=name.upper(), Type="String")


def test_targets_start_one_child_per_value_with_the_target_parameter(aws):
    good(aws, "a", "b", "c")
    document(aws, "Child", CHILD)
    execution = run(aws, parent(["a", "b", "c"]))
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    outputs = step(execution, "RunAll")["Outputs"]
    assert outputs["Status"] == ["Success"]
    controlled = wait(aws, outputs["ExecutionId"][0])
    assert controlled["ParentAutomationExecutionId"] == execution["AutomationExecutionId"]
    assert controlled["TargetParameterName"] == "Name" and controlled["MaxErrors"] == "100%"
    assert controlled["ResolvedTargets"]["ParameterValues"] == ["a", "b", "c"]
    assert [(s["StepName"], s["Action"], s["StepStatus"]) for s in controlled["StepExecutions"]] == [
        ("a", "aws:executeAutomation", "Success"), ("b", "aws:executeAutomation", "Success"),
        ("c", "aws:executeAutomation", "Success")]
    runs = children(aws, controlled["AutomationExecutionId"])
    assert sorted(runs) == ["a", "b", "c"]
    for value, child in runs.items():
        assert child["Parameters"]["Suffix"] == ["shared"] and child["Outputs"]["Read.Value"] == [value.upper()]


def test_max_concurrency_caps_the_children_running_at_once_after_a_single_first_one(aws):
    # running-automations-scale-controls.html: one target first, then exponentially more, up to MaxConcurrency.
    values = [f"v{i}" for i in range(5)]
    good(aws, *values)
    document(aws, "Child", CHILD)
    execution = run(aws, parent(values, concurrency="2", pause="PT1S"))
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    runs = children(aws, step(execution, "RunAll")["Outputs"]["ExecutionId"][0])
    spans = sorted((c["ExecutionStartTime"], c["ExecutionEndTime"]) for c in runs.values())
    overlap = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert overlap == 2
    first_end = spans[0][1]
    assert all(start >= first_end for start, _ in spans[1:]), "the first child runs alone"


@pytest.mark.parametrize("values,errors,ran,status", [
    (["bad1", "a", "b"], "0", ["bad1"], "Failed"),  # 0: stop after the first error
    (["bad1", "bad2", "a"], "1", ["bad1", "bad2"], "Failed"),  # 1: stop when the second error is received
    (["bad1", "a", "b"], "100%", ["bad1", "a", "b"], "Failed"),  # never stop; a failed child still fails the run
    (["a", "b", "c"], "0", ["a", "b", "c"], "Success"),
])
def test_max_errors_stops_starting_children_after_the_threshold(aws, values, errors, ran, status):
    good(aws, "a", "b", "c")
    document(aws, "Child", CHILD)
    execution = run(aws, parent(values, concurrency="1", errors=errors))
    assert execution["AutomationExecutionStatus"] == status
    controlled = wait(aws, step(execution, "RunAll")["Outputs"]["ExecutionId"][0])
    assert controlled["AutomationExecutionStatus"] == status
    statuses = {s["StepName"]: s["StepStatus"] for s in controlled["StepExecutions"]}
    assert sorted(children(aws, controlled["AutomationExecutionId"])) == sorted(ran)
    for value in values:
        expected = "Cancelled" if value not in ran else "Failed" if value.startswith("bad") else "Success"
        assert statuses[value] == expected, (value, statuses)
    if status == "Failed":
        assert "failed" in step(execution, "RunAll")["FailureMessage"]


@pytest.mark.parametrize("change,message", [
    ({"TargetParameterName": None}, "TargetParameterName and Targets must be specified together"),
    ({"Targets": [{"Key": "tag:team", "Values": ["x"]}]}, "InvalidTarget"),
    ({"MaxConcurrency": "0"}, "maxConcurrency"),
    ({"MaxErrors": "ten"}, "maxErrors"),
    ({"TargetParameterName": "Nope"}, "Nope is not a parameter of Child"),
])
def test_malformed_targets_fail_the_step(aws, change, message):
    document(aws, "Child", CHILD)
    content = parent(["a"])
    inputs = content["mainSteps"][1]["inputs"]
    for key, value in change.items():
        if value is None:
            inputs.pop(key)
        else:
            inputs[key] = value
    execution = run(aws, content)
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert message in step(execution, "RunAll")["FailureMessage"], step(execution, "RunAll")["FailureMessage"]


def test_more_than_50_target_values_fail_the_step(aws):
    # API_Target.html: Values, "Array Members: Maximum number of 50 items" (the service model's limit)
    document(aws, "Child", CHILD)
    execution = run(aws, parent([f"v{i}" for i in range(51)]))
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert "ValidationException" in step(execution, "RunAll")["FailureMessage"]


def test_start_automation_execution_with_targets_is_rate_controlled_too(aws):
    good(aws, "a", "b")
    document(aws, "Child", CHILD)
    ssm = aws.client("ssm")
    started = ssm.start_automation_execution(DocumentName="Child", TargetParameterName="Name",
                                             Targets=[{"Key": "ParameterValues", "Values": ["a", "b"]}],
                                             MaxConcurrency="1", MaxErrors="0")["AutomationExecutionId"]
    execution = wait(aws, started)
    assert execution["AutomationExecutionStatus"] == "Success"
    assert sorted(children(aws, started)) == ["a", "b"]
    with pytest.raises(botocore.exceptions.ClientError) as error:
        ssm.start_automation_execution(DocumentName="Child", TargetParameterName="Name")
    assert error.value.response["Error"]["Code"] == "InvalidAutomationExecutionParametersException"


def test_start_accepts_the_default_and_latest_version_names(aws):
    """DocumentVersion may be a number, $DEFAULT or $LATEST (API_StartAutomationExecution)."""
    ssm = aws.client("ssm")
    ssm.create_document(Name="tiny", DocumentType="Automation", DocumentFormat="YAML",
                        Content="schemaVersion: '0.3'\nmainSteps:\n  - name: Wait\n    action: aws:sleep\n    inputs:\n      Duration: PT0S\n")
    for version in ("$DEFAULT", "$LATEST", "1"):
        started = ssm.start_automation_execution(DocumentName="tiny", DocumentVersion=version)
        assert started["AutomationExecutionId"]
    with pytest.raises(ssm.exceptions.ClientError):
        ssm.start_automation_execution(DocumentName="tiny", DocumentVersion="7")
