"""SSM Automation: StartAutomationExecution / GetAutomationExecution running the step types this
project's runbooks use — aws:executeAwsApi (against this same server, through boto3, so the service
model validates every parameter), aws:waitForAwsResourceProperty, aws:assertAwsResourceProperty,
aws:branch, aws:sleep, aws:executeScript (a separate Python process with the assumed role's credentials),
aws:executeAutomation (one child, or one child per target value under rate control) — with outputs,
onFailure and document outputs. moto keeps the documents."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
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

from .protocol import AwsError, now, service_model, validate_input

_REFERENCE = re.compile(r"\{\{\s*(ssm:[A-Za-z0-9_./-]+|[A-Za-z0-9_.:]+)\s*\}\}")
# aws:branch operators Automation accepts (automation-action-branch.md); anything else is refused.
OPERATORS = {"StringEquals", "EqualsIgnoreCase", "StartsWith", "EndsWith", "Contains", "NumericEquals",
             "NumericGreater", "NumericLesser", "NumericGreaterOrEquals", "NumericLesserOrEquals",
             "BooleanEquals", "And", "Or", "Not"}
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")

# aws:executeScript (https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-executeScript.html):
# Python 3.6/3.7/3.8 runbooks can no longer be created (2024-12-04) nor run (2025-02-18) and the page points to
# Python 3.11 (its notice, stored in the ja_jp copy of the page); PowerShell runtimes exist in AWS, but localaws runs
# Python only. Any other runtime is refused, as Automation refuses a document with an unsupported Runtime.
SCRIPT_RUNTIMES = {"python3.11"}
RETIRED_SCRIPT_RUNTIMES = {"python3.6", "python3.7", "python3.8"}
SCRIPT_MAX_SECONDS = 600  # "Each aws:executeScript action can run up to a maximum duration of 600 seconds"
SCRIPT_MAX_PAYLOAD = 100 * 1024  # Payload: "Up to 100KB is returned"
# The script runs in its own interpreter (never in this server's process); it reads the request on stdin and
# writes {"Payload": ...} or {"Error": ...} on stdout (its own prints go to stderr).
_SCRIPT_RUNNER = r"""
import json, sys, traceback
request = json.load(sys.stdin)
out, sys.stdout = sys.stdout, sys.stderr
try:
    namespace = {"__name__": "__automation_script__"}
    exec(compile(request["script"], "<Script>", "exec"), namespace)
    handler = namespace.get(request["handler"])
    if not callable(handler):
        raise NameError(f"Handler {request['handler']!r} is not a function defined in Script")
    text = json.dumps({"Payload": handler(request["events"], request["context"])})
except BaseException as error:
    text = json.dumps({"Error": f"{type(error).__name__}: {error}", "Traceback": traceback.format_exc()})
out.write(text)
"""


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
    # rate control (Targets): TargetParameterName, Targets, MaxConcurrency, MaxErrors, ResolvedTargets
    rate_control: dict[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AutomationExecutionId": self.id, "DocumentName": self.document, "DocumentVersion": self.version,
            "AutomationExecutionStatus": self.status, "ExecutionStartTime": self.started.timestamp(),
            "StepExecutions": [s.to_api() for s in self.steps], "Parameters": self.parameters,
            "Outputs": self.outputs, "Mode": "Auto", "ExecutedBy": f"arn:aws:iam::{self.account}:root",
            **self.rate_control,
        }
        if self.ended:
            out["ExecutionEndTime"] = self.ended.timestamp()
        if self.failure:
            out["FailureMessage"] = self.failure
        if self.parent:
            out["ParentAutomationExecutionId"] = self.parent
        return out

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {"AutomationExecutionId": self.id, "DocumentName": self.document,
                               "DocumentVersion": self.version, "AutomationExecutionStatus": self.status,
                               "ExecutionStartTime": self.started.timestamp(), "Mode": "Auto", "AutomationType": "Local",
                               **{k: v for k, v in self.rate_control.items() if k != "Targets" or v}}
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

    @staticmethod
    def _document(account: str, region: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        name = params["DocumentName"]
        # StartAutomationExecution's DocumentVersion is a number, $DEFAULT or $LATEST
        # (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_StartAutomationExecution.html);
        # moto's GetDocument knows $LATEST and numbers, and no version means the default.
        version = params.get("DocumentVersion")
        version = None if version == "$DEFAULT" else version
        try:
            document = ssm_backends[account][region].get_document(name, version, None, "JSON")
        except Exception:
            raise AwsError("AutomationDefinitionNotFoundException", f"Automation definition {name} not found.")
        content = json.loads(document["Content"])
        if document.get("DocumentType") not in (None, "Automation"):
            raise AwsError("InvalidAutomationExecutionParametersException", f"{name} is not an Automation document.")
        _check_operators(content)
        _check_script_runtimes(content)
        return document, content

    def start(self, account: str, region: str, params: dict[str, Any], parent: str | None = None) -> Execution:
        if params.get("Targets") or params.get("TargetParameterName") or params.get("TargetMaps"):
            return self.start_targets(account, region, params, parent)
        name = params["DocumentName"]
        document, content = self._document(account, region, params)
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
            for spec in params.get("Filters") or []:
                rows = [e for e in rows if _filter_matches(e, spec["Key"], spec["Values"])]
            return {"AutomationExecutionMetadataList": [e.metadata() for e in sorted(rows, key=lambda e: e.started)]}
        return NotImplemented

    # ---------------------------------------------------------------- rate control (Targets)

    def start_targets(self, account: str, region: str, params: dict[str, Any], parent: str | None = None) -> Execution:
        """A rate-controlled execution: one child execution per target value, as StartAutomationExecution with
        Targets/TargetParameterName does (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_StartAutomationExecution.html,
        https://docs.aws.amazon.com/systems-manager/latest/userguide/running-automations-scale.html). Its steps are
        one aws:executeAutomation per target, named after the value (the page's example output)."""
        name, targets = params.get("TargetParameterName"), params.get("Targets")
        # API reference: TargetParameterName "Required if you specify targets"; Targets "Required if you specify
        # TargetParameterName"; "Both Targets and TargetMaps can't be specified together".
        if params.get("TargetMaps"):
            raise AwsError("InvalidAutomationExecutionParametersException",
                           "TargetMaps is not emulated by localaws" if not targets else
                           "Targets and TargetMaps can't be specified together.")
        if not name or not targets:
            raise AwsError("InvalidAutomationExecutionParametersException",
                           "TargetParameterName and Targets must be specified together.")
        [target] = targets  # the Targets list holds at most one mapping (service model: max 1)
        if target.get("Key") != "ParameterValues":
            raise AwsError("InvalidTarget", f"localaws resolves only Key=ParameterValues targets, not {target.get('Key')!r}.")
        values = list(target.get("Values") or [])
        if not values:
            raise AwsError("InvalidTarget", "The targets resolve to no parameter values.")
        concurrency = params.get("MaxConcurrency") or "10"  # "The default value is 10."
        errors = params.get("MaxErrors") or "0"  # no documented default: localaws assumes the strictest, 0
        for member, value in (("MaxConcurrency", concurrency), ("MaxErrors", errors)):
            pattern = service_model("ssm").operation_model("StartAutomationExecution").input_shape.members[member].metadata["pattern"]
            if not re.match(pattern, value):
                raise AwsError("ValidationException", f"1 validation error detected: Value '{value}' at "
                               f"'{member[0].lower() + member[1:]}' failed to satisfy constraint: Member must satisfy "
                               f"regular expression pattern: {pattern}")
        document, content = self._document(account, region, params)
        if name not in content.get("parameters", {}):
            raise AwsError("InvalidAutomationExecutionParametersException",
                           f"TargetParameterName {name} is not a parameter of {params['DocumentName']}.")
        base = {k: v for k, v in (params.get("Parameters") or {}).items() if k != name}
        self._parameters(content, {**base, name: [values[0]]})  # wrong or missing parameters fail the start
        execution = Execution(str(uuid.uuid4()), account, region, params["DocumentName"],
                              str(document.get("DocumentVersion", "1")), params.get("Parameters") or {}, parent=parent)
        execution.rate_control = {"TargetParameterName": name, "Targets": targets, "MaxConcurrency": concurrency,
                                  "MaxErrors": errors, "ResolvedTargets": {"ParameterValues": values, "Truncated": False}}
        execution.steps = [StepRecord(value, "aws:executeAutomation", "Abort", inputs={name: value}) for value in values]
        with self.lock:
            self.executions[execution.id] = execution
        request = {k: params[k] for k in ("DocumentName", "DocumentVersion") if params.get(k)}
        threading.Thread(target=self._run_targets, args=(execution, request, base, name, values, concurrency, errors),
                         daemon=True, name=f"automation {execution.id}").start()
        return execution

    def _run_targets(self, execution: Execution, request: dict[str, Any], base: dict[str, list[str]], name: str,
                     values: list[str], concurrency: str, errors: str) -> None:
        """Rate controls (https://docs.aws.amazon.com/systems-manager/latest/userguide/running-automations-scale-controls.html
        and the API reference's MaxConcurrency/MaxErrors):
        - concurrency: "delivers the automation to a single resource and waits until the initial invocation is
          complete before sending the automation to two more resources"; the window then doubles up to
          MaxConcurrency (a number, or a percentage of the targets: localaws rounds up, at least 1);
        - error threshold: "If you specify 3, ... stops running the automation when the fourth error is received. If
          you specify 0, ... after the first error"; a percentage of the targets (50 targets, 10% → stops at the
          sixth error: localaws rounds down); "Executions that are already running ... are allowed to complete";
          targets never started are Cancelled;
        - the execution ends Success only if every child succeeded, else Failed (localaws' reading: a failed
          target is a failed aws:executeAutomation step of this execution)."""
        execution.status = "InProgress"
        total = len(values)
        limit = _rate(concurrency, total, up=True)
        allowed = _rate(errors, total, up=False)
        window, failed, queue = 1, 0, list(range(total))
        running: dict[int, Execution] = {}
        try:
            while queue or running:
                while queue and len(running) < min(window, limit) and failed <= allowed and not execution.cancel_requested:
                    index = queue.pop(0)
                    record = execution.steps[index]
                    record.status, record.started = "InProgress", now()
                    try:
                        running[index] = self.start(execution.account, execution.region,
                                                    {**request, "Parameters": {**base, name: [values[index]]}},
                                                    parent=execution.id)
                    except AwsError as error:
                        record.status, record.failure, record.ended = "Failed", f"{error.code}: {error.message}", now()
                        failed += 1
                if not running:
                    break
                done = [i for i, child in running.items() if child.done.wait(0.02)]
                for index in done:
                    child, record = running.pop(index), execution.steps[index]
                    record.ended = now()
                    record.status = "Success" if child.status == "Success" else "Failed"
                    if record.status == "Failed":
                        record.failure = f"Child automation {child.id} ended {child.status}: {child.failure}"
                        failed += 1
                    window = min(limit, window * 2)
            for index in queue:
                execution.steps[index].status = "Cancelled"
            if execution.cancel_requested:
                execution.status = "Cancelled"
            elif failed or queue:
                execution.status = "Failed"
                execution.failure = f"{failed} of {total} targets failed" + (
                    f"; {len(queue)} not started (more than MaxErrors {errors} failed)" if queue else "")
            else:
                execution.status = "Success"
        except Exception as error:  # an emulator bug: fail loudly
            execution.status, execution.failure = "Failed", f"{type(error).__name__}: {error}"
        finally:
            execution.ended = now()
            execution.done.set()

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
        if action == "aws:executeScript":
            payload = self._script(session, execution, step, inputs)
            for output in step.get("outputs", []):
                typed = _typed(select({"Payload": payload}, output["Selector"]), output.get("Type", "String"))
                context["outputs"][f"{step['name']}.{output['Name']}"] = typed
                record.outputs[output["Name"]] = typed if isinstance(typed, list) else [json.dumps(typed) if not isinstance(typed, str) else typed]
            record.outputs["OutputPayload"] = [json.dumps({"Payload": payload})]
            return None
        raise StepFailed(f"Action {action} is not supported by localaws")

    def _script(self, session: dict[str, Any], execution: Execution, step: dict[str, Any], inputs: dict[str, Any]) -> Any:
        """aws:executeScript (https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-executeScript.html):
        the Handler function defined in Script gets InputPayload as its first parameter (`events`) and a context;
        its return value is the output Payload (selectors read `$.Payload...`). Here it runs in a separate Python
        process with the assumed role's credentials and AWS_ENDPOINT_URL pointing at this server. "If no role is
        found, Automation attempts to run the ... script ... without any permissions" (automation-document-script.html):
        without an assumeRole the process gets no credentials. An exception fails the step with its message; the step
        fails after timeoutSeconds (at most 600 s, the action's maximum)."""
        runtime = inputs.get("Runtime")
        if runtime in RETIRED_SCRIPT_RUNTIMES:
            raise StepFailed(f"Runtime {runtime} is no longer supported: Automation stopped running Python 3.6, 3.7 and "
                             "3.8 aws:executeScript steps on 2025-02-18; use python3.11")
        if str(runtime).lower().startswith("powershell"):
            raise StepFailed(f"Runtime {runtime}: localaws runs Python scripts only")
        if runtime not in SCRIPT_RUNTIMES:
            raise StepFailed(f"Runtime {runtime!r} is not supported by aws:executeScript")
        if inputs.get("Attachment"):
            raise StepFailed("Attachment scripts are not emulated by localaws; use an inline Script")
        if not inputs.get("Handler") or not inputs.get("Script"):
            raise StepFailed("aws:executeScript needs Handler and Script (Python)")
        env = {"PATH": os.environ.get("PATH", ""), "AWS_ENDPOINT_URL": self.base_url, "AWS_REGION": execution.region,
               "AWS_DEFAULT_REGION": execution.region, "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        if "aws_access_key_id" in session and "account" not in session:
            env.update(AWS_ACCESS_KEY_ID=session["aws_access_key_id"], AWS_SECRET_ACCESS_KEY=session["aws_secret_access_key"],
                       AWS_SESSION_TOKEN=session["aws_session_token"])
        timeout = min(float(step.get("timeoutSeconds") or SCRIPT_MAX_SECONDS), SCRIPT_MAX_SECONDS)
        request = {"script": inputs["Script"], "handler": inputs["Handler"], "events": inputs.get("InputPayload") or {},
                   "context": {"automation:EXECUTION_ID": execution.id, "global:ACCOUNT_ID": execution.account,
                               "global:REGION": execution.region}}
        try:
            done = subprocess.run([sys.executable, "-I", "-c", _SCRIPT_RUNNER], input=json.dumps(request), env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"Step timed out after {timeout:g} seconds (timeoutSeconds)")
        try:
            result = json.loads(done.stdout)
        except ValueError:
            raise StepFailed(f"The script's process ended without a result (exit {done.returncode}): {done.stderr[-2000:]}")
        if "Error" in result:
            raise StepFailed(f"{result['Error']}\n{result['Traceback']}")
        size = len(json.dumps(result["Payload"]).encode())
        if size > SCRIPT_MAX_PAYLOAD:
            raise StepFailed(f"The script returned {size} bytes; aws:executeScript returns up to 100 KB")
        return result["Payload"]

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
        (https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-executeAutomation.html).
        With TargetParameterName/Targets (and MaxConcurrency/MaxErrors) the child is a rate-controlled execution,
        one grandchild per target value (start_targets); the inputs are StartAutomationExecution's, checked
        against its service model (Targets: at most 1 mapping; Values: at most 50)."""
        inputs = record.inputs
        parameters = {k: v if isinstance(v, list) else [str(v).lower() if isinstance(v, bool) else str(v)]
                      for k, v in (inputs.get("RuntimeParameters") or {}).items()}
        request = {"DocumentName": inputs["DocumentName"], "Parameters": parameters}
        if inputs.get("DocumentVersion"):
            request["DocumentVersion"] = str(inputs["DocumentVersion"])
        for key in ("TargetParameterName", "Targets", "TargetMaps", "MaxConcurrency", "MaxErrors"):
            if key in inputs:
                request[key] = inputs[key]
        try:
            if "Targets" in request or "TargetParameterName" in request:
                validate_input("ssm", "StartAutomationExecution", request)
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


def _rate(value: str, total: int, up: bool) -> int:
    """MaxConcurrency / MaxErrors: a number, or a percentage of the target set."""
    if value.endswith("%"):
        share = total * int(value[:-1]) / 100
        return max(1, math.ceil(share)) if up else math.floor(share)
    return int(value)


def _filter_matches(execution: Execution, key: str, values: list[str]) -> bool:
    """DescribeAutomationExecutions filters (API_AutomationExecutionFilter): the keys the tests use."""
    if key == "ExecutionId":
        return execution.id in values
    if key == "ParentExecutionId":
        return execution.parent in values
    if key == "DocumentNamePrefix":
        return any(execution.document.startswith(v) for v in values)
    if key == "ExecutionStatus":
        return execution.status in values
    raise AwsError("InvalidFilterKey", f"localaws does not emulate the filter key {key}.")


def _check_script_runtimes(content: dict[str, Any]) -> None:
    """Automation refuses a document whose aws:executeScript Runtime it does not support
    (automation-action-executeScript.html lists the Runtime values); the retired Python 3.6-3.8 and PowerShell
    fail when the step runs (see _script)."""
    for step in content.get("mainSteps", []):
        if step.get("action") == "aws:executeScript":
            runtime = (step.get("inputs") or {}).get("Runtime")
            known = SCRIPT_RUNTIMES | RETIRED_SCRIPT_RUNTIMES
            if runtime not in known and not str(runtime).lower().startswith("powershell"):
                raise AwsError("InvalidDocumentContent",
                               f"Step {step.get('name')}: Runtime {runtime!r} is not supported by aws:executeScript "
                               f"(supported: {', '.join(sorted(SCRIPT_RUNTIMES))}).")


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
