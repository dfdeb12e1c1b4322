"""EventBridge target delivery where moto falls short: rules whose target is SSM Automation
(`arn:aws:ssm:<region>:<account>:automation-definition/<document>[:<version>]`) start an Automation
execution through the emulator's engine, and SQS targets receive what EventBridge sends (moto drops
`account` from the event, keeps `time` as epoch seconds and inserts transformer strings unquoted); both
with the input EventBridge would send (Input, InputPath, InputTransformer, else the whole event). Every
delivery attempt, to any target, is recorded for tests (`GET /_localaws/events/deliveries`).

moto keeps the rules, targets and buses and decides which rules match (its own pattern matcher); this
module replaces only `Rule.send_to_targets` (per-target delivery) and adds one PutTargets check. Delivery
follows EventBridge: a target that fails does not fail PutEvents nor the other targets of the rule
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html: the failure is counted as a
failed invocation and the event goes to the target's dead-letter queue, if it has one)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import threading
from typing import Any

from jsonpath_ng import parse as jsonpath_parse
from moto.events import models as events_models
from moto.events.exceptions import ValidationException as EventsValidationException

from .protocol import AwsError, now, validate_input

# Target ARN of an SSM Automation runbook; the version is a number, $DEFAULT or $LATEST, and may be left
# out (the default version). The account is empty for AWS-owned runbooks.
AUTOMATION_ARN = re.compile(
    r"^arn:aws[a-z-]*:ssm:(?P<region>[a-z0-9-]*):(?P<account>\d{12})?:automation-definition/"
    r"(?P<document>[^:]+)(?::(?P<version>.+))?$")
# <name> in an InputTemplate: InputPathsMap keys ([A-Za-z0-9_-]) and the predefined aws.events.* variables.
PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")

_ORIGINAL_SEND_TO_TARGETS = events_models.Rule.send_to_targets
_ORIGINAL_PUT_TARGETS = events_models.EventsBackend.put_targets
_ACTIVE: "EventBridge | None" = None


class EventBridge:
    """Delivery of matched events to targets, and the record of every attempt."""

    def __init__(self, automation: Any) -> None:
        self.automation = automation  # AutomationEngine
        self.lock = threading.Lock()
        self.deliveries: list[dict[str, Any]] = []
        install(self)

    def reset(self) -> None:
        with self.lock:
            self.deliveries = []

    def records(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(d) for d in self.deliveries]

    # ---------------------------------------------------------------- delivery

    def deliver(self, rule: Any, target: dict[str, Any], event: dict[str, Any], transform_input: bool) -> None:
        match = AUTOMATION_ARN.match(target.get("Arn", ""))
        if match is not None:
            self._start_automation(rule, target, event, match)
        elif target.get("Arn", "").startswith("arn:aws:sqs:") and transform_input:
            self._send_to_queue(rule, target, event)
        else:
            self._deliver_with_moto(rule, target, event, transform_input)

    def _send_to_queue(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        """SendMessage of the target input to an SQS queue of the rule's account and region (the queue's
        policy must let events.amazonaws.com send: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html;
        localaws does not evaluate it). A FIFO queue takes the target's SqsParameters.MessageGroupId."""
        from moto.sqs import sqs_backends

        parts = target["Arn"].split(":")
        text = None
        try:
            text = target_input(rule, target, event)
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            # moto's SQS refuses what SQS refuses (a missing queue; a FIFO queue without content-based
            # deduplication, as EventBridge sends no MessageDeduplicationId).
            sqs_backends[parts[4]][parts[3]].send_message(queue_name=parts[5], message_body=text, group_id=group)
        except Exception as error:
            self._failed(rule, target, event, getattr(error, "error_type", type(error).__name__), str(error), text)
        else:
            self._record(rule, target, event, "Delivered", Input=text)

    def _deliver_with_moto(self, rule: Any, target: dict[str, Any], event: dict[str, Any], transform_input: bool) -> None:
        """Targets moto delivers itself (SQS, CloudWatch Logs, event buses, archives), one at a time so that
        one failing target does not stop the others nor fail PutEvents."""
        single = copy.copy(rule)
        single.targets = [target]
        try:
            _ORIGINAL_SEND_TO_TARGETS(single, event, transform_input)
        except NotImplementedError:
            self._failed(rule, target, event, "NotEmulated", f"localaws cannot deliver to {target.get('Arn')}")
        except Exception as error:  # moto's own delivery failed: a failed invocation, as in EventBridge
            self._failed(rule, target, event, getattr(error, "error_type", type(error).__name__), str(error))
        else:
            self._record(rule, target, event, "Delivered")

    def _start_automation(self, rule: Any, target: dict[str, Any], event: dict[str, Any], match: re.Match) -> None:
        """StartAutomationExecution as EventBridge makes it: the target input (a JSON object) is the
        Parameters map; the version in the ARN picks the document version
        (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html, SSM Automation target)."""
        account = match["account"] or rule.account_id
        region = match["region"] or rule.region_name
        text = None
        try:
            text = target_input(rule, target, event)
            try:
                parameters: Any = json.loads(text)
            except ValueError:
                parameters = text  # not JSON: StartAutomationExecution refuses it (Parameters must be a map)
            request: dict[str, Any] = {"DocumentName": match["document"], "Parameters": parameters}
            if match["version"] and match["version"] != "$DEFAULT":
                request["DocumentVersion"] = match["version"]
            validate_input("ssm", "StartAutomationExecution", request)
            execution = self.automation.start(account, region, request)
        except AwsError as error:
            self._failed(rule, target, event, error.code, error.message, text)
        except Exception as error:  # an emulator bug: recorded, never raised into PutEvents / PutEvaluations
            self._failed(rule, target, event, "InternalFailure", f"localaws: {type(error).__name__}: {error}", text)
        else:
            self._record(rule, target, event, "Delivered", Input=text, AutomationExecutionId=execution.id)

    def _failed(self, rule: Any, target: dict[str, Any], event: dict[str, Any], code: str, message: str,
                text: str | None = None) -> None:
        extra: dict[str, Any] = {"ErrorCode": code, "ErrorMessage": message}
        if text is not None:
            extra["Input"] = text
        queue = (target.get("DeadLetterConfig") or {}).get("Arn")
        if queue:
            extra["DeadLetterQueue"] = queue
            extra["SentToDeadLetterQueue"] = _send_to_dead_letter_queue(rule, target, event, queue, code, message)
        self._record(rule, target, event, "Failed", **extra)

    def _record(self, rule: Any, target: dict[str, Any], event: dict[str, Any], outcome: str, **extra: Any) -> None:
        row = {"Time": now().isoformat(), "Rule": rule.name, "RuleArn": rule.arn, "EventBusName": rule.event_bus_name,
               "TargetId": target.get("Id"), "TargetArn": target.get("Arn"), "EventId": event.get("id"),
               "Outcome": outcome, **extra}
        with self.lock:
            self.deliveries.append(row)


def install(bridge: EventBridge) -> None:
    """Routes moto's rule delivery through `bridge` (once per process; the latest bridge wins)."""
    global _ACTIVE
    _ACTIVE = bridge
    events_models.Rule.send_to_targets = _send_to_targets
    events_models.EventsBackend.put_targets = _put_targets


def _send_to_targets(rule: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
    # "Rules with EventPatterns are triggered when a matching event is observed. Rules with
    # ScheduleExpressions self-trigger based on the given schedule." (API_PutRule.html): a rule without an
    # EventPattern matches no event (moto's empty pattern matches every event).
    if rule.event_pattern.dump() is None or not rule.event_pattern.matches_event(original_event):
        return
    # "DISABLED: The rule is disabled. EventBridge does not match any events against the rule."
    # (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html, State); moto ignores it.
    if rule.state == "DISABLED":
        return
    bridge = _ACTIVE
    for target in list(rule.targets):
        if bridge is None:
            single = copy.copy(rule)
            single.targets = [target]
            _ORIGINAL_SEND_TO_TARGETS(single, original_event, transform_input)
        else:
            bridge.deliver(rule, target, original_event, transform_input)


def _put_targets(backend: Any, name: str, event_bus_arn: str | None, targets: list[dict[str, Any]]) -> None:
    # EventBridge invokes role-based targets with the role given in the target's RoleArn
    # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html#targets-permissions; an
    # SSM Automation target is started with ssm:StartAutomationExecution under that role) and refuses such a
    # target without one: "ValidationException: RoleArn is required for target <arn>." (the answer AWS
    # gives for role-based targets, e.g. https://github.com/hashicorp/terraform-provider-aws/pull/19913).
    # Checked here so that PutTargets and CloudFormation's AWS::Events::Rule Targets both meet it.
    for target in targets:
        if AUTOMATION_ARN.match(target.get("Arn", "")) and not target.get("RoleArn"):
            raise EventsValidationException(f"RoleArn is required for target {target['Arn']}.")
    _ORIGINAL_PUT_TARGETS(backend, name, event_bus_arn, targets)


# ---------------------------------------------------------------- target input


def delivered_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as targets receive it (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events.html):
    `time` in ISO 8601 (`2026-11-25T10:00:00Z`); moto keeps epoch seconds and an internal ingestion time."""
    out = copy.deepcopy(event)
    out.pop("ingestion-time", None)
    if isinstance(out.get("time"), (int, float)):
        out["time"] = _iso_seconds(float(out["time"]))
    return out


def target_input(rule: Any, target: dict[str, Any], event: dict[str, Any]) -> str:
    """What EventBridge passes to the target. `Input`, `InputPath` and `InputTransformer` are mutually
    exclusive; none of them: the whole event
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html, Target parameters)."""
    delivered = delivered_event(event)
    if target.get("Input") is not None:
        return target["Input"]
    if target.get("InputPath"):
        return json.dumps(_json_path(delivered, target["InputPath"]))
    if target.get("InputTransformer"):
        ingestion = event.get("ingestion-time")
        return transform(target["InputTransformer"], delivered, rule,
                         _iso_seconds(float(ingestion)) if isinstance(ingestion, (int, float)) else delivered.get("time"))
    return json.dumps(delivered)


def transform(transformer: dict[str, Any], event: dict[str, Any], rule: Any = None, ingestion_time: Any = None) -> str:
    """EventBridge's input transformer
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html): InputPathsMap
    names JSON paths of the event; in the InputTemplate a <name> inside a JSON string is replaced by the
    value's text (not escaped: "EventBridge doesn't escape values extracted by Input Path"), elsewhere by
    the value as JSON ("instance" : <instance> gives "i-0123456789" with its quotes); a path that matches
    nothing gives null. Predefined: aws.events.rule-arn, aws.events.rule-name, aws.events.event.ingestion-time,
    aws.events.event (the event without `detail`) and aws.events.event.json (the whole event)."""
    values: dict[str, Any] = {}
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        values[name] = _json_path(event, path)
    if rule is not None:
        values.setdefault("aws.events.rule-arn", rule.arn)
        values.setdefault("aws.events.rule-name", rule.name)
    values["aws.events.event.ingestion-time"] = ingestion_time
    values["aws.events.event"] = {k: v for k, v in event.items() if k != "detail"}
    values["aws.events.event.json"] = event
    template = transformer["InputTemplate"]
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        c = template[i]
        if c == "\\" and in_string:
            out.append(template[i:i + 2])
            i += 2
            continue
        if c == '"':
            in_string = not in_string
        elif c == "<":
            match = PLACEHOLDER.match(template, i)
            if match and match.group(1) in values:
                value = values[match.group(1)]
                if in_string and isinstance(value, str):
                    out.append(value)
                else:
                    out.append(json.dumps(value))
                i = match.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _json_path(event: dict[str, Any], path: str) -> Any:
    found = [m.value for m in jsonpath_parse(path).find(event)]
    if not found:
        return None
    return found[0] if len(found) == 1 and "*" not in path else found


def _iso_seconds(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- dead-letter queue


def _send_to_dead_letter_queue(rule: Any, target: dict[str, Any], event: dict[str, Any], queue_arn: str,
                               code: str, message: str) -> bool:
    """An event that could not be delivered goes to the target's DLQ (a standard SQS queue in the rule's
    region) with the error code and message, rule ARN, target ARN and retry attempts as message attributes
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html names them; the attribute keys
    are those EventBridge sets). Errors that retrying cannot fix (missing permissions, a target resource that
    does not exist) go there without retries; localaws retries nothing. False: the send failed (EventBridge
    counts InvocationsFailedToBeSentToDLQ)."""
    from moto.sqs import sqs_backends

    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        return False
    region, account, name = parts[3], parts[4], parts[5]
    # No retries were made, so no EXHAUSTED_RETRY_CONDITION (set when retries or the event age ran out).
    attributes = {key: {"DataType": "String", "StringValue": value} for key, value in {
        "ERROR_CODE": code, "ERROR_MESSAGE": message, "RULE_ARN": rule.arn,
        "TARGET_ARN": target.get("Arn", ""), "RETRY_ATTEMPTS": "0"}.items()}
    try:
        sqs_backends[account][region].send_message(queue_name=name, message_body=json.dumps(delivered_event(event)),
                                                   message_attributes=attributes)
    except Exception:
        return False
    return True
