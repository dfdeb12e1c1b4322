"""The local AWS as the benches run it: its own process on a free loopback port (as tests/localaws/tests/conftest.py
starts it), its control API, and a clean stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
LOOPBACK_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


class LocalAwsProcess:
    """`python -m localaws --port 0`, `url` once it says it is ready."""

    def __init__(self, control_timeout: float = 60) -> None:
        self.control_timeout = control_timeout
        self.process = subprocess.Popen([sys.executable, "-m", "localaws", "--port", "0"], cwd=ROOT / "tests/localaws",
                                        stdout=subprocess.PIPE, text=True, env={**os.environ, **LOOPBACK_ENV})
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("localaws ready"):
            raise SystemExit(f"the local AWS did not start: {line!r}")
        self.url = line.split()[-1]

    def control(self, method: str, path: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.url + "/_localaws/" + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.control_timeout) as response:
            return json.loads(response.read() or b"null")

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "stats")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
