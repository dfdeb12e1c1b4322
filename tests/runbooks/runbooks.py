"""Helpers shared by the runbook tests: the runbooks as files, the SSM parameters the deployment writes
(from cdk/contracts/runtime-upgrades.json), deploying documents to the local AWS, running them."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "cdk" / "runbooks"
CONTRACT = ROOT / "cdk" / "contracts" / "runtime-upgrades.json"
MANIFEST = json.loads((RUNBOOKS / "runbooks.json").read_text())
ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-runtime-guard-automation"
RULE = "lambda-runtime-guard"


def text(runbook: str) -> str:
    return (RUNBOOKS / MANIFEST["documents"][runbook]["file"]).read_text()


def load(runbook: str) -> dict[str, Any]:
    """A fresh copy of the runbook, for linting or mutating in memory."""
    return copy.deepcopy(yaml.safe_load(text(runbook)))


def name(runbook: str) -> str:
    return MANIFEST["documents"][runbook]["name"]


def catalog() -> dict[str, dict[str, Any]]:
    """Document name → content, for the linter's checks of aws:executeAutomation children."""
    return {name(runbook): load(runbook) for runbook in MANIFEST["documents"]}


def contract() -> dict[str, Any]:
    return json.loads(CONTRACT.read_text())


def write_upgrade_parameters(aws, account: str | None = None) -> None:
    """The SSM parameters the deployment writes in every member account (cdk/contracts/README.md)."""
    ssm = aws.client("ssm", account)
    for name, value in contract()["parameters"].items():
        ssm.put_parameter(Name=name, Value=value, Type="String")


def deploy(aws, *runbooks: str, account: str | None = None, content: dict[str, Any] | None = None) -> None:
    """Creates the documents as CDK does (YAML content, the manifest's names); content overrides the file."""
    ssm = aws.client("ssm", account)
    for runbook in runbooks or tuple(MANIFEST["documents"]):
        body = yaml.safe_dump(content) if content is not None else text(runbook)
        ssm.create_document(Name=name(runbook), DocumentType="Automation", DocumentFormat="YAML", Content=body)


def start(aws, runbook: str, account: str | None = None, **parameters: Any) -> str:
    values = {"AutomationAssumeRole": [ROLE]}
    for key, value in parameters.items():
        values[key] = value if isinstance(value, list) else [str(value).lower() if isinstance(value, bool) else str(value)]
    return aws.client("ssm", account).start_automation_execution(DocumentName=name(runbook),
                                                                 Parameters=values)["AutomationExecutionId"]


POLLS = {"GetAutomationExecution": 0}  # this helper's own calls, to tell them from the runbook's


def wait(aws, execution_id: str, account: str | None = None, seconds: float = 30) -> dict[str, Any]:
    ssm = aws.client("ssm", account)
    deadline = time.time() + seconds
    while time.time() < deadline:
        POLLS["GetAutomationExecution"] += 1
        execution = ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        if execution["AutomationExecutionStatus"] not in ("Pending", "InProgress", "Cancelling"):
            return execution
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_id} did not finish in {seconds}s")


def run(aws, runbook: str, account: str | None = None, **parameters: Any) -> dict[str, Any]:
    return wait(aws, start(aws, runbook, account, **parameters), account)


def steps(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["StepName"]: s for s in execution["StepExecutions"]}


def ran(execution: dict[str, Any]) -> list[str]:
    """The steps that ran, in order."""
    return [s["StepName"] for s in execution["StepExecutions"] if s["StepStatus"] in ("Success", "Failed")]


def child(aws, execution: dict[str, Any], account: str | None = None) -> dict[str, Any]:
    """The child execution RunWithSuccessor started (UpgradeLambdaRuntime with an empty TargetRuntime)."""
    step = steps(execution)["RunWithSuccessor"]
    return wait(aws, step["Outputs"]["ExecutionId"][0], account)


# ------------------------------------------------------------------ Config compliance as the emulator stores it

def rule_arn(account: str = ACCOUNT) -> str:
    return f"arn:aws:lambda:{REGION}:{account}:function:lambda-runtime-guard-rule"


def config_rule(aws, rule: str = RULE, account: str | None = None) -> str:
    """A recording Config and a custom Lambda rule; returns the Runtime API the rule's invocations go to."""
    import localaws_conftest as localaws

    localaws.recording(aws, account)
    localaws.custom_rule(aws, rule, rule_arn(account or ACCOUNT), account=account)
    return aws.bind(rule_arn(account or ACCOUNT))


def evaluate(aws, api: str, verdicts: dict[str, str], rule: str = RULE, account: str | None = None) -> None:
    """Answers the rule's invocations as the rule would, putting verdicts[resourceId] with each event's
    result token (other resources' invocations are answered without an evaluation)."""
    import datetime as dt

    pending = dict(verdicts)
    config = aws.client("config", account)
    while pending:
        request_id, event = aws.next_invocation(api)
        item = json.loads(event["invokingEvent"]).get("configurationItem") or {}
        resource = item.get("resourceId")
        if event.get("configRuleName") == rule and resource in pending:
            config.put_evaluations(ResultToken=event["resultToken"], Evaluations=[{
                "ComplianceResourceType": "AWS::Lambda::Function", "ComplianceResourceId": resource,
                "ComplianceType": pending.pop(resource), "Annotation": "runtime verdict (test)",
                "OrderingTimestamp": dt.datetime.now(dt.timezone.utc)}])
        aws.answer(api, request_id)


def function(aws, name_: str, runtime: str = "python3.8", account: str | None = None, **extra: Any) -> dict[str, Any]:
    import localaws_conftest as localaws

    return localaws.create_function(aws, name_, runtime, account=account, **extra)


def stats(aws) -> dict[str, int]:
    return aws.control("GET", "/_localaws/stats")["Calls"]


def localaws_zip() -> bytes:
    import localaws_conftest as localaws

    return localaws.zip_bytes()
