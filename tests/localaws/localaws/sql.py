"""The part of AWS Config's advanced-query SQL this project uses: SELECT of properties, WHERE with
=, !=, IN, LIKE joined by AND, over resourceType, identity fields, configuration.* and tags.

Properties inside arrays of objects (`configuration.configRuleList.configRuleName`, `tags.key`) follow
"Multiple properties within an array" of
https://docs.aws.amazon.com/config/latest/developerguide/querying-AWS-resources.html: "When querying against
multiple properties within an array of objects, matches are computed against all the array elements": each
condition holds when ANY element satisfies it, whichever element satisfies the others. The documented example,
a resource compliant with rule A and noncompliant with rule B, is returned by `configuration.configRuleList.
complianceType = 'non_compliant' AND configuration.configRuleList.configRuleName = 'A'`. `IN` is taken to
hold likewise when any element is in the list (the guide shows `=` only). Selecting a property inside such an
array returns the array, each element holding the selected properties
(`{"configuration": {"configRuleList": [{"configRuleName": "A"}, ...]}}`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op>!=|=|,|\(|\))|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))")

# Config's query names for the top-level fields of a configuration item.
_TOP = {"accountId": "awsAccountId", "arn": "ARN", "version": "configurationItemVersion"}


class SqlError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise SqlError(f"Invalid query: unexpected input at position {pos}: {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        out.append((kind, value))
        pos = match.end()
    return out


@dataclass
class Condition:
    field: str
    op: str  # =, !=, IN, LIKE
    values: list[Any]

    def matches(self, item: dict[str, Any]) -> bool:
        found = [str(v) for v in _values(item, self.field)]
        if self.op == "=":
            return any(v == str(self.values[0]) for v in found)
        if self.op == "!=":
            return all(v != str(self.values[0]) for v in found)
        if self.op == "IN":
            return any(v in {str(x) for x in self.values} for v in found)
        pattern = re.compile("^" + re.escape(str(self.values[0])).replace("%", ".*").replace("_", ".") + "$", re.S)
        return any(pattern.match(v) for v in found)


@dataclass
class Query:
    field_names: list[str]
    conditions: list[Condition]

    def run(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for item in items:
            if all(c.matches(item) for c in self.conditions):
                rows.append(self._project(item))
        return rows

    def _project(self, item: dict[str, Any]) -> dict[str, Any]:
        return project(item, self.field_names)


def project(item: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The selected properties of an item as Config returns a row: nested objects for dotted names, tags as
    [{key, value}], missing properties left out; a property inside an array of objects keeps the array, each
    element holding the selected properties."""
    row: dict[str, Any] = {}
    for name in names:
        if name == "tags":
            row["tags"] = [{"key": k, "value": v} for k, v in sorted((item.get("tags") or {}).items())]
            continue
        parts = name.split(".")
        top = _TOP.get(parts[0], parts[0])
        value = item.get(top)
        if value is None:
            continue
        if len(parts) == 1:
            row[parts[0]] = value
        else:
            _put(row.setdefault(parts[0], {}), value, parts[1:])
    return {key: value for key, value in row.items() if value != {}}


def _put(target: Any, source: Any, parts: list[str]) -> None:
    """Copies source[parts...] into target, element by element through arrays."""
    if not isinstance(target, dict) or not isinstance(source, dict) or source.get(parts[0]) is None:
        return  # nothing there, or inside a property already selected whole
    value = source[parts[0]]
    if len(parts) == 1:
        target.setdefault(parts[0], value)
    elif isinstance(value, dict):
        _put(target.setdefault(parts[0], {}), value, parts[1:])
    elif isinstance(value, list):
        elements = target.get(parts[0])
        if not isinstance(elements, list) or len(elements) != len(value):
            elements = target[parts[0]] = [{} for _ in value]
        for into, element in zip(elements, value):
            _put(into, element, parts[1:])


def _flatten(value: Any, parts: list[str]) -> list[Any]:
    """Every value at the path below `value`, through arrays (each element, at any depth)."""
    if isinstance(value, list):
        return [found for element in value for found in _flatten(element, parts)]
    if not parts:
        return [] if value is None else [value]
    if not isinstance(value, dict):
        return []
    return _flatten(value.get(parts[0]), parts[1:])


def _values(item: dict[str, Any], name: str) -> list[Any]:
    """The values a condition on `name` is matched against: one, or one per array element (any may match)."""
    if name in ("tags.key", "tags.value", "tags.tag"):
        tags = (item.get("tags") or {}).items()
        if name == "tags.key":
            return [k for k, _ in tags]
        if name == "tags.value":
            return [v for _, v in tags]
        return [f"{k}={v}" for k, v in tags]
    parts = name.split(".")
    return _flatten(item.get(_TOP.get(parts[0], parts[0])), parts[1:])


# ---- the queryable properties of the types the local AWS records, from awslabs/aws-config-resource-schema
# (config/properties/resource-types/<type>.properties.json; the same files as shared/reference/aws-config/).
_COMMON = ("accountId", "arn", "availabilityZone", "awsRegion", "configurationItemCaptureTime",
           "configurationItemStatus", "configurationStateId", "relationships.resourceId", "relationships.resourceName",
           "relationships.resourceType", "resourceCreationTime", "resourceId", "resourceName", "resourceType",
           "tags.key", "tags.tag", "tags.value", "version")
QUERYABLE: dict[str, frozenset[str]] = {
    "AWS::Lambda::Function": frozenset(_COMMON + tuple("configuration." + p for p in (
        "architectures", "codeSha256", "codeSize", "deadLetterConfig.targetArn", "description",
        "ephemeralStorage.size", "fileSystemConfigs.arn", "fileSystemConfigs.localMountPath", "functionArn",
        "functionName", "handler", "imageConfigResponse.error.errorCode", "imageConfigResponse.imageConfig.entryPoint",
        "imageConfigResponse.imageConfig.workingDirectory", "kmskeyArn", "lastModified", "lastUpdateStatus",
        "lastUpdateStatusReasonCode", "layers.arn", "layers.codeSize", "layers.signingJobArn",
        "layers.signingProfileVersionArn", "memorySize", "packageType", "revisionId", "role", "runtime",
        "signingJobArn", "signingProfileVersionArn", "state.value", "stateReason.value", "stateReasonCode", "timeout",
        "tracingConfig.mode", "version", "vpcConfig.securityGroupIds", "vpcConfig.subnetIds"))
        + ("supplementaryConfiguration.Concurrency.reservedConcurrentExecutions",)),
    "AWS::Lambda::Alias": frozenset(_COMMON + tuple("configuration." + p for p in (
        "aliasArn", "description", "functionVersion", "name"))),
    "AWS::Config::ResourceCompliance": frozenset(_COMMON + tuple("configuration." + p for p in (
        "complianceType", "configRuleList.complianceType", "configRuleList.configRuleArn",
        "configRuleList.configRuleId", "configRuleList.configRuleName", "targetResourceId", "targetResourceType"))),
}


def check_properties(query: "Query") -> None:
    """Refuses a WHERE condition on a property the queried resource types do not have (SqlError naming it).
    Config publishes the queryable properties per type (the schema above); what it answers for another one is not
    documented. The local AWS refuses it, as the synthetic organization does, so that a misspelt property fails
    loudly instead of matching nothing (which a compliance reader could take for "nothing non-compliant").
    Checked only when the query names its resource types (`resourceType = ...` or `IN (...)`) and the local AWS
    knows all of them; `resourceType` itself is always a property."""
    named: set[str] | None = None
    for condition in query.conditions:
        if condition.field == "resourceType" and condition.op in ("=", "IN"):
            values = {str(v) for v in condition.values}
            named = values if named is None else named & values
    if not named or not named <= set(QUERYABLE):
        return
    allowed = frozenset().union(*(QUERYABLE[t] for t in named))
    for condition in query.conditions:
        if condition.field not in allowed:
            raise SqlError(f"Invalid query: '{condition.field}' is not a queryable property of "
                           f"{', '.join(sorted(named))} (awslabs/aws-config-resource-schema)")


def parse(text: str) -> Query:
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str]:
        return tokens[pos] if pos < len(tokens) else ("end", "")

    def take() -> tuple[str, str]:
        nonlocal pos
        token = peek()
        pos += 1
        return token

    def keyword(word: str) -> bool:
        kind, value = peek()
        return kind == "word" and value.upper() == word

    if not keyword("SELECT"):
        raise SqlError("Invalid query: it must start with SELECT")
    take()
    fields = []
    while True:
        kind, value = take()
        if kind != "word" or value.upper() in ("WHERE", "FROM"):
            raise SqlError("Invalid query: expected a property name after SELECT")
        fields.append(value)
        if peek() == ("op", ","):
            take()
            continue
        break
    conditions = []
    if keyword("WHERE"):
        take()
        while True:
            kind, field = take()
            if kind != "word":
                raise SqlError("Invalid query: expected a property name in WHERE")
            kind, op = take()
            if kind == "word" and op.upper() in ("IN", "LIKE"):
                op = op.upper()
            elif not (kind == "op" and op in ("=", "!=")):
                raise SqlError(f"Invalid query: unsupported operator {op!r}")
            values = []
            if op == "IN":
                if take() != ("op", "("):
                    raise SqlError("Invalid query: IN needs a parenthesised list")
                while True:
                    kind, value = take()
                    if kind not in ("string", "number"):
                        raise SqlError("Invalid query: IN lists hold literals")
                    values.append(value)
                    kind, value = take()
                    if (kind, value) == ("op", ")"):
                        break
                    if (kind, value) != ("op", ","):
                        raise SqlError("Invalid query: malformed IN list")
            else:
                kind, value = take()
                if kind not in ("string", "number"):
                    raise SqlError("Invalid query: comparisons take a literal")
                values.append(value)
            conditions.append(Condition(field, op, values))
            if keyword("AND"):
                take()
                continue
            break
    if peek()[0] != "end":
        raise SqlError(f"Invalid query: unsupported clause at {peek()[1]!r}")
    return Query(fields, conditions)
