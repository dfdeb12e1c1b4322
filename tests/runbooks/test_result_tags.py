"""One home for the "a human must act" results: the values UpgradeLambdaRuntime writes to the
`lambda-runtime-guard:result` tag (its TagResource steps' Tags) are the truth; ReconcileNonCompliant's script
skips functions by a copy of them (tag:GetResources TagFilters). The copy must equal every value written except
`upgraded`, so a new result a human must act on cannot be forgotten by the daily reconciliation. Both lists are
read from the runbooks as files (the script's list parsed from its Python source), never restated here; mutated
copies (changed in memory) prove the check fails."""

from __future__ import annotations

import ast
from typing import Any, Callable

import pytest

import runbooks

KEY = "lambda-runtime-guard:result"
U, R = "UpgradeLambdaRuntime", "ReconcileNonCompliant"
# The one result that needs no human: the function is on its new runtime.
DONE = "upgraded"


def tag_steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps that call TagResource (any service), whatever the step action."""
    return [s for s in document.get("mainSteps") or []
            if (s.get("inputs") or {}).get("Api") == "TagResource" and "Tags" in s["inputs"]]


def written(document: dict[str, Any]) -> dict[str, str]:
    """Step name → the value it writes to the result tag."""
    return {s["name"]: s["inputs"]["Tags"][KEY] for s in tag_steps(document) if KEY in s["inputs"]["Tags"]}


def skipped(document: dict[str, Any]) -> list[str] | None:
    """The result values ReconcileNonCompliant's script skips: the `Values` of the one `{'Key': KEY, 'Values': [...]}`
    literal in the aws:executeScript step's Script (None when there is not exactly one)."""
    found = []
    for step in document.get("mainSteps") or []:
        if step.get("action") != "aws:executeScript":
            continue
        for node in ast.walk(ast.parse(step["inputs"]["Script"])):
            if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "Key" for k in node.keys):
                literal = ast.literal_eval(node)
                if literal.get("Key") == KEY:
                    found.append(literal.get("Values"))
    return found[0] if len(found) == 1 else None


def problems(books: dict[str, dict[str, Any]]) -> list[str]:
    """What keeps the reconciliation's skip list from being exactly UpgradeLambdaRuntime's results minus `upgraded`."""
    out: list[str] = []
    for name, document in books.items():
        if name != U and written(document):
            out.append(f"{name} writes {KEY} too (steps {sorted(written(document))}); UpgradeLambdaRuntime is its one writer")
    results = written(books[U])
    for step, value in sorted(results.items()):
        if not isinstance(value, str) or "{{" in value:
            out.append(f"{U} step {step}: {KEY} must be a literal, not {value!r}")
    values = {v for v in results.values() if isinstance(v, str)}
    if DONE not in values:
        out.append(f"{U} never writes {KEY} {DONE!r}")
    skip = skipped(books[R])
    if skip is None:
        return out + [f"{R}: the script has no single TagFilters entry {{'Key': {KEY!r}, 'Values': [...]}}"]
    if len(skip) != len(set(skip)):
        out.append(f"{R} skips a value twice: {skip}")
    for value in sorted(values - {DONE} - set(skip)):
        out.append(f"{U} writes {KEY} {value!r}, which {R} does not skip")
    for value in sorted(set(skip) - (values - {DONE})):
        out.append(f"{R} skips {KEY} {value!r}, which {U} never writes as a human's result")
    return out


def books() -> dict[str, dict[str, Any]]:
    return {name: runbooks.load(name) for name in runbooks.MANIFEST["documents"]}


def test_the_reconciliation_skips_exactly_the_results_a_human_must_act_on():
    found = books()
    assert problems(found) == []
    # not vacuous: the tagging steps and the script's list were found
    assert DONE in written(found[U]).values() and len(set(written(found[U]).values())) >= 2
    assert set(skipped(found[R])) == set(written(found[U]).values()) - {DONE}


def step(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in document["mainSteps"] if s["name"] == name)


def script(document: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in document["mainSteps"] if s["action"] == "aws:executeScript")["inputs"]


def new_result(d: dict[str, Any]) -> None:
    """A new way to end that a human must act on: a copy of TagManualAction writing a new value."""
    copy = {**step(d, "TagManualAction"), "name": "TagQuarantined"}
    copy["inputs"] = {**copy["inputs"], "Tags": {**copy["inputs"]["Tags"], KEY: "quarantined"}}
    d["mainSteps"].append(copy)


def renamed_result(d: dict[str, Any]) -> None:
    step(d, "TagRolledBack")["inputs"]["Tags"][KEY] = "reverted"


def script_replace(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        inputs = script(d)
        assert old in inputs["Script"], old
        inputs["Script"] = inputs["Script"].replace(old, new)
    return change


MUTATIONS = [
    ("a new result value", U, new_result,
     f"{U} writes {KEY} 'quarantined', which {R} does not skip"),
    ("a result value renamed", U, renamed_result,
     f"{U} writes {KEY} 'reverted', which {R} does not skip"),
    ("a templated result value", U, lambda d: step(d, "TagUpgradeRefused")["inputs"]["Tags"].update({KEY: "{{ TargetRuntime }}"}),
     f"{U} step TagUpgradeRefused: {KEY} must be a literal"),
    ("no success result", U, lambda d: step(d, "TagUpgraded")["inputs"]["Tags"].update({KEY: "done"}),
     f"{U} never writes {KEY} 'upgraded'"),
    ("a second writer", "TagAndNotify",
     lambda d: next(s for s in tag_steps(d))["inputs"]["Tags"].update({KEY: "notified"}),
     f"TagAndNotify writes {KEY} too"),
    ("the script forgets a value", R, script_replace("'upgrade-refused'", ""),
     f"{U} writes {KEY} 'upgrade-refused', which {R} does not skip"),
    ("the script skips the success", R, script_replace("'upgrade-refused'", "'upgrade-refused','upgraded'"),
     f"{R} skips {KEY} 'upgraded', which {U} never writes as a human's result"),
    ("the script skips a value never written", R, script_replace("'upgrade-refused'", "'upgrade-refused','refused'"),
     f"{R} skips {KEY} 'refused', which {U} never writes as a human's result"),
    ("the script's filter gone", R, script_replace(f"'Key':'{KEY}'", "'Key':'lambda-runtime-guard:other'"),
     f"{R}: the script has no single TagFilters entry"),
]


@pytest.mark.parametrize("what,runbook,change,expected", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutated_result_tags_fail_with_the_specific_problem(what, runbook, change, expected):
    found = books()
    change(found[runbook])
    found_problems = problems(found)
    assert any(expected in p for p in found_problems), f"{what}: expected {expected!r} in {found_problems}"
