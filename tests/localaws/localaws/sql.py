"""The part of AWS Config's advanced-query SQL this project uses: SELECT of properties, WHERE with
=, !=, IN, LIKE joined by AND, over resourceType, identity fields, configuration.* and tags."""

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
        row: dict[str, Any] = {}
        for name in self.field_names:
            if name == "tags":
                row["tags"] = [{"key": k, "value": v} for k, v in sorted(item.get("tags", {}).items())]
                continue
            value = _lookup(item, name)
            if value is None:
                continue
            target = row
            parts = name.split(".")
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = value
        return row


def _lookup(item: dict[str, Any], name: str) -> Any:
    parts = name.split(".")
    value: Any = item.get(_TOP.get(parts[0], parts[0]))
    for part in parts[1:]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list):
            value = [v.get(part) for v in value if isinstance(v, dict)]
        else:
            return None
    return value


def _values(item: dict[str, Any], name: str) -> list[Any]:
    if name in ("tags.key", "tags.value", "tags.tag"):
        tags = item.get("tags", {}).items()
        if name == "tags.key":
            return [k for k, _ in tags]
        if name == "tags.value":
            return [v for _, v in tags]
        return [f"{k}={v}" for k, v in tags]
    value = _lookup(item, name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


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
