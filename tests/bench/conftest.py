"""tests/bench: the driver module (rule_vs_rdklib.py) is imported by the test beside it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
