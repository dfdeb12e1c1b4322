"""AWS Config on top of moto: recording of AWS::Lambda::Function, custom Lambda rule invocations,
PutEvaluations with AWS's contract, compliance reads, organization rules and aggregators.

moto keeps the rules, recorders and aggregators (PutConfigRule & co. pass through to it); this module
keeps what moto lacks: configuration items, result tokens, evaluations and organization rules."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import string
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from moto.config.models import ConfigRule, config_backends
from moto.organizations.models import organizations_backends

from . import sql
from .protocol import AwsError, now, paginate, parse_timestamp, validate_input

LAMBDA_TYPE = "AWS::Lambda::Function"
CHANGE = "ConfigurationItemChangeNotification"
OVERSIZED = "OversizedConfigurationItemChangeNotification"
SCHEDULED = "ScheduledNotification"
ALLOWED_COMPLIANCE = ("COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE")


def iso(moment: dt.datetime) -> str:
    """Config's event timestamps: 2026-11-20T10:00:00.123Z."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Evaluation:
    resource_type: str
    resource_id: str
    compliance: str
    annotation: str | None
    ordering: dt.datetime
    recorded: dt.datetime
    invoked: dt.datetime


@dataclass
class Token:
    account: str
    region: str
    rule_name: str
    invoked: dt.datetime


@dataclass
class OrgRule:
    name: str
    arn: str
    metadata: dict[str, Any]
    excluded: list[str]
    member_rules: dict[str, str] = field(default_factory=dict)  # account -> rule name
    updated: dt.datetime = field(default_factory=now)


Deliver = Callable[[str, dict[str, Any]], None]


class ConfigState:
    def __init__(self, deliver: Deliver, automation: Any = None):
        self.lock = threading.RLock()
        self.deliver = deliver  # (function ARN, invocation event) -> queued for the Runtime API
        self.automation = automation  # AutomationEngine, for remediation
        self.reset()

    def reset(self) -> None:
        with self.lock:
            # (account, region, type, id) -> configuration items, oldest first
            self.items: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
            self.evaluations: dict[tuple[str, str, str], dict[tuple[str, str], Evaluation]] = {}
            self.tokens: dict[str, Token] = {}
            self.org_rules: dict[tuple[str, str, str], OrgRule] = {}
            self.oversized_bytes = 256 * 1024
            self.invocations_sent = 0
            # (account, region, rule) -> RemediationConfiguration as given
            self.remediations: dict[tuple[str, str, str], dict[str, Any]] = {}
            # (account, region, rule, type, id) -> automation executions started for it
            self.remediation_runs: dict[tuple[str, str, str, str, str], list[Any]] = {}
            # (account, region, rule, type, id) -> evaluations stored (not ignored as older), for tests
            self.recorded: dict[tuple[str, str, str, str, str], int] = {}

    # ---------------------------------------------------------------- recording

    def _recording(self, account: str, region: str, resource_type: str) -> str | None:
        """The role ARN of a recorder that records `resource_type` in (account, region), or None."""
        backend = config_backends[account][region]
        for recorder in backend.recorders.values():
            group = recorder.recording_group
            covers = group is None or group.all_supported or resource_type in (group.resource_types or [])
            if recorder.status.recording and covers:
                return recorder.role_arn
        return None

    def record_lambda(self, account: str, region: str, name: str, configuration: dict[str, Any] | None,
                      tags: dict[str, str], arn: str) -> None:
        """Records a change of a Lambda function (configuration None: deleted) and notifies the rules."""
        with self.lock:
            if self._recording(account, region, LAMBDA_TYPE) is None:
                return
            key = (account, region, LAMBDA_TYPE, name)
            history = self.items.setdefault(key, [])
            previous = history[-1] if history else None
            moment = now()
            if configuration is None and (previous is None or previous["configuration"] is None):
                return  # nothing recorded to delete
            item = {
                "version": "1.3",
                "configurationItemVersion": "1.3",
                "configurationItemCaptureTime": iso(moment),
                "configurationStateId": int(moment.timestamp() * 1000),
                "awsAccountId": account,
                "configurationItemStatus": "ResourceDeleted" if configuration is None
                else ("ResourceDiscovered" if previous is None or previous["configuration"] is None else "OK"),
                "resourceType": LAMBDA_TYPE,
                "resourceId": name,
                "resourceName": name,
                "ARN": arn,
                "awsRegion": region,
                "availabilityZone": "Not Applicable",
                "resourceCreationTime": previous["resourceCreationTime"] if previous and previous["configuration"] else iso(moment),
                "tags": dict(tags) if configuration is not None else {},
                "relatedEvents": [],
                "relationships": [] if configuration is None else [
                    {"resourceType": "AWS::IAM::Role", "resourceName": configuration.get("role", "").rsplit("/", 1)[-1],
                     "relationshipName": "Is associated with "}
                ],
                "configuration": configuration,
                "supplementaryConfiguration": {},
            }
            item["configurationItemMD5Hash"] = hashlib.md5(json.dumps(item, sort_keys=True).encode()).hexdigest()
            history.append(item)
            change_type = "DELETE" if configuration is None else ("CREATE" if item["configurationItemStatus"] == "ResourceDiscovered" else "UPDATE")
            for rule in self._rules_with_trigger(account, region, (CHANGE, OVERSIZED)):
                self._notify_change(account, region, rule, item, previous, change_type)

    def _rules_with_trigger(self, account: str, region: str, message_types: tuple[str, ...]) -> list[Any]:
        backend = config_backends[account][region]
        rules = []
        for rule in backend.config_rules.values():
            if rule.source.owner != "CUSTOM_LAMBDA":
                continue
            kinds = {d.message_type for d in (rule.source.source_details or [])}
            if kinds & set(message_types):
                rules.append(rule)
        return rules

    @staticmethod
    def _in_scope(rule: Any, item: dict[str, Any] | None) -> bool:
        if item is None:
            return False
        scope = rule.scope
        if scope is None:
            return True
        types = scope.compliance_resource_types or []
        if types and item["resourceType"] not in types:
            return False
        if scope.compliance_resource_id and scope.compliance_resource_id != item["resourceId"]:
            return False
        if scope.tags:
            for key, value in scope.tags.items():
                if key not in item["tags"] or (value is not None and item["tags"][key] != value):
                    return False
        return True

    def _invocation(self, account: str, region: str, rule: Any, invoking: dict[str, Any], left_scope: bool) -> dict[str, Any]:
        token = uuid.uuid4().hex + uuid.uuid4().hex
        self.tokens[token] = Token(account, region, rule.config_rule_name, now())
        role = self._recording(account, region, LAMBDA_TYPE) or \
            f"arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
        event = {
            "version": "1.0",
            "invokingEvent": json.dumps(invoking),
            "ruleParameters": rule.input_parameters or "{}",
            "resultToken": token,
            "eventLeftScope": left_scope,
            "executionRoleArn": role,
            "configRuleArn": rule.config_rule_arn,
            "configRuleName": rule.config_rule_name,
            "configRuleId": rule.config_rule_id,
            "accountId": account,
            "evaluationMode": "DETECTIVE",
        }
        return event

    def _notify_change(self, account: str, region: str, rule: Any, item: dict[str, Any],
                       previous: dict[str, Any] | None, change_type: str) -> None:
        in_scope_now = self._in_scope(rule, item) if item["configuration"] is not None else self._in_scope(rule, previous)
        was_in_scope = self._in_scope(rule, previous) if previous and previous["configuration"] is not None else False
        if not in_scope_now and not was_in_scope:
            return
        left_scope = was_in_scope and not in_scope_now
        kinds = {d.message_type for d in (rule.source.source_details or [])}
        public_item = {k: v for k, v in item.items() if k not in ("version",)}
        size = len(json.dumps(public_item))
        created = iso(now())
        if size > self.oversized_bytes:
            if OVERSIZED not in kinds:
                return
            summary = {k: public_item[k] for k in (
                "configurationItemVersion", "configurationItemCaptureTime", "configurationStateId", "awsAccountId",
                "configurationItemStatus", "resourceType", "resourceId", "resourceName", "ARN", "awsRegion",
                "availabilityZone", "resourceCreationTime")}
            summary["changeType"] = change_type
            summary["configurationStateMd5Hash"] = ""
            invoking = {
                "configurationItemSummary": summary,
                "s3DeliverySummary": {
                    "s3BucketLocation": f"localaws-config/AWSLogs/{account}/Config/{region}/OversizedChangeNotification/{uuid.uuid4().hex}.json.gz"
                },
                "notificationCreationTime": created,
                "messageType": OVERSIZED,
                "recordVersion": "1.0",
            }
        else:
            if CHANGE not in kinds:
                return
            invoking = {
                "configurationItemDiff": {"changedProperties": {}, "changeType": change_type},
                "configurationItem": public_item,
                "notificationCreationTime": created,
                "messageType": CHANGE,
                "recordVersion": "1.3",
            }
        self._send(account, region, rule, invoking, left_scope)

    def _send(self, account: str, region: str, rule: Any, invoking: dict[str, Any], left_scope: bool) -> None:
        event = self._invocation(account, region, rule, invoking, left_scope)
        self.invocations_sent += 1
        self.deliver(rule.source.source_identifier, event)

    def fire_periodic(self, account: str | None = None, region: str | None = None) -> int:
        """Sends a ScheduledNotification for every periodic custom rule (optionally of one account/region)."""
        count = 0
        with self.lock:
            for acct, by_region in list(config_backends.items()):
                if account and acct != account:
                    continue
                for reg in list(by_region.keys()):
                    if region and reg != region:
                        continue
                    for rule in self._rules_with_trigger(acct, reg, (SCHEDULED,)):
                        self._send(acct, reg, rule, self._scheduled(acct), False)
                        count += 1
        return count

    @staticmethod
    def _scheduled(account: str) -> dict[str, Any]:
        return {"awsAccountId": account, "notificationCreationTime": iso(now()),
                "messageType": SCHEDULED, "recordVersion": "1.0"}

    # ---------------------------------------------------------------- Config API operations

    def handle(self, operation: str, account: str, region: str, params: dict[str, Any]) -> Any:
        handler = getattr(self, f"op_{operation}", None)
        if handler is None:
            return NotImplemented
        validate_input("config", operation, params)
        with self.lock:
            return handler(account, region, params)

    def op_StartConfigRulesEvaluation(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        backend = config_backends[account][region]
        names = params.get("ConfigRuleNames") or list(backend.config_rules)
        rules = []
        for name in names:
            if name not in backend.config_rules:
                raise AwsError("NoSuchConfigRuleException", f"The ConfigRule '{name}' provided in the request is invalid. Please check the configRule name")
            rules.append(backend.config_rules[name])
        for rule in rules:
            if rule.source.owner != "CUSTOM_LAMBDA":
                continue
            kinds = {d.message_type for d in (rule.source.source_details or [])}
            if SCHEDULED in kinds:
                self._send(account, region, rule, self._scheduled(account), False)
            if kinds & {CHANGE, OVERSIZED}:
                for (acct, reg, _, _), history in self.items.items():
                    if (acct, reg) == (account, region) and history[-1]["configuration"] is not None:
                        self._notify_change(account, region, rule, history[-1], history[-1], "UPDATE")
        return {}

    def op_PutEvaluations(self, account: str, region: str, params: dict[str, Any],
                          fail_probability: float = 0.0, rng: random.Random | None = None) -> dict[str, Any]:
        evaluations = params.get("Evaluations") or []
        token = params["ResultToken"]
        test_mode = bool(params.get("TestMode"))
        for evaluation in evaluations:
            if evaluation["ComplianceType"] not in ALLOWED_COMPLIANCE:
                raise AwsError(
                    "InvalidParameterValueException",
                    f"The ComplianceType {evaluation['ComplianceType']} is not supported for PutEvaluations. "
                    "Use COMPLIANT, NON_COMPLIANT or NOT_APPLICABLE.",
                )
        if test_mode:
            return {"FailedEvaluations": []}
        info = self.tokens.get(token)
        if info is None or (info.account, info.region) != (account, region):
            raise AwsError("InvalidResultTokenException", "The resultToken provided is invalid")
        if info.rule_name not in config_backends[account][region].config_rules:
            raise AwsError("NoSuchConfigRuleException", f"The ConfigRule '{info.rule_name}' provided in the request is invalid.")
        store = self.evaluations.setdefault((account, region, info.rule_name), {})
        failed = []
        for evaluation in evaluations:
            if fail_probability and rng is not None and rng.random() < fail_probability:
                failed.append(evaluation)
                continue
            key = (evaluation["ComplianceResourceType"], evaluation["ComplianceResourceId"])
            ordering = parse_timestamp(evaluation["OrderingTimestamp"])
            current = store.get(key)
            # The evaluation with the latest OrderingTimestamp wins; an older one is ignored.
            if current is not None and ordering < current.ordering:
                continue
            store[key] = Evaluation(key[0], key[1], evaluation["ComplianceType"], evaluation.get("Annotation"),
                                    ordering, now(), info.invoked)
            counter = (account, region, info.rule_name, *key)
            self.recorded[counter] = self.recorded.get(counter, 0) + 1
            remediation = self.remediations.get((account, region, info.rule_name))
            if evaluation["ComplianceType"] == "NON_COMPLIANT" and remediation and remediation.get("Automatic"):
                runs = self.remediation_runs.get((account, region, info.rule_name, *key), [])
                if len(runs) < int(remediation.get("MaximumAutomaticAttempts") or 5):
                    self._remediate(account, region, info.rule_name, key[0], key[1])
        return {"FailedEvaluations": failed}

    def recorded_counts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"AccountId": a, "Region": r, "ConfigRuleName": rule, "ResourceType": t, "ResourceId": i, "Count": n}
                    for (a, r, rule, t, i), n in sorted(self.recorded.items())]

    # ---- remediation (SSM Automation documents run by automation.py)

    def op_PutRemediationConfigurations(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        for remediation in params["RemediationConfigurations"]:
            rule = self._rule_or_error(account, region, remediation["ConfigRuleName"])
            if getattr(rule, "created_by", None) == "config-multiaccountsetup.amazonaws.com":
                raise AwsError("InvalidParameterValueException",
                               "Remediation configurations are not supported for organization Config rules.")
            if remediation["TargetType"] != "SSM_DOCUMENT":
                raise AwsError("InvalidParameterValueException", "TargetType must be SSM_DOCUMENT.")
            # "for automatic remediation configuration, the only valid assumeRole field value is
            # AutomationAssumeRole and you need to provide a value for AutomationAssumeRole"
            # https://docs.aws.amazon.com/config/latest/APIReference/API_PutRemediationConfigurations.html
            role = ((remediation.get("Parameters") or {}).get("AutomationAssumeRole") or {}).get("StaticValue") or {}
            if remediation.get("Automatic") and not role.get("Values"):
                raise AwsError("InvalidParameterValueException",
                               "Automatic remediation requires the AutomationAssumeRole parameter with a static value.")
            stored = dict(remediation)
            stored["Arn"] = f"arn:aws:config:{region}:{account}:remediation-configuration/{remediation['ConfigRuleName']}/{uuid.uuid4()}"
            stored.setdefault("Automatic", False)
            self.remediations[(account, region, remediation["ConfigRuleName"])] = stored
        return {"FailedBatches": []}

    def op_DescribeRemediationConfigurations(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"RemediationConfigurations": [self.remediations[(account, region, name)]
                                              for name in params["ConfigRuleNames"]
                                              if (account, region, name) in self.remediations]}

    def op_DeleteRemediationConfiguration(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.remediations.pop((account, region, params["ConfigRuleName"]), None) is None:
            raise AwsError("NoSuchRemediationConfigurationException", "No RemediationConfiguration for rule exists.")
        return {}

    def _remediate(self, account: str, region: str, rule_name: str, resource_type: str, resource_id: str) -> Any:
        remediation = self.remediations[(account, region, rule_name)]
        parameters: dict[str, list[str]] = {}
        for name, value in (remediation.get("Parameters") or {}).items():
            if "ResourceValue" in value:
                parameters[name] = [resource_id]
            elif "StaticValue" in value:
                parameters[name] = list(value["StaticValue"].get("Values", []))
        request = {"DocumentName": remediation["TargetId"], "Parameters": parameters}
        if remediation.get("TargetVersion"):
            request["DocumentVersion"] = remediation["TargetVersion"]
        execution = self.automation.start(account, region, request)
        self.remediation_runs.setdefault((account, region, rule_name, resource_type, resource_id), []).append(execution)
        return execution

    def op_StartRemediationExecution(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ConfigRuleName"]
        if (account, region, name) not in self.remediations:
            raise AwsError("NoSuchRemediationConfigurationException", f"No RemediationConfiguration for rule {name} exists.")
        failed = []
        for key in params["ResourceKeys"]:
            try:
                self._remediate(account, region, name, key["resourceType"], key["resourceId"])
            except AwsError as error:
                failed.append((key, error.message))
        result: dict[str, Any] = {"FailedItems": [k for k, _ in failed]}
        if failed:
            result["FailureMessage"] = failed[0][1]
        return result

    def op_DescribeRemediationExecutionStatus(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ConfigRuleName"]
        wanted = {(k["resourceType"], k["resourceId"]) for k in params.get("ResourceKeys") or []}
        states = {"Pending": "QUEUED", "InProgress": "IN_PROGRESS", "Success": "SUCCEEDED"}
        rows = []
        for (acct, reg, rule, rtype, rid), runs in sorted(self.remediation_runs.items()):
            if (acct, reg, rule) != (account, region, name) or (wanted and (rtype, rid) not in wanted):
                continue
            latest = runs[-1]
            rows.append({
                "ResourceKey": {"resourceType": rtype, "resourceId": rid},
                "State": states.get(latest.status, "FAILED"),
                "StepDetails": [{"Name": step.name, "State": step.status.upper() if step.status != "Success" else "SUCCEEDED",
                                 **({"ErrorMessage": step.failure} if step.failure else {})} for step in latest.steps],
                "InvocationTime": latest.started.timestamp(),
                "LastUpdatedTime": (latest.ended or latest.started).timestamp(),
            })
        page, token = paginate(rows, params.get("NextToken"), params.get("Limit") or 100)
        return {"RemediationExecutionStatuses": page, **({"NextToken": token} if token else {})}

    @staticmethod
    def _result(rule_name: str, e: Evaluation) -> dict[str, Any]:
        result = {
            "EvaluationResultIdentifier": {
                "EvaluationResultQualifier": {"ConfigRuleName": rule_name, "ResourceType": e.resource_type,
                                              "ResourceId": e.resource_id, "EvaluationMode": "DETECTIVE"},
                "OrderingTimestamp": e.ordering.timestamp(),
            },
            "ComplianceType": e.compliance,
            "ResultRecordedTime": e.recorded.timestamp(),
            "ConfigRuleInvokedTime": e.invoked.timestamp(),
        }
        if e.annotation:
            result["Annotation"] = e.annotation
        return result

    def _rule_or_error(self, account: str, region: str, name: str) -> Any:
        rule = config_backends[account][region].config_rules.get(name)
        if rule is None:
            raise AwsError("NoSuchConfigRuleException", f"The ConfigRule '{name}' provided in the request is invalid. Please check the configRule name")
        return rule

    def op_GetComplianceDetailsByConfigRule(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ConfigRuleName"]
        self._rule_or_error(account, region, name)
        wanted = set(params.get("ComplianceTypes") or ALLOWED_COMPLIANCE)
        store = self.evaluations.get((account, region, name), {})
        results = [self._result(name, e) for _, e in sorted(store.items()) if e.compliance in wanted]
        page, token = paginate(results, params.get("NextToken"), params.get("Limit") or 100)
        return {"EvaluationResults": page, **({"NextToken": token} if token else {})}

    def op_GetComplianceDetailsByResource(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        key = (params.get("ResourceType"), params.get("ResourceId"))
        wanted = set(params.get("ComplianceTypes") or ALLOWED_COMPLIANCE)
        results = []
        for (acct, reg, rule_name), store in sorted(self.evaluations.items()):
            if (acct, reg) == (account, region) and key in store and store[key].compliance in wanted:
                results.append(self._result(rule_name, store[key]))
        page, token = paginate(results, params.get("NextToken"), 100)
        return {"EvaluationResults": page, **({"NextToken": token} if token else {})}

    @staticmethod
    def _rule_compliance(store: dict[tuple[str, str], Evaluation]) -> dict[str, Any]:
        noncompliant = sum(1 for e in store.values() if e.compliance == "NON_COMPLIANT")
        compliant = sum(1 for e in store.values() if e.compliance == "COMPLIANT")
        if noncompliant:
            return {"ComplianceType": "NON_COMPLIANT",
                    "ComplianceContributorCount": {"CappedCount": min(noncompliant, 100), "CapExceeded": noncompliant > 100}}
        if compliant:
            return {"ComplianceType": "COMPLIANT"}
        return {"ComplianceType": "INSUFFICIENT_DATA"}

    def op_DescribeComplianceByConfigRule(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        backend = config_backends[account][region]
        names = params.get("ConfigRuleNames") or sorted(backend.config_rules)
        wanted = set(params.get("ComplianceTypes") or [])
        rows = []
        for name in names:
            self._rule_or_error(account, region, name)
            compliance = self._rule_compliance(self.evaluations.get((account, region, name), {}))
            if not wanted or compliance["ComplianceType"] in wanted:
                rows.append({"ConfigRuleName": name, "Compliance": compliance})
        page, token = paginate(rows, params.get("NextToken"), 25)
        return {"ComplianceByConfigRules": page, **({"NextToken": token} if token else {})}

    def op_DeleteEvaluationResults(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ConfigRuleName"]
        self._rule_or_error(account, region, name)
        self.evaluations.pop((account, region, name), None)
        return {}

    # ---- discovery (Lambda items only; other types pass through to moto)

    def _latest(self, account: str, region: str, resource_type: str) -> list[dict[str, Any]]:
        return [h[-1] for (a, r, t, _), h in sorted(self.items.items()) if (a, r, t) == (account, region, resource_type)]

    @staticmethod
    def api_item(item: dict[str, Any], with_tags: bool = True) -> dict[str, Any]:
        """A configuration item as the discovery APIs return it: configuration as a JSON string,
        epoch timestamps, `accountId`/`arn` spellings."""
        out = {
            "version": item["configurationItemVersion"],
            "accountId": item["awsAccountId"],
            "configurationItemCaptureTime": parse_timestamp(item["configurationItemCaptureTime"]).timestamp(),
            "configurationItemStatus": item["configurationItemStatus"],
            "configurationStateId": str(item["configurationStateId"]),
            "arn": item["ARN"],
            "resourceType": item["resourceType"],
            "resourceId": item["resourceId"],
            "resourceName": item["resourceName"],
            "awsRegion": item["awsRegion"],
            "availabilityZone": item["availabilityZone"],
            "resourceCreationTime": parse_timestamp(item["resourceCreationTime"]).timestamp(),
            "configuration": json.dumps(item["configuration"]) if item["configuration"] is not None else "null",
            "supplementaryConfiguration": {},
        }
        if with_tags:
            out["configurationItemMD5Hash"] = item["configurationItemMD5Hash"]
            out["tags"] = item["tags"]
            out["relatedEvents"] = []
            out["relationships"] = [
                {"resourceType": r["resourceType"], "resourceName": r["resourceName"], "relationshipName": r["relationshipName"]}
                for r in item["relationships"]
            ]
        return out

    def op_GetResourceConfigHistory(self, account: str, region: str, params: dict[str, Any]) -> Any:
        if params.get("resourceType") != LAMBDA_TYPE:
            return NotImplemented
        history = self.items.get((account, region, LAMBDA_TYPE, params["resourceId"]))
        if not history:
            raise AwsError("ResourceNotDiscoveredException",
                           f"Resource {params['resourceId']} of resourceType:{LAMBDA_TYPE} is unknown or has not been discovered")
        items = list(history) if params.get("chronologicalOrder") == "Forward" else list(reversed(history))
        if params.get("laterTime") is not None:
            later = parse_timestamp(params["laterTime"])
            items = [i for i in items if parse_timestamp(i["configurationItemCaptureTime"]) <= later]
        if params.get("earlierTime") is not None:
            earlier = parse_timestamp(params["earlierTime"])
            items = [i for i in items if parse_timestamp(i["configurationItemCaptureTime"]) >= earlier]
        page, token = paginate([self.api_item(i) for i in items], params.get("nextToken"), params.get("limit") or 10)
        return {"configurationItems": page, **({"nextToken": token} if token else {})}

    def op_ListDiscoveredResources(self, account: str, region: str, params: dict[str, Any]) -> Any:
        if params.get("resourceType") != LAMBDA_TYPE:
            return NotImplemented
        ids = set(params.get("resourceIds") or [])
        include_deleted = bool(params.get("includeDeletedResources"))
        rows = []
        for item in self._latest(account, region, LAMBDA_TYPE):
            deleted = item["configuration"] is None
            if (deleted and not include_deleted) or (ids and item["resourceId"] not in ids):
                continue
            if params.get("resourceName") and params["resourceName"] != item["resourceName"]:
                continue
            row = {"resourceType": LAMBDA_TYPE, "resourceId": item["resourceId"], "resourceName": item["resourceName"]}
            if deleted:
                row["resourceDeletionTime"] = parse_timestamp(item["configurationItemCaptureTime"]).timestamp()
            rows.append(row)
        page, token = paginate(rows, params.get("nextToken"), params.get("limit") or 100)
        return {"resourceIdentifiers": page, **({"nextToken": token} if token else {})}

    def op_BatchGetResourceConfig(self, account: str, region: str, params: dict[str, Any]) -> Any:
        keys = params["resourceKeys"]
        if any(k["resourceType"] != LAMBDA_TYPE for k in keys):
            return NotImplemented
        found = []
        for key in keys:
            history = self.items.get((account, region, LAMBDA_TYPE, key["resourceId"]))
            if history and history[-1]["configuration"] is not None:
                found.append(self.api_item(history[-1], with_tags=False))
        return {"baseConfigurationItems": found, "unprocessedResourceKeys": []}

    def op_SelectResourceConfig(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        items = [i for i in self._latest(account, region, LAMBDA_TYPE) if i["configuration"] is not None]
        return self._select(params["Expression"], items, params)

    @staticmethod
    def _select(expression: str, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        try:
            query = sql.parse(expression)
        except sql.SqlError as error:
            raise AwsError("InvalidExpressionException", str(error))
        rows = [json.dumps(r) for r in query.run(items)]
        limit = params.get("Limit") or params.get("MaxResults") or 100
        page, token = paginate(rows, params.get("NextToken"), limit)
        return {"Results": page, "QueryInfo": {"SelectFields": [{"Name": f} for f in query.field_names]},
                **({"NextToken": token} if token else {})}

    # ---- organization rules

    @staticmethod
    def organization_of(account: str) -> tuple[str, list[Any]] | None:
        """(management account, accounts) of the organization `account` belongs to."""
        # moto maps member accounts to their management account; the management account holds the org.
        management, partition = organizations_backends.master_accounts.get(account, (account, "aws"))
        backend = organizations_backends[management][partition]
        if backend.org is None:
            return None
        return management, list(backend.accounts)

    def _org_or_error(self, account: str) -> tuple[str, list[Any]]:
        org = self.organization_of(account)
        if org is None:
            raise AwsError("NoAvailableOrganizationException", "Organization is not available.")
        if org[0] != account:
            raise AwsError("OrganizationAccessDeniedException",
                           "This action can only be performed if you are a registered delegated administrator or the management account.")
        return org

    def op_PutOrganizationConfigRule(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        _, accounts = self._org_or_error(account)
        metadata = params.get("OrganizationCustomRuleMetadata")
        if metadata is None:
            raise AwsError("ValidationException", "This emulator supports OrganizationCustomRuleMetadata only.")
        name = params["OrganizationConfigRuleName"]
        key = (account, region, name)
        rule = self.org_rules.get(key)
        if rule is None:
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
            rule = OrgRule(name, f"arn:aws:config:{region}:{account}:organization-config-rule/{name}-{suffix}",
                           metadata, params.get("ExcludedAccounts") or [])
            self.org_rules[key] = rule
        rule.metadata, rule.excluded, rule.updated = metadata, params.get("ExcludedAccounts") or [], now()
        suffix = rule.arn.rsplit("-", 1)[-1]
        for member in accounts:
            if member.status != "ACTIVE" or member.id in rule.excluded:
                continue
            member_rule_name = f"OrgConfigRule-{name}-{suffix}"
            details = []
            for trigger in metadata.get("OrganizationConfigRuleTriggerTypes") or []:
                detail = {"EventSource": "aws.config", "MessageType": trigger}
                if trigger == SCHEDULED:
                    detail["MaximumExecutionFrequency"] = metadata.get("MaximumExecutionFrequency", "TwentyFour_Hours")
                details.append(detail)
            spec = {
                "ConfigRuleName": member_rule_name,
                "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": metadata["LambdaFunctionArn"], "SourceDetails": details},
                "InputParameters": metadata.get("InputParameters") or "{}",
            }
            scope: dict[str, Any] = {}
            if metadata.get("ResourceTypesScope"):
                scope["ComplianceResourceTypes"] = metadata["ResourceTypesScope"]
            if metadata.get("TagKeyScope"):
                scope["TagKey"] = metadata["TagKeyScope"]
                if metadata.get("TagValueScope"):
                    scope["TagValue"] = metadata["TagValueScope"]
            if scope:
                spec["Scope"] = scope
            if metadata.get("MaximumExecutionFrequency"):
                spec["MaximumExecutionFrequency"] = metadata["MaximumExecutionFrequency"]
            # moto checks that the rule's Lambda exists in the rule's own account; an organization rule's
            # Lambda lives in this (management) account, so the rule is built here and moved to the member.
            member_rule = ConfigRule(account, region, spec, {})
            member_rule.account_id = member.id
            member_rule.config_rule_arn = member_rule.config_rule_arn.replace(f":{account}:", f":{member.id}:")
            member_rule.created_by = "config-multiaccountsetup.amazonaws.com"
            config_backends[member.id][region].config_rules[member_rule_name] = member_rule
            rule.member_rules[member.id] = member_rule_name
        return {"OrganizationConfigRuleArn": rule.arn}

    def op_DescribeOrganizationConfigRules(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        names = params.get("OrganizationConfigRuleNames")
        rows = []
        for (acct, reg, name), rule in sorted(self.org_rules.items()):
            if (acct, reg) != (account, region) or (names and name not in names):
                continue
            rows.append({"OrganizationConfigRuleName": name, "OrganizationConfigRuleArn": rule.arn,
                         "OrganizationCustomRuleMetadata": rule.metadata, "ExcludedAccounts": rule.excluded,
                         "LastUpdateTime": rule.updated.timestamp()})
        if names and len(rows) != len(names):
            raise AwsError("NoSuchOrganizationConfigRuleException", "The organization config rule provided in the request is invalid.")
        return {"OrganizationConfigRules": rows}

    def op_DeleteOrganizationConfigRule(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        key = (account, region, params["OrganizationConfigRuleName"])
        rule = self.org_rules.pop(key, None)
        if rule is None:
            raise AwsError("NoSuchOrganizationConfigRuleException", "The organization config rule provided in the request is invalid.")
        for member, member_rule in rule.member_rules.items():
            config_backends[member][region].config_rules.pop(member_rule, None)
            self.evaluations.pop((member, region, member_rule), None)
        return {}

    # ---- aggregators

    def _sources(self, account: str, region: str, aggregator_name: str) -> set[tuple[str, str]]:
        """(account, region) pairs an aggregator reads."""
        aggregator = config_backends[account][region].config_aggregators.get(aggregator_name)
        if aggregator is None:
            raise AwsError("NoSuchConfigurationAggregatorException", "The configuration aggregator does not exist. Check the configuration aggregator name and try again.")
        known_regions = {reg for (_, reg, _, _) in self.items} | {reg for (_, reg, _) in self.evaluations} | {region}
        pairs: set[tuple[str, str]] = set()
        for source in aggregator.account_aggregation_sources or []:
            regions = known_regions if source.all_aws_regions else set(source.aws_regions or [])
            pairs |= {(a, r) for a in source.account_ids for r in regions}
        org_source = aggregator.organization_aggregation_source
        if org_source is not None:
            org = self.organization_of(account)
            if org is not None:
                regions = known_regions if org_source.all_aws_regions else set(org_source.aws_regions or [])
                pairs |= {(a.id, r) for a in org[1] if a.status == "ACTIVE" for r in regions}
        return pairs

    def op_DescribeAggregateComplianceByConfigRules(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        sources = self._sources(account, region, params["ConfigurationAggregatorName"])
        filters = params.get("Filters") or {}
        rows = []
        for (acct, reg), backend_rules in sorted(self._rules_in(sources).items()):
            for name in sorted(backend_rules):
                if filters.get("ConfigRuleName") and filters["ConfigRuleName"] != name:
                    continue
                if filters.get("AccountId") and filters["AccountId"] != acct:
                    continue
                if filters.get("AwsRegion") and filters["AwsRegion"] != reg:
                    continue
                compliance = self._rule_compliance(self.evaluations.get((acct, reg, name), {}))
                if filters.get("ComplianceType") and filters["ComplianceType"] != compliance["ComplianceType"]:
                    continue
                rows.append({"ConfigRuleName": name, "Compliance": compliance, "AccountId": acct, "AwsRegion": reg})
        page, token = paginate(rows, params.get("NextToken"), params.get("Limit") or 1000)
        return {"AggregateComplianceByConfigRules": page, **({"NextToken": token} if token else {})}

    @staticmethod
    def _rules_in(sources: set[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        found = {}
        for acct, reg in sources:
            rules = list(config_backends[acct][reg].config_rules)
            if rules:
                found[(acct, reg)] = rules
        return found

    def op_GetAggregateComplianceDetailsByConfigRule(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        sources = self._sources(account, region, params["ConfigurationAggregatorName"])
        wanted = params.get("ComplianceType")
        if wanted and wanted not in ("COMPLIANT", "NON_COMPLIANT"):
            raise AwsError("InvalidParameterValueException",
                           f"The compliance type {wanted} is not supported. Use COMPLIANT or NON_COMPLIANT.")
        pair = (params["AccountId"], params["AwsRegion"])
        results = []
        if pair in sources:
            store = self.evaluations.get((pair[0], pair[1], params["ConfigRuleName"]), {})
            for _, e in sorted(store.items()):
                # The aggregate APIs return COMPLIANT and NON_COMPLIANT only, as in AWS.
                if e.compliance in ("COMPLIANT", "NON_COMPLIANT") and (not wanted or e.compliance == wanted):
                    result = self._result(params["ConfigRuleName"], e)
                    result.update({"AccountId": pair[0], "AwsRegion": pair[1]})
                    results.append(result)
        page, token = paginate(results, params.get("NextToken"), params.get("Limit") or 50)
        return {"AggregateEvaluationResults": page, **({"NextToken": token} if token else {})}

    def op_GetAggregateConfigRuleComplianceSummary(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        sources = self._sources(account, region, params["ConfigurationAggregatorName"])
        filters = params.get("Filters") or {}
        group_by = params.get("GroupByKey")
        groups: dict[str, list[int]] = {}
        for (acct, reg), names in self._rules_in(sources).items():
            if (filters.get("AccountId") and filters["AccountId"] != acct) or (filters.get("AwsRegion") and filters["AwsRegion"] != reg):
                continue
            group = acct if group_by == "ACCOUNT_ID" else reg if group_by == "AWS_REGION" else ""
            counts = groups.setdefault(group, [0, 0])
            for name in names:
                kind = self._rule_compliance(self.evaluations.get((acct, reg, name), {}))["ComplianceType"]
                counts[0] += kind == "COMPLIANT"
                counts[1] += kind == "NON_COMPLIANT"
        stamp = now().timestamp()
        rows = [{"GroupName": g, "ComplianceSummary": {
                    "CompliantResourceCount": {"CappedCount": c, "CapExceeded": False},
                    "NonCompliantResourceCount": {"CappedCount": n, "CapExceeded": False},
                    "ComplianceSummaryTimestamp": stamp}} for g, (c, n) in sorted(groups.items())]
        page, token = paginate(rows, params.get("NextToken"), params.get("Limit") or 1000)
        result: dict[str, Any] = {"AggregateComplianceCounts": page}
        if group_by:
            result["GroupByKey"] = group_by
        if token:
            result["NextToken"] = token
        return result

    def _aggregate_items(self, sources: set[tuple[str, str]]) -> list[dict[str, Any]]:
        return [h[-1] for (a, r, t, _), h in sorted(self.items.items())
                if (a, r) in sources and t == LAMBDA_TYPE and h[-1]["configuration"] is not None]

    def op_ListAggregateDiscoveredResources(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        sources = self._sources(account, region, params["ConfigurationAggregatorName"])
        filters = params.get("Filters") or {}
        rows = []
        if params["ResourceType"] == LAMBDA_TYPE:
            for item in self._aggregate_items(sources):
                if filters.get("AccountId") and filters["AccountId"] != item["awsAccountId"]:
                    continue
                if filters.get("Region") and filters["Region"] != item["awsRegion"]:
                    continue
                if filters.get("ResourceId") and filters["ResourceId"] != item["resourceId"]:
                    continue
                if filters.get("ResourceName") and filters["ResourceName"] != item["resourceName"]:
                    continue
                rows.append({"SourceAccountId": item["awsAccountId"], "SourceRegion": item["awsRegion"],
                             "ResourceId": item["resourceId"], "ResourceType": LAMBDA_TYPE, "ResourceName": item["resourceName"]})
        page, token = paginate(rows, params.get("NextToken"), params.get("Limit") or 100)
        return {"ResourceIdentifiers": page, **({"NextToken": token} if token else {})}

    def op_BatchGetAggregateResourceConfig(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        sources = self._sources(account, region, params["ConfigurationAggregatorName"])
        found, missing = [], []
        for key in params["ResourceIdentifiers"]:
            history = self.items.get((key["SourceAccountId"], key["SourceRegion"], key["ResourceType"], key["ResourceId"]))
            if (key["SourceAccountId"], key["SourceRegion"]) in sources and history and history[-1]["configuration"] is not None:
                found.append(self.api_item(history[-1], with_tags=False))
            else:
                missing.append(key)
        return {"BaseConfigurationItems": found, "UnprocessedResourceIdentifiers": missing}

    def op_SelectAggregateResourceConfig(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        sources = self._sources(account, region, params["ConfigurationAggregatorName"])
        return self._select(params["Expression"], self._aggregate_items(sources), params)

