"""The runbook suite runs against the same local AWS as tests/localaws (one server per session, reset per
test); the runbooks are loaded from cdk/runbooks/, never copied.

tests/localaws/tests/conftest.py is loaded as `localaws_conftest` and re-exported here: when pytest collects
both suites in one run, `import conftest` in tests/localaws may resolve to this module, so it offers the
same names."""

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

from localaws_conftest import *  # noqa: E402,F401,F403  (fixtures server/aws and the helpers)
