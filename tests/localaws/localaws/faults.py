"""Fault injection over HTTP: per service and operation, a probability of throttling, of a 5xx, added
latency and of FailedEvaluations; a seed for repeatable runs; accounts that are denied everything.
Each fault is spelled as that service spells it on the wire (aws-facts.md)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from .protocol import AwsError

# (code, HTTP status) per service for throttling; services not listed use ThrottlingException/400.
THROTTLE = {
    "lambda": ("TooManyRequestsException", 429),
    "organizations": ("TooManyRequestsException", 400),
    "s3": ("SlowDown", 503),
    "sts": ("Throttling", 400),
    "iam": ("Throttling", 400),
}
SERVER_ERROR = {
    "lambda": ("ServiceException", 500),
    "s3": ("InternalError", 500),
    "sts": ("InternalFailure", 500),
    "iam": ("ServiceFailure", 500),
}
DENIED = {
    "lambda": ("AccessDeniedException", 403),
    "s3": ("AccessDenied", 403),
    "sts": ("AccessDenied", 403),
    "iam": ("AccessDenied", 403),
}


@dataclass
class FaultRule:
    service: str = "*"
    operation: str = "*"
    account: str = "*"
    throttle: float = 0.0
    server_error: float = 0.0
    latency_ms: int = 0
    failed_evaluations: float = 0.0

    def applies(self, service: str, operation: str, account: str) -> bool:
        return (self.service in ("*", service) and self.operation in ("*", operation)
                and self.account in ("*", account))


class FaultInjector:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.configure({})

    def configure(self, spec: dict[str, Any]) -> None:
        with self.lock:
            self.rules = [FaultRule(**{_snake(k): v for k, v in rule.items()}) for rule in spec.get("Rules", [])]
            self.denied = set(spec.get("DenyAccounts", []))
            self.rng = random.Random(spec.get("Seed", 0))
            self.counters: dict[str, int] = {}

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return {"Rules": [r.__dict__ for r in self.rules], "DenyAccounts": sorted(self.denied),
                    "Injected": dict(self.counters)}

    def _count(self, kind: str, service: str, operation: str) -> None:
        key = f"{kind}:{service}:{operation}"
        self.counters[key] = self.counters.get(key, 0) + 1

    def decide(self, service: str, operation: str, account: str, target_account: str | None = None) -> AwsError | None:
        """An error to answer instead of the real one, after any injected latency."""
        with self.lock:
            if account in self.denied or (target_account and target_account in self.denied):
                denied = target_account if target_account in self.denied else account
                self._count("denied", service, operation)
                code, status = DENIED.get(service, ("AccessDeniedException", 400))
                return AwsError(code, f"User is not authorized to access account {denied} (denied by localaws fault injection)", status)
            latency, error = 0, None
            for rule in self.rules:
                if not rule.applies(service, operation, account):
                    continue
                latency = max(latency, rule.latency_ms)
                if error is None and rule.throttle and self.rng.random() < rule.throttle:
                    self._count("throttle", service, operation)
                    code, status = THROTTLE.get(service, ("ThrottlingException", 400))
                    error = AwsError(code, "Rate exceeded", status)
                elif error is None and rule.server_error and self.rng.random() < rule.server_error:
                    self._count("server_error", service, operation)
                    code, status = SERVER_ERROR.get(service, ("ServiceUnavailableException", 503))
                    error = AwsError(code, "Service unavailable (injected)", status, sender=False)
        if latency:
            time.sleep(latency / 1000)
        return error

    def failed_evaluation_odds(self, account: str) -> tuple[float, random.Random]:
        with self.lock:
            odds = max((r.failed_evaluations for r in self.rules if r.applies("config", "PutEvaluations", account)), default=0.0)
            if odds:
                self._count("failed_evaluations", "config", "PutEvaluations")
            return odds, self.rng


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return {"latency": "latency_ms"}.get(out, out)
