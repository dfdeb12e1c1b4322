"""AWS Config on top of moto: recording of AWS::Lambda::Function, custom Lambda rule invocations,
PutEvaluations with AWS's contract, compliance reads, organization rules and aggregators.

moto keeps the rules, recorders and aggregators (PutConfigRule & co. pass through to it); this module
keeps what moto lacks: configuration items, result tokens, evaluations and organization rules."""

from __future__ import annotations

import base64
import bisect
import collections
import datetime as dt
import hashlib
import heapq
import itertools
import json
import random
import string
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from moto.config.models import ConfigRule, config_backends
from moto.core.exceptions import JsonRESTError
from moto.events.models import events_backends
from moto.organizations.models import organizations_backends

from . import config_rule_source, resource_compliance, sql
from .protocol import AwsError, now, parse_timestamp, validate_input

config_rule_source.install()

LAMBDA_TYPE = "AWS::Lambda::Function"
# Lambda aliases, recorded with the properties of the Config resource schema
# (awslabs/aws-config-resource-schema, config/properties/resource-types/AWS::Lambda::Alias.properties.json:
# configuration.aliasArn, .description, .functionVersion, .name; relationships.*; tags.*).
ALIAS_TYPE = "AWS::Lambda::Alias"
# One item per evaluated resource, recorded as rules' results change (localaws/resource_compliance.py).
COMPLIANCE_TYPE = resource_compliance.COMPLIANCE_TYPE
RECORDED_TYPES = (LAMBDA_TYPE, ALIAS_TYPE, COMPLIANCE_TYPE)
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


class EvaluationStore:
    """The evaluations of one rule in one account and region: by resource, plus one sorted key list per
    compliance type, so that a page costs O(page) and a count O(1) however many resources were evaluated."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], Evaluation] = {}
        self.sorted: dict[str, list[tuple[str, str]]] = {c: [] for c in ALLOWED_COMPLIANCE}

    def get(self, key: tuple[str, str]) -> Evaluation | None:
        return self.by_key.get(key)

    def put(self, evaluation: Evaluation) -> None:
        key = (evaluation.resource_type, evaluation.resource_id)
        old = self.by_key.get(key)
        if old is None or old.compliance != evaluation.compliance:
            if old is not None:
                keys = self.sorted[old.compliance]
                del keys[bisect.bisect_left(keys, key)]
            bisect.insort(self.sorted[evaluation.compliance], key)
        self.by_key[key] = evaluation

    def count(self, compliance: str) -> int:
        return len(self.sorted[compliance])

    def page(self, compliances: set[str], after: tuple[str, str] | None, limit: int) -> tuple[list[Evaluation], bool]:
        """Up to `limit` evaluations of the given compliance types in (resource type, resource id) order,
        after the key `after`; and whether more follow."""
        lists = [self.sorted[c] for c in ALLOWED_COMPLIANCE if c in compliances]
        merged = heapq.merge(*(_from(keys, bisect.bisect_right(keys, after) if after else 0) for keys in lists))
        keys = list(itertools.islice(merged, limit + 1))
        return [self.by_key[k] for k in keys[:limit]], len(keys) > limit


def _from(keys: list[Any], start: int) -> Iterator[Any]:
    for index in range(start, len(keys)):
        yield keys[index]


class SortedKeys:
    """A sorted list of keys with O(log N) lookups, for listings paged by key."""

    def __init__(self) -> None:
        self.keys: list[Any] = []

    def add(self, key: Any) -> None:
        index = bisect.bisect_left(self.keys, key)
        if index == len(self.keys) or self.keys[index] != key:
            self.keys.insert(index, key)

    def discard(self, key: Any) -> None:
        index = bisect.bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            del self.keys[index]

    def __contains__(self, key: Any) -> bool:
        index = bisect.bisect_left(self.keys, key)
        return index < len(self.keys) and self.keys[index] == key

    def __len__(self) -> int:
        return len(self.keys)

    def after(self, key: Any) -> Iterator[Any]:
        return _from(self.keys, bisect.bisect_right(self.keys, key) if key is not None else 0)


# ---- paging: NextToken names the last key returned, so a page costs O(page) and the order stays stable
# when results are added between two pages (the services' tokens are opaque; these are too).

def next_token(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def token_key(token: str | None, arity: int, kinds: type | tuple[type, ...] = str) -> tuple[Any, ...] | None:
    """The key a NextToken names (`arity` values of the given types), or None without a token;
    InvalidNextTokenException for anything else."""
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except Exception:
        key = None
    if not isinstance(key, list) or len(key) != arity or not all(isinstance(k, kinds) and not isinstance(k, bool) for k in key):
        raise AwsError("InvalidNextTokenException", "The nextToken provided is invalid")
    return tuple(key)


def page_of(keys: Iterator[Any], limit: int) -> tuple[list[Any], str | None]:
    """The first `limit` keys of an ordered iterator, and the token for the rest (None: no more)."""
    taken = list(itertools.islice(keys, limit + 1))
    page = taken[:limit]
    return page, (next_token(list(page[-1]) if isinstance(page[-1], tuple) else [page[-1]]) if len(taken) > limit else None)


def limit_of(params: dict[str, Any], name: str, default: int) -> int:
    """A Limit parameter: absent or 0 means the service's default ("If you specify 0, Config uses the
    default"); the maximum is enforced by the service model (ValidationException)."""
    return int(params.get(name) or default)


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
            # (account, region, type) -> resource ids recorded (deleted ones too) / not deleted, sorted
            self.recorded_ids: dict[tuple[str, str, str], SortedKeys] = {}
            self.live_ids: dict[tuple[str, str, str], SortedKeys] = {}
            self.known_regions: set[str] = set()
            self.evaluations: dict[tuple[str, str, str], EvaluationStore] = {}
            self.tokens: dict[str, Token] = {}
            self.org_rules: dict[tuple[str, str, str], OrgRule] = {}
            self.oversized_bytes = 256 * 1024
            self.invocations_sent = 0
            # (account, region, rule) -> RemediationConfiguration as given
            self.remediations: dict[tuple[str, str, str], dict[str, Any]] = {}
            # (account, region, rule) -> (type, id) -> automation executions started for it, and its sorted keys
            self.remediation_runs: dict[tuple[str, str, str], dict[tuple[str, str], list[Any]]] = {}
            self.remediation_keys: dict[tuple[str, str, str], SortedKeys] = {}
            # Select query results kept for their NextToken (query id -> rows), oldest first
            self.select_results: collections.OrderedDict[str, list[dict[str, Any]]] = collections.OrderedDict()
            # (account, region, rule, type, id) -> evaluations stored (not ignored as older), for tests
            self.recorded: dict[tuple[str, str, str, str, str], int] = {}

    # ---------------------------------------------------------------- recording

    def _recording(self, account: str, region: str, resource_type: str) -> str | None:
        """The role ARN of a running recorder that records `resource_type` in (account, region), or None.
        The recording group as moto keeps it from PutConfigurationRecorder (RecordingGroup, validated there):
        allSupported records every supported type; INCLUSION_BY_RESOURCE_TYPES the `resourceTypes` listed;
        EXCLUSION_BY_RESOURCE_TYPES "all supported resource types, except the resource types that you specify to
        exclude from being recorded" (https://docs.aws.amazon.com/config/latest/APIReference/API_ExclusionByResourceTypes.html,
        API_RecordingGroup.html)."""
        backend = config_backends[account][region]
        for recorder in backend.recorders.values():
            group = recorder.recording_group
            if group is None or group.all_supported:
                covers = True
            elif (group.recording_strategy or {}).get("useOnly") == "EXCLUSION_BY_RESOURCE_TYPES":
                covers = resource_type not in ((group.exclusion_by_resource_types or {}).get("resourceTypes") or [])
            else:
                covers = resource_type in (group.resource_types or [])
            if recorder.status.recording and covers:
                return recorder.role_arn
        return None

    def record_lambda(self, account: str, region: str, name: str, configuration: dict[str, Any] | None,
                      tags: dict[str, str], arn: str) -> None:
        """Records a change of a Lambda function (configuration None: deleted) and notifies the rules."""
        relationships = [] if configuration is None else [
            {"resourceType": "AWS::IAM::Role", "resourceName": configuration.get("role", "").rsplit("/", 1)[-1],
             "relationshipName": "Is associated with "}]
        self._record(account, region, LAMBDA_TYPE, name, name, arn, configuration, tags, relationships, notify=True)

    def record_alias(self, account: str, region: str, function: str, alias: str, configuration: dict[str, Any] | None,
                     arn: str) -> None:
        """Records a change of a Lambda alias (configuration None: deleted). The resource id is the alias ARN (its
        CloudFormation primary identifier; an assumption: Config's documentation does not say), the resource name
        the alias name, and the relationship names the function. Rules are not notified of aliases (no rule of this
        project is scoped to them)."""
        relationships = [{"resourceType": LAMBDA_TYPE, "resourceName": function, "resourceId": function,
                          "relationshipName": "Is associated with "}] if configuration is not None else []
        self._record(account, region, ALIAS_TYPE, arn, alias, arn, configuration, {}, relationships, notify=False)

    def forget_aliases(self, account: str, region: str, function: str) -> None:
        """The function was deleted: so were its aliases."""
        prefix = f"arn:aws:lambda:{region}:{account}:function:{function}:"
        with self.lock:
            live = list(self.live_ids.get((account, region, ALIAS_TYPE), SortedKeys()).after(None))
        for arn in live:
            if arn.startswith(prefix):
                self._record(account, region, ALIAS_TYPE, arn, arn[len(prefix):], arn, None, {}, [], notify=False)

    def record_compliance(self, account: str, region: str, target_type: str, target_id: str) -> None:
        """Records the AWS::Config::ResourceCompliance item of a resource from the current results of the rules of
        (account, region) for it, when the recorder records that type: a new version when the list or a
        compliance differs from the latest item, a deleted item when no rule has a COMPLIANT or NON_COMPLIANT
        result any more (localaws/resource_compliance.py has the shape and its sources)."""
        with self.lock:
            if self._recording(account, region, COMPLIANCE_TYPE) is None:
                return
            rules = config_backends[account][region].config_rules
            entries = []
            for name in sorted(rules):
                store = self.evaluations.get((account, region, name))
                evaluation = store.get((target_type, target_id)) if store is not None else None
                if evaluation is not None:
                    rule = rules[name]
                    entries.append(resource_compliance.rule_entry(name, evaluation.compliance, rule.config_rule_arn,
                                                                  rule.config_rule_id))
            configuration = resource_compliance.configuration(target_type, target_id, entries)
            history = self.items.get((account, region, COMPLIANCE_TYPE,
                                      resource_compliance.resource_id(target_type, target_id)))
            if history and history[-1]["configuration"] == configuration:
                return  # the same compliance again: no new item
            self._record(account, region, COMPLIANCE_TYPE, resource_compliance.resource_id(target_type, target_id),
                         None, None, configuration, {}, resource_compliance.relationships(target_type, target_id),
                         notify=False)

    def _record(self, account: str, region: str, resource_type: str, resource_id: str, resource_name: str | None,
                arn: str | None, configuration: dict[str, Any] | None, tags: dict[str, str],
                relationships: list[dict[str, str]], notify: bool) -> None:
        with self.lock:
            if self._recording(account, region, resource_type) is None:
                return
            key = (account, region, resource_type, resource_id)
            history = self.items.setdefault(key, [])
            previous = history[-1] if history else None
            moment = now()
            if configuration is None and (previous is None or previous["configuration"] is None):
                return  # nothing recorded to delete
            status = "ResourceDeleted" if configuration is None else (
                "ResourceDiscovered" if previous is None or previous["configuration"] is None else "OK")
            if resource_type == COMPLIANCE_TYPE:
                target_type, _, target_id = resource_id.partition("/")
                item = resource_compliance.item(account, region, target_type, target_id, configuration, iso(moment),
                                                str(int(moment.timestamp() * 1000)), status)
            else:
                item = self._item(account, region, resource_type, resource_id, resource_name, arn, configuration,
                                  tags, relationships, previous, moment, status)
            history.append(item)
            kind = (account, region, resource_type)
            self.recorded_ids.setdefault(kind, SortedKeys()).add(resource_id)
            live = self.live_ids.setdefault(kind, SortedKeys())
            if configuration is None:
                live.discard(resource_id)
            else:
                live.add(resource_id)
            self.known_regions.add(region)
            if not notify:
                return
            change_type = "DELETE" if configuration is None else ("CREATE" if item["configurationItemStatus"] == "ResourceDiscovered" else "UPDATE")
            for rule in self._rules_with_trigger(account, region, (CHANGE, OVERSIZED)):
                self._notify_change(account, region, rule, item, previous, change_type)

    @staticmethod
    def _item(account: str, region: str, resource_type: str, resource_id: str, resource_name: str | None,
              arn: str | None, configuration: dict[str, Any] | None, tags: dict[str, str],
              relationships: list[dict[str, str]], previous: dict[str, Any] | None, moment: dt.datetime,
              status: str) -> dict[str, Any]:
        item = {
            "version": "1.3",
            "configurationItemVersion": "1.3",
            "configurationItemCaptureTime": iso(moment),
            "configurationStateId": int(moment.timestamp() * 1000),
            "awsAccountId": account,
            "configurationItemStatus": status,
            "resourceType": resource_type,
            "resourceId": resource_id,
            "resourceName": resource_name,
            "ARN": arn,
            "awsRegion": region,
            "availabilityZone": "Not Applicable",
            "resourceCreationTime": previous["resourceCreationTime"] if previous and previous["configuration"] else iso(moment),
            "tags": dict(tags) if configuration is not None else {},
            "relatedEvents": [],
            "relationships": relationships,
            "configuration": configuration,
            "supplementaryConfiguration": {},
        }
        item["configurationItemMD5Hash"] = hashlib.md5(json.dumps(item, sort_keys=True).encode()).hexdigest()
        return item

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
            try:
                return handler(account, region, params)
            except JsonRESTError as error:  # moto refused something on our behalf: answer as Config, not a 500
                raise AwsError(error.error_type, error.message, int(error.code or 400))

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
                for item in self._latest(account, region, LAMBDA_TYPE):
                    self._notify_change(account, region, rule, item, item, "UPDATE")
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
        store = self.evaluations.setdefault((account, region, info.rule_name), EvaluationStore())
        self.known_regions.add(region)
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
            stored = Evaluation(key[0], key[1], evaluation["ComplianceType"], evaluation.get("Annotation"),
                                ordering, now(), info.invoked)
            store.put(stored)
            counter = (account, region, info.rule_name, *key)
            self.recorded[counter] = self.recorded.get(counter, 0) + 1
            if current is None or current.compliance != stored.compliance:
                self._compliance_changed(account, region, info.rule_name, current, stored)
                self.record_compliance(account, region, key[0], key[1])
            remediation = self.remediations.get((account, region, info.rule_name))
            if evaluation["ComplianceType"] == "NON_COMPLIANT" and remediation and remediation.get("Automatic"):
                runs = self.remediation_runs.get((account, region, info.rule_name), {}).get(key, [])
                if len(runs) < int(remediation.get("MaximumAutomaticAttempts") or 5):
                    self._remediate(account, region, info.rule_name, key[0], key[1])
        return {"FailedEvaluations": failed}

    # ---- compliance change events (Config -> EventBridge)

    def _compliance_changed(self, account: str, region: str, rule_name: str, old: Evaluation | None,
                            new: Evaluation) -> None:
        """Config sends "Config Rules Compliance Change" to the evaluated account's default event bus (in the
        rule's region) "when the compliance type of a resource that AWS Config evaluates has changed"
        (https://docs.aws.amazon.com/config/latest/developerguide/monitor-config-with-cloudwatchevents.html):
        the first result for a resource, or a ComplianceType other than the stored one; the same result
        again sends nothing. Detail as in
        https://docs.aws.amazon.com/config/latest/developerguide/example-config-rule-compliance-notification.html
        (the "Message"), envelope as in https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-config.html
        (source aws.config, best-effort delivery). On a first result there is no previous one, so the detail
        has no oldEvaluationResult. moto's events backend then matches the account's rules and delivers."""
        rule = config_backends[account][region].config_rules.get(rule_name)
        detail: dict[str, Any] = {
            "awsAccountId": account,
            "configRuleName": rule_name,
            "configRuleARN": rule.config_rule_arn if rule is not None else "",
            "resourceType": new.resource_type,
            "resourceId": new.resource_id,
            "awsRegion": region,
            "newEvaluationResult": self._event_result(rule_name, new),
        }
        if old is not None:
            detail["oldEvaluationResult"] = self._event_result(rule_name, old)
        detail.update({"notificationCreationTime": iso(now()), "messageType": "ComplianceChangeNotification",
                       "recordVersion": "1.0"})
        try:
            events_backends[account][region].put_events([{
                "Source": "aws.config", "DetailType": "Config Rules Compliance Change", "Resources": [],
                "Detail": json.dumps(detail), "Time": now().timestamp()}])
        except Exception:  # best effort, as Config's: never fails PutEvaluations, but say so loudly
            traceback.print_exc()

    @staticmethod
    def _event_result(rule_name: str, e: Evaluation) -> dict[str, Any]:
        return {
            "evaluationResultIdentifier": {
                "evaluationResultQualifier": {"configRuleName": rule_name, "resourceType": e.resource_type,
                                              "resourceId": e.resource_id, "evaluationMode": "DETECTIVE"},
                "orderingTimestamp": iso(e.ordering),
            },
            "complianceType": e.compliance,
            "resultRecordedTime": iso(e.recorded),
            "configRuleInvokedTime": iso(e.invoked),
            "annotation": e.annotation,
            "resultToken": None,
        }

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
        key = (resource_type, resource_id)
        self.remediation_runs.setdefault((account, region, rule_name), {}).setdefault(key, []).append(execution)
        self.remediation_keys.setdefault((account, region, rule_name), SortedKeys()).add(key)
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
        runs = self.remediation_runs.get((account, region, name), {})
        wanted = sorted({(k["resourceType"], k["resourceId"]) for k in params.get("ResourceKeys") or []})
        after = token_key(params.get("NextToken"), 2)
        if wanted:
            keys: Iterator[Any] = (k for k in wanted if k in runs and (after is None or k > after))
        else:
            keys = self.remediation_keys.get((account, region, name), SortedKeys()).after(after)
        # "The default is maximum" (100, the service model's maximum).
        page, token = page_of(keys, limit_of(params, "Limit", 100))
        states = {"Pending": "QUEUED", "InProgress": "IN_PROGRESS", "Success": "SUCCEEDED"}
        rows = []
        for rtype, rid in page:
            latest = runs[(rtype, rid)][-1]
            rows.append({
                "ResourceKey": {"resourceType": rtype, "resourceId": rid},
                "State": states.get(latest.status, "FAILED"),
                "StepDetails": [{"Name": step.name, "State": step.status.upper() if step.status != "Success" else "SUCCEEDED",
                                 **({"ErrorMessage": step.failure} if step.failure else {})} for step in latest.steps],
                "InvocationTime": latest.started.timestamp(),
                "LastUpdatedTime": (latest.ended or latest.started).timestamp(),
            })
        return {"RemediationExecutionStatuses": rows, **({"NextToken": token} if token else {})}

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

    @staticmethod
    def _compliance_filter(params: dict[str, Any]) -> set[str]:
        """ComplianceTypes of GetComplianceDetailsByConfigRule / ByResource: "INSUFFICIENT_DATA is a valid
        ComplianceType that is returned when an Config rule cannot be evaluated. However, INSUFFICIENT_DATA
        cannot be used as a ComplianceType for filtering results."
        (https://docs.aws.amazon.com/config/latest/APIReference/API_GetComplianceDetailsByConfigRule.html);
        the operation's error for a parameter that is not valid is InvalidParameterValueException."""
        wanted = params.get("ComplianceTypes") or []
        if "INSUFFICIENT_DATA" in wanted:
            raise AwsError("InvalidParameterValueException",
                           "INSUFFICIENT_DATA cannot be used as a ComplianceType for filtering results.")
        return set(wanted or ALLOWED_COMPLIANCE)

    def op_GetComplianceDetailsByConfigRule(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ConfigRuleName"]
        self._rule_or_error(account, region, name)
        wanted = self._compliance_filter(params)
        # "The default is 10. You cannot specify a number greater than 100. If you specify 0, Config uses the
        # default." (API_GetComplianceDetailsByConfigRule.html, Limit; the maximum is in the service model)
        limit = limit_of(params, "Limit", 10)
        after = token_key(params.get("NextToken"), 2)
        store = self.evaluations.get((account, region, name)) or EvaluationStore()
        evaluations, more = store.page(wanted, after, limit)
        result: dict[str, Any] = {"EvaluationResults": [self._result(name, e) for e in evaluations]}
        if more:
            result["NextToken"] = next_token([evaluations[-1].resource_type, evaluations[-1].resource_id])
        return result

    def op_GetComplianceDetailsByResource(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        key = (params.get("ResourceType"), params.get("ResourceId"))
        wanted = self._compliance_filter(params)
        after = token_key(params.get("NextToken"), 1)
        rules = sorted(config_backends[account][region].config_rules)

        def matching() -> Iterator[str]:
            for rule_name in rules:
                store = self.evaluations.get((account, region, rule_name))
                evaluation = store.get(key) if store is not None else None
                if evaluation is not None and evaluation.compliance in wanted and (after is None or rule_name > after[0]):
                    yield rule_name

        page, token = page_of(matching(), 100)
        results = [self._result(name, self.evaluations[(account, region, name)].by_key[key]) for name in page]
        return {"EvaluationResults": results, **({"NextToken": token} if token else {})}

    @staticmethod
    def _rule_compliance(store: EvaluationStore | None) -> dict[str, Any]:
        noncompliant = store.count("NON_COMPLIANT") if store is not None else 0
        compliant = store.count("COMPLIANT") if store is not None else 0
        if noncompliant:
            return {"ComplianceType": "NON_COMPLIANT",
                    "ComplianceContributorCount": {"CappedCount": min(noncompliant, 100), "CapExceeded": noncompliant > 100}}
        if compliant:
            return {"ComplianceType": "COMPLIANT"}
        return {"ComplianceType": "INSUFFICIENT_DATA"}

    def op_DescribeComplianceByConfigRule(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        backend = config_backends[account][region]
        # Named rules (at most 25, the service model's limit: one page) come in the order given; all rules by name.
        names = list(dict.fromkeys(params["ConfigRuleNames"])) if params.get("ConfigRuleNames") else sorted(backend.config_rules)
        for name in names:
            self._rule_or_error(account, region, name)
        wanted = set(params.get("ComplianceTypes") or [])
        after = token_key(params.get("NextToken"), 1)

        def matching() -> Iterator[tuple[str, dict[str, Any]]]:
            for name in names:
                if after is not None and name <= after[0]:
                    continue
                compliance = self._rule_compliance(self.evaluations.get((account, region, name)))
                if not wanted or compliance["ComplianceType"] in wanted:
                    yield name, compliance

        taken = list(itertools.islice(matching(), 26))
        rows = [{"ConfigRuleName": name, "Compliance": compliance} for name, compliance in taken[:25]]
        token = next_token([taken[24][0]]) if len(taken) > 25 else None
        return {"ComplianceByConfigRules": rows, **({"NextToken": token} if token else {})}

    def op_DeleteEvaluationResults(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ConfigRuleName"]
        self._rule_or_error(account, region, name)
        self._forget_results(account, region, name)
        return {}

    def op_DeleteConfigRule(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """moto deletes the rule (NoSuchConfigRuleException when there is none); its results go with it, and
        the ResourceCompliance items of the resources it evaluated change ("Deleting rules creates configuration
        items (CIs) for AWS::Config::ResourceCompliance", evaluate-config.html, Cost Considerations)."""
        name = params["ConfigRuleName"]
        config_backends[account][region].delete_config_rule(name)
        self._forget_results(account, region, name)
        return {}

    def _forget_results(self, account: str, region: str, rule_name: str) -> None:
        """Drops a rule's results and records the ResourceCompliance items of the resources they were about."""
        store = self.evaluations.pop((account, region, rule_name), None)
        for resource_type, resource_id in sorted(store.by_key) if store is not None else []:
            self.record_compliance(account, region, resource_type, resource_id)

    # ---- discovery (Lambda items only; other types pass through to moto)

    def _latest(self, account: str, region: str, resource_type: str, after: str | None = None) -> Iterator[dict[str, Any]]:
        """The latest item of every resource of a type that is not deleted, by resource id (after `after`)."""
        for resource_id in self.live_ids.get((account, region, resource_type), SortedKeys()).after(after):
            yield self.items[(account, region, resource_type, resource_id)][-1]

    @staticmethod
    def api_item(item: dict[str, Any], with_tags: bool = True) -> dict[str, Any]:
        """A configuration item as the discovery APIs return it: configuration as a JSON string,
        epoch timestamps, `accountId`/`arn` spellings."""
        created = item.get("resourceCreationTime")
        out = {
            "version": item["configurationItemVersion"],
            "accountId": item["awsAccountId"],
            "configurationItemCaptureTime": parse_timestamp(item["configurationItemCaptureTime"]).timestamp(),
            "configurationItemStatus": item["configurationItemStatus"],
            "configurationStateId": str(item["configurationStateId"]),
            "arn": item.get("ARN"),
            "resourceType": item["resourceType"],
            "resourceId": item["resourceId"],
            "resourceName": item.get("resourceName"),
            "awsRegion": item["awsRegion"],
            "availabilityZone": item.get("availabilityZone"),
            "resourceCreationTime": parse_timestamp(created).timestamp() if created else None,
            "configuration": json.dumps(item["configuration"]) if item["configuration"] is not None else "null",
            "supplementaryConfiguration": {},
        }
        if with_tags:
            out["configurationItemMD5Hash"] = item["configurationItemMD5Hash"]
            out["tags"] = item["tags"]
            out["relatedEvents"] = []
            out["relationships"] = [
                {k: r[k] for k in ("resourceType", "resourceId", "resourceName", "relationshipName") if r.get(k) is not None}
                for r in item["relationships"]
            ]
        # A field the item does not have is absent, as in AWS's JSON (a ResourceCompliance item has no
        # resourceName, arn, availabilityZone or resourceCreationTime).
        return {k: v for k, v in out.items() if v is not None}

    def op_GetResourceConfigHistory(self, account: str, region: str, params: dict[str, Any]) -> Any:
        resource_type = params.get("resourceType")
        if resource_type not in RECORDED_TYPES:
            return NotImplemented
        history = self.items.get((account, region, resource_type, params["resourceId"]))
        if not history:
            raise AwsError("ResourceNotDiscoveredException",
                           f"Resource {params['resourceId']} of resourceType:{resource_type} is unknown or has not been discovered")
        # The history is chronological (append-only): the time window is a slice found by bisection, and the
        # token names the position of the next item, so a page costs O(page + log N).
        captured = lambda i: parse_timestamp(i["configurationItemCaptureTime"])  # noqa: E731
        low, high = 0, len(history)
        if params.get("earlierTime") is not None:
            low = bisect.bisect_left(history, parse_timestamp(params["earlierTime"]), key=captured)
        if params.get("laterTime") is not None:
            high = bisect.bisect_right(history, parse_timestamp(params["laterTime"]), key=captured)
        forward = params.get("chronologicalOrder") == "Forward"
        after = token_key(params.get("nextToken"), 1, int)
        if after is not None and not 0 <= after[0] <= len(history):
            raise AwsError("InvalidNextTokenException", "The nextToken provided is invalid")
        if forward:
            positions: Iterator[int] = iter(range(max(low, after[0] + 1) if after else low, high))
        else:
            positions = iter(range(min(high, after[0]) if after else high, low, -1))
            positions = (p - 1 for p in positions)
        page, token = page_of(positions, limit_of(params, "limit", 10))
        items = [self.api_item(history[p]) for p in page]
        return {"configurationItems": items, **({"nextToken": token} if token else {})}

    def op_ListDiscoveredResources(self, account: str, region: str, params: dict[str, Any]) -> Any:
        resource_type = params.get("resourceType")
        if resource_type not in RECORDED_TYPES:
            return NotImplemented
        kind = (account, region, resource_type)
        index = self.recorded_ids if params.get("includeDeletedResources") else self.live_ids
        known = index.get(kind, SortedKeys())
        after = token_key(params.get("nextToken"), 1)
        after_id = after[0] if after else None
        # A function's resource name is its resource id, so both filters pick at most that id.
        chosen = set(params.get("resourceIds") or [])
        if params.get("resourceName") and resource_type == LAMBDA_TYPE:
            chosen = {params["resourceName"]} & chosen if chosen else {params["resourceName"]}
        if params.get("resourceName") and resource_type != LAMBDA_TYPE:  # an alias is named by its name, not its id
            chosen = {i for i in (chosen or known.after(None))
                      if self.items[(*kind, i)][-1]["resourceName"] == params["resourceName"]}
        if params.get("resourceIds") or params.get("resourceName"):
            ids: Iterator[str] = (i for i in sorted(chosen) if i in known and (after_id is None or i > after_id))
        else:
            ids = known.after(after_id)
        # "The default is 100. You cannot specify a number greater than 100. If you specify 0, Config uses the default."
        page, token = page_of(ids, limit_of(params, "limit", 100))
        rows = []
        for resource_id in page:
            item = self.items[(*kind, resource_id)][-1]
            row = {"resourceType": resource_type, "resourceId": item["resourceId"]}
            if item.get("resourceName") is not None:  # a ResourceCompliance item has none
                row["resourceName"] = item["resourceName"]
            if item["configuration"] is None:
                row["resourceDeletionTime"] = parse_timestamp(item["configurationItemCaptureTime"]).timestamp()
            rows.append(row)
        return {"resourceIdentifiers": rows, **({"nextToken": token} if token else {})}

    def op_BatchGetResourceConfig(self, account: str, region: str, params: dict[str, Any]) -> Any:
        keys = params["resourceKeys"]
        if any(k["resourceType"] not in RECORDED_TYPES for k in keys):
            return NotImplemented
        found = []
        for key in keys:
            history = self.items.get((account, region, key["resourceType"], key["resourceId"]))
            if history and history[-1]["configuration"] is not None:
                found.append(self.api_item(history[-1], with_tags=False))
        return {"baseConfigurationItems": found, "unprocessedResourceKeys": []}

    def op_SelectResourceConfig(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        # API_SelectResourceConfig documents no default page size: 100, its maximum.
        return self._select(params["Expression"], lambda: (item for resource_type in RECORDED_TYPES
                                                           for item in self._latest(account, region, resource_type)),
                            params, 100)

    # Query results kept for NextToken; a result set is dropped once its last page is read.
    SELECT_RESULTS_KEPT = 256
    EXPRESSION_LIMIT = 4096

    def _select(self, expression: str, items: Callable[[], Iterator[dict[str, Any]]], params: dict[str, Any],
                default_limit: int) -> dict[str, Any]:
        """A query runs once, on its first page; its rows are kept, and each NextToken names (query, position),
        so a later page costs O(page)."""
        # "Expression ... Length Constraints: Minimum length of 1. Maximum length of 4096." (API reference,
        # API_SelectAggregateResourceConfig.html and API_SelectResourceConfig.html): AWS refuses a longer
        # expression with a ValidationException before running it (the aggregator's inventory shards of
        # `accountId IN (...)` batches are sized to stay within it).
        if not 1 <= len(expression) <= self.EXPRESSION_LIMIT:
            raise AwsError("ValidationException",
                           "1 validation error detected: Value at 'expression' failed to satisfy constraint: "
                           f"Member must have length less than or equal to {self.EXPRESSION_LIMIT}")
        try:
            query = sql.parse(expression)
            sql.check_properties(query)
        except sql.SqlError as error:
            raise AwsError("InvalidExpressionException", str(error))
        limit = int(params.get("Limit") or params.get("MaxResults") or default_limit)
        position = token_key(params.get("NextToken"), 2, (str, int))
        if position is None:
            query_id, start = uuid.uuid4().hex, 0
            rows = list(query.run(items()))
        else:
            query_id, start = position
            rows = self.select_results.get(query_id) if isinstance(start, int) else None
            if rows is None:
                raise AwsError("InvalidNextTokenException", "The nextToken provided is invalid")
        page = rows[start:start + limit]
        result: dict[str, Any] = {"Results": [json.dumps(r) for r in page],
                                  "QueryInfo": {"SelectFields": [{"Name": f} for f in query.field_names]}}
        if start + limit < len(rows):
            result["NextToken"] = next_token([query_id, start + limit])
            self.select_results[query_id] = rows
            self.select_results.move_to_end(query_id)
            while len(self.select_results) > self.SELECT_RESULTS_KEPT:
                self.select_results.popitem(last=False)
        else:
            self.select_results.pop(query_id, None)
        return result

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
        # InputParameters is "A string, in JSON format, that is passed to your organization Config rule Lambda
        # function"; a parameter that is not valid is InvalidParameterValueException ("One or more of the
        # specified parameters are not valid. Verify that your parameters are valid and try again.")
        # (https://docs.aws.amazon.com/config/latest/APIReference/API_PutOrganizationConfigRule.html,
        # API_OrganizationCustomRuleMetadata.html). Checked before any member rule is made.
        if metadata.get("InputParameters") is not None:
            try:
                json.loads(metadata["InputParameters"])
            except ValueError:
                raise AwsError("InvalidParameterValueException",
                               f"Invalid json {metadata['InputParameters']} passed in the InputParameters field")
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
            self._forget_results(member, region, member_rule)
        return {}

    # ---- aggregators

    def _sources(self, account: str, region: str, aggregator_name: str) -> set[tuple[str, str]]:
        """(account, region) pairs an aggregator reads."""
        aggregator = config_backends[account][region].config_aggregators.get(aggregator_name)
        if aggregator is None:
            raise AwsError("NoSuchConfigurationAggregatorException", "The configuration aggregator does not exist. Check the configuration aggregator name and try again.")
        known_regions = self.known_regions | {region}
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
        after = token_key(params.get("NextToken"), 3)

        def matching() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
            # Sorted (account, region, rule) keys; a rule's compliance is O(1) (EvaluationStore counts).
            for (acct, reg), backend_rules in sorted(self._rules_in(sources).items()):
                if (filters.get("AccountId") and filters["AccountId"] != acct) or \
                        (filters.get("AwsRegion") and filters["AwsRegion"] != reg):
                    continue
                for name in sorted(backend_rules):
                    if (after is not None and (acct, reg, name) <= after) or \
                            (filters.get("ConfigRuleName") and filters["ConfigRuleName"] != name):
                        continue
                    compliance = self._rule_compliance(self.evaluations.get((acct, reg, name)))
                    if filters.get("ComplianceType") and filters["ComplianceType"] != compliance["ComplianceType"]:
                        continue
                    yield acct, reg, name, compliance

        # "The default is maximum" (1000).
        limit = limit_of(params, "Limit", 1000)
        taken = list(itertools.islice(matching(), limit + 1))
        rows = [{"ConfigRuleName": name, "Compliance": compliance, "AccountId": acct, "AwsRegion": reg}
                for acct, reg, name, compliance in taken[:limit]]
        token = next_token(list(taken[limit - 1][:3])) if len(taken) > limit else None
        return {"AggregateComplianceByConfigRules": rows, **({"NextToken": token} if token else {})}

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
        # "The default is 50. You cannot specify a number greater than 100. If you specify 0, Config uses the default."
        limit = limit_of(params, "Limit", 50)
        after = token_key(params.get("NextToken"), 2)
        store = self.evaluations.get((pair[0], pair[1], params["ConfigRuleName"])) if pair in sources else None
        # The aggregate APIs return COMPLIANT and NON_COMPLIANT only, as in AWS.
        evaluations, more = (store or EvaluationStore()).page({wanted} if wanted else {"COMPLIANT", "NON_COMPLIANT"},
                                                             after, limit)
        results = []
        for e in evaluations:
            result = self._result(params["ConfigRuleName"], e)
            result.update({"AccountId": pair[0], "AwsRegion": pair[1]})
            results.append(result)
        token = next_token([evaluations[-1].resource_type, evaluations[-1].resource_id]) if more else None
        return {"AggregateEvaluationResults": results, **({"NextToken": token} if token else {})}

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
                kind = self._rule_compliance(self.evaluations.get((acct, reg, name)))["ComplianceType"]
                counts[0] += kind == "COMPLIANT"
                counts[1] += kind == "NON_COMPLIANT"
        stamp = now().timestamp()
        after = token_key(params.get("NextToken"), 1)
        names = (g for g in sorted(groups) if after is None or g > after[0])
        # "The default is 1000."
        page, token = page_of(names, limit_of(params, "Limit", 1000))
        rows = [{"GroupName": g, "ComplianceSummary": {
                    "CompliantResourceCount": {"CappedCount": groups[g][0], "CapExceeded": False},
                    "NonCompliantResourceCount": {"CappedCount": groups[g][1], "CapExceeded": False},
                    "ComplianceSummaryTimestamp": stamp}} for g in page]
        result: dict[str, Any] = {"AggregateComplianceCounts": rows}
        if group_by:
            result["GroupByKey"] = group_by
        if token:
            result["NextToken"] = token
        return result

    def _aggregate_items(self, sources: set[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        for acct, reg in sorted(sources):
            for resource_type in RECORDED_TYPES:
                yield from self._latest(acct, reg, resource_type)

    def op_ListAggregateDiscoveredResources(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        sources = self._sources(account, region, params["ConfigurationAggregatorName"])
        filters = params.get("Filters") or {}
        after = token_key(params.get("NextToken"), 3)
        # A function's resource name is its resource id: either filter picks at most that id.
        chosen = {v for v in (filters.get("ResourceId"), filters.get("ResourceName")) if v}

        def matching() -> Iterator[tuple[str, str, str]]:
            if params["ResourceType"] != LAMBDA_TYPE or len(chosen) > 1:
                return
            for acct, reg in sorted(sources):
                if (filters.get("AccountId") and filters["AccountId"] != acct) or \
                        (filters.get("Region") and filters["Region"] != reg):
                    continue
                if after is not None and (acct, reg) < after[:2]:
                    continue
                live = self.live_ids.get((acct, reg, LAMBDA_TYPE), SortedKeys())
                start = after[2] if after is not None and (acct, reg) == after[:2] else None
                if chosen:
                    ids: Iterator[str] = (i for i in chosen if i in live and (start is None or i > start))
                else:
                    ids = live.after(start)
                for resource_id in ids:
                    yield acct, reg, resource_id

        page, token = page_of(matching(), limit_of(params, "Limit", 100))
        rows = []
        for acct, reg, resource_id in page:
            item = self.items[(acct, reg, LAMBDA_TYPE, resource_id)][-1]
            rows.append({"SourceAccountId": acct, "SourceRegion": reg, "ResourceId": resource_id,
                         "ResourceType": LAMBDA_TYPE, "ResourceName": item["resourceName"]})
        return {"ResourceIdentifiers": rows, **({"NextToken": token} if token else {})}

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
        # "If you run a non-aggregation query ... and do not specify the MaxResults or the Limit query parameters,
        # the default page size is set to 25." (API_SelectAggregateResourceConfig.html)
        return self._select(params["Expression"], lambda: self._aggregate_items(sources), params, 25)

