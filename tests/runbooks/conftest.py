"""The runbook suite runs against the same local AWS as tests/localaws (one server per session, reset per
test); the runbooks are loaded from cdk/runbooks/, never copied."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
_spec = importlib.util.spec_from_file_location("localaws_conftest", HERE.parent / "localaws" / "tests" / "conftest.py")
localaws = importlib.util.module_from_spec(_spec)
sys.modules["localaws_conftest"] = localaws
_spec.loader.exec_module(localaws)

server = localaws.server
aws = localaws.aws
