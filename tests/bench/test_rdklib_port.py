"""The rdklib port and our rule reach the same verdicts on the same events (change events, a periodic sweep,
a function gone between sweeps), so that `cargo xtask bench rule` compares like with like. The bench runs
the same check before measuring; this is the check alone (about 10 s):

    RULE_BIN=target/debug/rule .venv/bin/python -m pytest -q tests/bench
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("rdklib")
pytest.importorskip("awslambdaric")

import rule_vs_rdklib as bench  # noqa: E402


def rule_binary() -> Path | None:
    for candidate in (os.environ.get("RULE_BIN"), bench.target_dir() / "release/rule", bench.target_dir() / "debug/rule"):
        if candidate and Path(candidate).exists():
            return Path(candidate).resolve()
    return None


def test_same_verdicts_for_the_same_events() -> None:
    binary = rule_binary()
    if binary is None:
        pytest.skip("no rule binary: set RULE_BIN or build the rule")
    logs = Path(tempfile.mkdtemp(prefix="rdklib-port-"))
    aws = bench.LocalAws()
    try:
        problems = bench.check_verdicts(aws, bench.rules(binary, bench.HERE / "rdklib_rule"), logs)
    finally:
        aws.stop()
    assert not problems, "\n".join(problems)
    shutil.rmtree(logs, ignore_errors=True)
