"""SSM Automation: StartAutomationExecution / GetAutomationExecution running the step types this
project's runbooks use — aws:executeAwsApi (against this same server, through boto3, so the service
model validates every parameter), aws:waitForAwsResourceProperty, aws:assertAwsResourceProperty,
aws:branch, aws:sleep — with outputs, onFailure and document outputs. moto keeps the documents."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from botocore import xform_name
from moto.ssm.models import ssm_backends

from .protocol import AwsError, now

_REFERENCE = re.compile(r"\{\{\s*(ssm:[A-Za-z0-9_./-]+|[A-Za-z0-9_.:]+)\s*\}\}")
# aws:branch operators Automation accepts (automation-action-branch.md); anything else is refused.
OPERATORS = {"StringEquals", "EqualsIgnoreCase", "StartsWith", "EndsWith", "Contains", "NumericEquals",
             "NumericGreater", "NumericLesser", "NumericGreaterOrEquals", "NumericLesserOrEquals",
             "BooleanEquals", "And", "Or", "Not"}
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


class StepFailed(Exception):
    pass


@dataclass
class StepRecord:
    name: str
    action: str
    on_failure: str
    inputs: dict[str, Any] = field(default_factory=dict)
    status: str = "Pending"
    outputs: dict[str, list[str]] = field(default_factory=dict)
    failure: str | None = None
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"StepName": self.name, "Action": self.action, "StepStatus": self.status,
                               "StepExecutionId": self.id, "OnFailure": self.on_failure,
                               "Inputs": {k: json.dumps(v) if not isinstance(v, str) else v for k, v in self.inputs.items()}}
        if self.outputs:
            out["Outputs"] = self.outputs
        if self.failure:
            out["FailureMessage"] = self.failure
        if self.started:
            out["ExecutionStartTime"] = self.started.timestamp()
        if self.ended:
            out["ExecutionEndTime"] = self.ended.timestamp()
        return out


@dataclass
class Execution:
    id: str
    account: str
    region: str
    document: str
    version: str
    parameters: dict[str, list[str]]
    status: str = "Pending"
    steps: list[StepRecord] = field(default_factory=list)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    failure: str | None = None
    started: dt.datetime = field(default_factory=now)
    ended: dt.datetime | None = None
    done: threading.Event = field(default_factory=threading.Event)
    cancel_requested: bool = False
    parent: str | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AutomationExecutionId": self.id, "DocumentName": self.document, "DocumentVersion": self.version,
            "AutomationExecutionStatus": self.status, "ExecutionStartTime": self.started.timestamp(),
            "StepExecutions": [s.to_api() for s in self.steps], "Parameters": self.parameters,
            "Outputs": self.outputs, "Mode": "Auto", "ExecutedBy": f"arn:aws:iam::{self.account}:root",
        }
        if self.ended:
            out["ExecutionEndTime"] = self.ended.timestamp()
        if self.failure:
            out["FailureMessage"] = self.failure
        if self.parent:
            out["ParentAutomationExecutionId"] = self.parent
        return out


class AutomationEngine:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.base_url = ""  # this server's own URL, learnt from the first request
        self.max_sleep_seconds = 5.0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.executions: dict[str, Execution] = {}

    # ---------------------------------------------------------------- API

    def start(self, account: str, region: str, params: dict[str, Any], parent: str | None = None) -> Execution:
        name = params["DocumentName"]
        try:
            document = ssm_backends[account][region].get_document(name, params.get("DocumentVersion"), None, "JSON")
        except Exception:
            raise AwsError("AutomationDefinitionNotFoundException", f"Automation definition {name} not found.")
        content = json.loads(document["Content"])
        if document.get("DocumentType") not in (None, "Automation"):
            raise AwsError("InvalidAutomationExecutionParametersException", f"{name} is not an Automation document.")
        _check_operators(content)
        values = self._parameters(content, params.get("Parameters") or {})
        execution = Execution(str(uuid.uuid4()), account, region, name, str(document.get("DocumentVersion", "1")),
                              params.get("Parameters") or {}, parent=parent)
        execution.steps = [StepRecord(s["name"], s["action"], s.get("onFailure", "Abort")) for s in content.get("mainSteps", [])]
        with self.lock:
            self.executions[execution.id] = execution
        thread = threading.Thread(target=self._run, args=(execution, content, values), daemon=True,
                                  name=f"automation {execution.id}")
        thread.start()
        return execution

    def get(self, account: str, execution_id: str) -> Execution:
        with self.lock:
            execution = self.executions.get(execution_id)
        if execution is None or execution.account != account:
            raise AwsError("AutomationExecutionNotFoundException", f"Automation Execution {execution_id} not found.")
        return execution

    def handle(self, operation: str, account: str, region: str, params: dict[str, Any]) -> Any:
        if operation == "StartAutomationExecution":
            return {"AutomationExecutionId": self.start(account, region, params).id}
        if operation == "GetAutomationExecution":
            return {"AutomationExecution": self.get(account, params["AutomationExecutionId"]).to_api()}
        if operation == "StopAutomationExecution":
            execution = self.get(account, params["AutomationExecutionId"])
            if execution.status in ("Pending", "InProgress"):
                execution.cancel_requested = True  # the running step finishes; then onCancel, then Cancelled
                execution.status = "Cancelling"
            return {}
        if operation == "DescribeAutomationExecutions":
            with self.lock:
                rows = [e for e in self.executions.values() if e.account == account]
            return {"AutomationExecutionMetadataList": [
                {"AutomationExecutionId": e.id, "DocumentName": e.document, "AutomationExecutionStatus": e.status,
                 "ExecutionStartTime": e.started.timestamp()} for e in rows]}
        return NotImplemented

    # ---------------------------------------------------------------- execution

    @staticmethod
    def _parameters(content: dict[str, Any], given: dict[str, list[str]]) -> dict[str, Any]:
        declared = content.get("parameters", {})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise AwsError("InvalidAutomationExecutionParametersException", f"Parameter {unknown[0]} is not defined in the document.")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            kind = spec.get("type", "String")
            if name in given:
                raw = given[name]
            elif "default" in spec:
                values[name] = spec["default"]
                continue
            else:
                raise AwsError("InvalidAutomationExecutionParametersException", f"Parameter {name} is required.")
            if kind in ("String", "Boolean", "Integer") and len(raw) != 1:
                raise AwsError("InvalidAutomationExecutionParametersException",
                               f"Parameter {name} takes exactly one value.")
            if kind == "StringList":
                values[name] = list(raw)
            elif kind == "Boolean":
                if str(raw[0]).lower() not in ("true", "false"):
                    raise AwsError("InvalidAutomationExecutionParametersException",
                                   f"Parameter {name} must be a Boolean (true or false).")
                values[name] = str(raw[0]).lower() == "true"
            elif kind == "Integer":
                try:
                    values[name] = int(raw[0])
                except ValueError:
                    raise AwsError("InvalidAutomationExecutionParametersException", f"Parameter {name} must be an integer.")
            else:
                values[name] = raw[0] if raw else ""
            pattern = spec.get("allowedPattern")
            if pattern and kind == "String" and not re.search(pattern, values[name]):
                raise AwsError("InvalidAutomationExecutionParametersException",
                               f"Parameter \"{name}\" has value \"{values[name]}\" not matching \"{pattern}\".")
            allowed = spec.get("allowedValues")
            if allowed and values[name] not in allowed:
                raise AwsError("InvalidAutomationExecutionParametersException",
                               f"Parameter {name} value {values[name]} is not one of {allowed}.")
        return values

    def _run(self, execution: Execution, content: dict[str, Any], values: dict[str, Any]) -> None:
        execution.status = "InProgress"
        steps = content.get("mainSteps", [])
        index = {s["name"]: i for i, s in enumerate(steps)}
        context = {"parameters": values, "outputs": {}, "execution": execution}
        position = 0
        critical_failure: str | None = None
        cancelled = False
        last: dict[str, Any] | None = None
        try:
            session = self._session(execution, values, content.get("assumeRole"))
            context["session"] = session
            while 0 <= position < len(steps):
                step = steps[position]
                if execution.cancel_requested and not cancelled:
                    # onCancel: Abort (default) or step:Name, which then runs (automation-actions.md).
                    cancelled = True
                    on_cancel = (last or step).get("onCancel", "Abort")
                    if not on_cancel.startswith("step:"):
                        break
                    position = index[on_cancel[5:]]
                    continue
                record = execution.steps[position]
                record.status, record.started = "InProgress", now()
                attempts = int(step.get("maxAttempts", 1))
                next_step: str | None = None
                for attempt in range(attempts):
                    try:
                        record.inputs = self._substitute(step.get("inputs", {}), context)
                        next_step = self._step(session, execution, step, record, context)
                        record.status, record.failure = "Success", None
                        break
                    except StepFailed as failure:
                        record.status, record.failure = "Failed", str(failure)
                        if attempt + 1 < attempts:
                            time.sleep(0.1)
                record.ended = now()
                last = step
                if record.status == "Failed":
                    on_failure = step.get("onFailure", "Abort")
                    # isCritical defaults to true, false with onFailure Continue; a failed critical step makes
                    # the execution Failed even when onFailure goes on (automation-actions.md, isCritical).
                    if _is_critical(step) and critical_failure is None:
                        critical_failure = f"Step fails when it is {step['action']}. {record.failure}"
                    if on_failure == "Continue":
                        position += 1
                        continue
                    if on_failure.startswith("step:"):
                        position = index[on_failure[5:]]
                        continue
                    critical_failure = f"Step fails when it is {step['action']}. {record.failure}"
                    break
                if step.get("isEnd"):
                    break
                target = next_step or step.get("nextStep")
                position = index[target] if target else position + 1
            if cancelled or execution.cancel_requested:
                execution.status = "Cancelled"
            elif critical_failure:
                execution.status, execution.failure = "Failed", critical_failure
            else:
                execution.status = "Success"
            for skipped in execution.steps:
                if skipped.status == "Pending":
                    skipped.status = "Cancelled" if execution.status != "Success" else "Skipped"
            for reference in content.get("outputs", []):
                value = context["outputs"].get(reference)
                if value is not None:
                    execution.outputs[reference] = value if isinstance(value, list) else [str(value)]
        except Exception as error:  # a malformed document or an emulator bug: the execution fails, loudly
            execution.status, execution.failure = "Failed", f"{type(error).__name__}: {error}"
        finally:
            execution.ended = now()
            execution.done.set()

    def _session(self, execution: Execution, values: dict[str, Any], assume_role: str | None) -> dict[str, Any]:
        """boto3 client arguments for the steps: the assumed role's credentials when the document names
        one (as Automation does), else the caller's account."""
        base = {"endpoint_url": self.base_url, "region_name": execution.region,
                "config": botocore.config.Config(retries={"total_max_attempts": 5, "mode": "standard"})}
        role = self._substitute(assume_role, {"parameters": values, "outputs": {}, "execution": execution}) if assume_role else None
        if role:
            sts = boto3.client("sts", aws_access_key_id="testing", aws_secret_access_key="testing", **base)
            keys = sts.assume_role(RoleArn=role, RoleSessionName=f"automation-{execution.id[:8]}")["Credentials"]
            return {**base, "aws_access_key_id": keys["AccessKeyId"], "aws_secret_access_key": keys["SecretAccessKey"],
                    "aws_session_token": keys["SessionToken"]}
        return {**base, "aws_access_key_id": "testing", "aws_secret_access_key": "testing", "account": execution.account}

    @staticmethod
    def _client(session: dict[str, Any], service: str):
        arguments = {k: v for k, v in session.items() if k != "account"}
        client = boto3.client(service.lower(), **arguments)
        if "account" in session:
            account = session["account"]
            client.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
        return client

    def _call(self, session: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        service, api = inputs.get("Service"), inputs.get("Api")
        if not service or not api:
            raise StepFailed("Service and Api are required inputs")
        params = {k: v for k, v in inputs.items() if k not in ("Service", "Api", "PropertySelector", "DesiredValues")}
        try:
            client = self._client(session, service)
            return getattr(client, xform_name(api))(**params)
        except botocore.exceptions.ParamValidationError as error:
            raise StepFailed(f"Invalid parameters for {service}.{api}: {error}")
        except botocore.exceptions.ClientError as error:
            raise StepFailed(f"An error occurred ({error.response['Error'].get('Code')}) when calling the {api} operation: "
                             f"{error.response['Error'].get('Message')}")
        except AttributeError:
            raise StepFailed(f"{service} has no API {api}")

    def _step(self, session: dict[str, Any], execution: Execution, step: dict[str, Any], record: StepRecord,
              context: dict[str, Any]) -> str | None:
        action, inputs = step["action"], record.inputs
        if action == "aws:executeAwsApi":
            response = self._call_with_timeout(session, inputs, step.get("timeoutSeconds"))
            for output in step.get("outputs", []):
                value = select(response, output["Selector"])
                typed = _typed(value, output.get("Type", "String"))
                context["outputs"][f"{step['name']}.{output['Name']}"] = typed
                record.outputs[output["Name"]] = typed if isinstance(typed, list) else [json.dumps(typed) if not isinstance(typed, str) else typed]
            return None
        if action in ("aws:waitForAwsResourceProperty", "aws:assertAwsResourceProperty"):
            desired = [str(v) for v in inputs.get("DesiredValues", [])]
            deadline = time.time() + float(step.get("timeoutSeconds", 3600))
            while True:
                value = select(self._call(session, inputs), inputs.get("PropertySelector", "$"))
                if str(value) in desired or (isinstance(value, bool) and str(value).lower() in desired):
                    return None
                if action == "aws:assertAwsResourceProperty":
                    raise StepFailed(f"Property {inputs.get('PropertySelector')} is {value!r}, expected one of {desired}")
                if time.time() > deadline:
                    raise StepFailed(f"Timed out waiting for {inputs.get('PropertySelector')} to be one of {desired}; last {value!r}")
                time.sleep(0.2)
        if action == "aws:branch":
            for choice in inputs.get("Choices", []):
                if _choice_matches(choice):
                    return choice["NextStep"]
            # No match and no Default: Automation goes on with the next step (automation-action-branch.md).
            return inputs.get("Default")
        if action == "aws:sleep":
            match = _DURATION.match(inputs.get("Duration", "PT0S"))
            if not match:
                raise StepFailed(f"Invalid Duration {inputs.get('Duration')!r}")
            hours, minutes, seconds = (int(g or 0) for g in match.groups())
            time.sleep(min(hours * 3600 + minutes * 60 + seconds, self.max_sleep_seconds))
            return None
        if action == "aws:executeAutomation":
            return self._child(execution, step, record, context)
        raise StepFailed(f"Action {action} is not supported by localaws")

    def _call_with_timeout(self, session: dict[str, Any], inputs: dict[str, Any], timeout: Any) -> dict[str, Any]:
        """timeoutSeconds on any action: the step fails when the call outlasts it (automation-actions.md)."""
        if not timeout:
            return self._call(session, inputs)
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["response"] = self._call(session, inputs)
            except StepFailed as failure:
                box["failure"] = failure

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(float(timeout))
        if worker.is_alive():
            raise StepFailed(f"Step timed out after {timeout} seconds")
        if "failure" in box:
            raise box["failure"]
        return box["response"]

    def _child(self, execution: Execution, step: dict[str, Any], record: StepRecord, context: dict[str, Any]) -> None:
        """aws:executeAutomation: runs the child to its end; fails unless it succeeds
        (https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-executeAutomation.html)."""
        inputs = record.inputs
        parameters = {k: v if isinstance(v, list) else [str(v).lower() if isinstance(v, bool) else str(v)]
                      for k, v in (inputs.get("RuntimeParameters") or {}).items()}
        request = {"DocumentName": inputs["DocumentName"], "Parameters": parameters}
        if inputs.get("DocumentVersion"):
            request["DocumentVersion"] = str(inputs["DocumentVersion"])
        try:
            child = self.start(execution.account, execution.region, request, parent=execution.id)
        except AwsError as error:
            raise StepFailed(f"{error.code}: {error.message}")
        child.done.wait()
        outputs = {"ExecutionId": child.id, "Status": child.status, "Output": json.dumps(child.outputs)}
        for name, value in outputs.items():
            context["outputs"][f"{step['name']}.{name}"] = value
            record.outputs[name] = [value]
        if child.status != "Success":
            raise StepFailed(f"Child automation {child.id} ended {child.status}: {child.failure}")
        return None

    def _substitute(self, value: Any, context: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            return {k: self._substitute(v, context) for k, v in value.items()}
        if isinstance(value, list):
            return [self._substitute(v, context) for v in value]
        if not isinstance(value, str):
            return value
        whole = _REFERENCE.fullmatch(value.strip())
        if whole:
            return self._resolve(whole.group(1), context)
        return _REFERENCE.sub(lambda m: str(self._resolve(m.group(1), context)), value)

    def _resolve(self, name: str, context: dict[str, Any]) -> Any:
        execution: Execution = context["execution"]
        specials = {"automation:EXECUTION_ID": execution.id, "global:ACCOUNT_ID": execution.account,
                    "global:REGION": execution.region, "global:DATE_TIME": now().strftime("%Y-%m-%d_%H.%M.%S"),
                    "global:DATE": now().strftime("%Y-%m-%d")}
        if name in specials:
            return specials[name]
        if name.startswith("ssm:"):
            return _ssm_parameter(context, name[4:])
        if name in context["parameters"]:
            return context["parameters"][name]
        if name in context["outputs"]:
            return context["outputs"][name]
        raise StepFailed(f"Unresolved reference {{{{ {name} }}}}")


def _ssm_parameter(context: dict[str, Any], name: str) -> str:
    """{{ssm:name}} in step inputs: the parameter's value, read with the automation's credentials
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-variables.html)."""
    session = context.get("session")
    if session is None:
        raise StepFailed(f"{{{{ssm:{name}}}}} cannot be resolved here")
    try:
        return AutomationEngine._client(session, "ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except botocore.exceptions.ClientError as error:
        raise StepFailed(f"Cannot resolve {{{{ssm:{name}}}}}: {error.response['Error'].get('Code')}")


def _is_critical(step: dict[str, Any]) -> bool:
    if "isCritical" in step:
        return str(step["isCritical"]).lower() == "true"
    return step.get("onFailure", "Abort") != "Continue"


def _check_operators(content: dict[str, Any]) -> None:
    """Automation refuses a document with an unknown branch operator (automation-action-branch.md)."""
    def walk(choice: dict[str, Any]) -> None:
        keys = set(choice) - {"NextStep", "Variable"}
        unknown = keys - OPERATORS
        if unknown:
            raise AwsError("InvalidDocumentContent", f"Unsupported branch operator {sorted(unknown)[0]}.")
        for key in ("And", "Or"):
            for inner in choice.get(key, []):
                walk(inner)
        if "Not" in choice:
            walk(choice["Not"])

    for step in content.get("mainSteps", []):
        if step.get("action") == "aws:branch":
            for choice in (step.get("inputs") or {}).get("Choices", []):
                walk(choice)


def select(data: Any, selector: str) -> Any:
    """The JSONPath subset runbooks use: $.A.B, $.A[0].B, $.A[*].B, $.A['key-with:colon']."""
    if not selector.startswith("$"):
        raise StepFailed(f"Selector {selector!r} must start with $")
    values = [data]
    for part in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+|\*)\]|\['([^']+)'\]", selector[1:]):
        key, index, quoted = part
        key = key or quoted
        nxt = []
        for value in values:
            if key:
                if isinstance(value, dict) and key in value:
                    nxt.append(value[key])
            elif index == "*":
                nxt.extend(value if isinstance(value, list) else [])
            elif isinstance(value, list) and int(index) < len(value):
                nxt.append(value[int(index)])
        values = nxt
    if not values:
        return None
    result = values if "[*]" in selector else values[0]
    return json.loads(json.dumps(result, default=str))


def _typed(value: Any, kind: str) -> Any:
    if kind == "StringList":
        return [str(v) for v in (value if isinstance(value, list) else [] if value is None else [value])]
    if kind == "Integer":
        return int(value) if value is not None else None
    if kind == "Boolean":
        return bool(value)
    if kind in ("MapList", "StringMap"):
        return value
    return "" if value is None else str(value)


def _choice_matches(choice: dict[str, Any]) -> bool:
    value = choice.get("Variable")
    if "StringEquals" in choice:
        return str(value) == str(choice["StringEquals"])
    if "EqualsIgnoreCase" in choice:
        return str(value).lower() == str(choice["EqualsIgnoreCase"]).lower()
    if "StartsWith" in choice:
        return str(value).startswith(str(choice["StartsWith"]))
    if "EndsWith" in choice:
        return str(value).endswith(str(choice["EndsWith"]))
    if "NumericGreaterOrEquals" in choice:
        return float(value) >= float(choice["NumericGreaterOrEquals"])
    if "NumericLesserOrEquals" in choice:
        return float(value) <= float(choice["NumericLesserOrEquals"])
    if "BooleanEquals" in choice:
        return str(value).lower() == str(choice["BooleanEquals"]).lower()
    if "NumericEquals" in choice:
        return float(value) == float(choice["NumericEquals"])
    if "NumericGreater" in choice:
        return float(value) > float(choice["NumericGreater"])
    if "NumericLesser" in choice:
        return float(value) < float(choice["NumericLesser"])
    if "Contains" in choice:
        return str(choice["Contains"]) in (value if isinstance(value, list) else str(value))
    if "Not" in choice:
        return not _choice_matches({**choice["Not"], "Variable": choice["Not"].get("Variable", value)})
    if "And" in choice:
        return all(_choice_matches(c) for c in choice["And"])
    if "Or" in choice:
        return any(_choice_matches(c) for c in choice["Or"])
    raise StepFailed(f"Unsupported branch operator in {sorted(choice)}")
