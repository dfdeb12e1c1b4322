"""Fault injection over HTTP: per service and operation, a probability of throttling, of a 5xx, added
latency and of FailedEvaluations; a seed for repeatable runs; accounts that are denied everything; and, opt-in,
Lambda's control-plane request quota. Each fault is spelled as that service spells it on the wire (aws-facts.md)."""

from __future__ import annotations

import collections
import math
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
    # CloudWatch (signing name `monitoring`): the query protocol's Throttling 400, also over JSON and CBOR through
    # x-amzn-query-error (the common errors, https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CommonErrors.html).
    "monitoring": ("Throttling", 400),
}
# Services known by another name than their signing name (the credential scope): a rule may use either.
SERVICE_ALIASES = {"cloudwatch": "monitoring"}
SERVER_ERROR = {
    "lambda": ("ServiceException", 500),
    "s3": ("InternalError", 500),
    "sts": ("InternalFailure", 500),
    "iam": ("ServiceFailure", 500),
    "monitoring": ("InternalServiceError", 500),  # botocore's InternalServiceFault
}
DENIED = {
    "lambda": ("AccessDeniedException", 403),
    "s3": ("AccessDenied", 403),
    "sts": ("AccessDenied", 403),
    "iam": ("AccessDenied", 403),
}


# Lambda's API request quotas, per account and Region, none of which can be increased
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html#api-requests, "Lambda API requests"):
# GetFunction 100 requests per second; GetPolicy 15 requests per second; "Remainder of the control plane API
# requests (excludes invocation, GetFunction, and GetPolicy requests): 15 requests per second across all APIs
# (not per API)". The keys of the `LambdaControlPlaneQuota` spec, with AWS's numbers as defaults:
LAMBDA_QUOTA_DEFAULTS = {"RequestsPerSecond": 15, "GetFunctionRequestsPerSecond": 100, "GetPolicyRequestsPerSecond": 15}
# Invocations have their own (concurrency-based) limits; the durable-execution APIs have quotas of their own on the
# same page, not emulated. Neither is counted against the control-plane quota.
LAMBDA_QUOTA_EXEMPT = {"Invoke", "InvokeAsync", "InvokeWithResponseStream", "CheckpointDurableExecution",
                       "GetDurableExecution", "GetDurableExecutionHistory", "GetDurableExecutionState",
                       "ListDurableExecutionsByFunction", "SendDurableExecutionCallbackFailure",
                       "SendDurableExecutionCallbackHeartbeat", "SendDurableExecutionCallbackSuccess",
                       "StopDurableExecution"}
# Which budget an operation draws from; every other control-plane operation shares "RequestsPerSecond".
LAMBDA_QUOTA_BUCKET = {"GetFunction": "GetFunctionRequestsPerSecond", "GetPolicy": "GetPolicyRequestsPerSecond"}

# Read-request rates of Config and Organizations (opt-in: `ConfigReadQuota`, `OrganizationsReadQuota`), per caller
# account (and Region for Config; Organizations is a global service). AWS publishes no TPS for Config's read APIs
# (the Config quotas page, https://docs.aws.amazon.com/general/latest/gr/awsconfig.html, lists none): the default of
# 10 requests a second is the research's working assumption (shared/docs/research/scale-and-beyond-peers.md §1.4),
# not an AWS number. Organizations documents throttling only in general terms ("Throttling limits",
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html); the default of 2 is the
# same research's "about 1-2 calls a second", also an assumption. Reads are the operations named Describe*, Get*,
# List*, Select* and BatchGet*; every read of the service shares the one budget. Over it: Config's
# ThrottlingException 400, Organizations' TooManyRequestsException 400 (as THROTTLE spells them).
READ_QUOTA_DEFAULTS = {"config": 10, "organizations": 2}
READ_QUOTA_KEYS = {"ConfigReadQuota": "config", "OrganizationsReadQuota": "organizations"}
READ_PREFIXES = ("Describe", "Get", "List", "Select", "BatchGet")
THROTTLE_MESSAGES = {
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html#API_ListAccounts_Errors
    "organizations": "You have sent too many requests in too short a period of time. The quota helps protect "
                     "against denial-of-service attacks. Try again later.",
}


class SlidingWindow:
    """At most `limit` requests in any one-second window, per key (account, Region, budget). A refused request
    does not count."""

    def __init__(self) -> None:
        self.windows: dict[tuple[str, str, str], collections.deque[float]] = {}

    def admit(self, key: tuple[str, str, str], limit: int, now: float) -> float:
        """0 if the request is admitted (and counted), else the seconds until a slot frees."""
        window = self.windows.setdefault(key, collections.deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return window[0] + 1.0 - now
        window.append(now)
        return 0.0


def lambda_throttle(wait: float) -> AwsError:
    """Lambda's TooManyRequestsException: 429, `Retry-After` (whole seconds; botocore's `retryAfterSeconds`),
    `Reason` CallerRateLimitExceeded for a caller over an API request rate
    (https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html#API_GetFunction_Errors,
    https://docs.aws.amazon.com/botocore/latest/reference/services/lambda/client/exceptions/TooManyRequestsException.html)."""
    return AwsError("TooManyRequestsException", "Rate exceeded", 429, retry_after=max(1, math.ceil(wait)),
                    reason="CallerRateLimitExceeded")


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
        return (SERVICE_ALIASES.get(self.service, self.service) in ("*", service) and self.operation in ("*", operation)
                and self.account in ("*", account))


class FaultInjector:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.configure({})

    def configure(self, spec: dict[str, Any]) -> None:
        quota = _lambda_quota_spec(spec.get("LambdaControlPlaneQuota"))
        read_quotas = {service: _read_quota_spec(key, spec.get(key), READ_QUOTA_DEFAULTS[service])
                       for key, service in READ_QUOTA_KEYS.items()}
        with self.lock:
            self.read_quotas = read_quotas
            self.rules = [FaultRule(**{_snake(k): v for k, v in rule.items()}) for rule in spec.get("Rules", [])]
            self.denied = set(spec.get("DenyAccounts", []))
            self.rng = random.Random(spec.get("Seed", 0))
            self.counters: dict[str, int] = {}
            self.quota = quota
            self.windows = SlidingWindow()

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return {"Rules": [r.__dict__ for r in self.rules], "DenyAccounts": sorted(self.denied),
                    "LambdaControlPlaneQuota": self.quota,
                    **{key: self.read_quotas[service] for key, service in READ_QUOTA_KEYS.items()},
                    "Injected": dict(self.counters)}

    def injected(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counters)

    def lambda_quota(self, operation: str, account: str, region: str) -> AwsError | None:
        """TooManyRequestsException when the caller's account is over Lambda's control-plane quota in `region`
        (opt-in: `LambdaControlPlaneQuota` in the fault spec)."""
        with self.lock:
            quota = self.quota
            if quota is None or operation in LAMBDA_QUOTA_EXEMPT:
                return None
            if quota["Accounts"] and account not in quota["Accounts"]:
                return None
            bucket = LAMBDA_QUOTA_BUCKET.get(operation, "RequestsPerSecond")
            wait = self.windows.admit((account, region, bucket), quota[bucket], time.monotonic())
            if not wait:
                return None
            self._count("quota", "lambda", operation)
        return lambda_throttle(wait)

    def read_quota(self, service: str, operation: str, account: str, region: str) -> AwsError | None:
        """The service's throttling error when the caller's account is over its read-request rate (opt-in:
        `ConfigReadQuota` / `OrganizationsReadQuota` in the fault spec). A refused request uses no budget."""
        with self.lock:
            quota = self.read_quotas.get(service)
            if quota is None or not operation.startswith(READ_PREFIXES):
                return None
            if quota["Accounts"] and account not in quota["Accounts"]:
                return None
            key = (account, region if service == "config" else "global", f"{service}-reads")
            if not self.windows.admit(key, quota["RequestsPerSecond"], time.monotonic()):
                return None
            self._count("quota", service, operation)
        code, status = THROTTLE.get(service, ("ThrottlingException", 400))
        return AwsError(code, THROTTLE_MESSAGES.get(service, "Rate exceeded"), status)

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


def _lambda_quota_spec(spec: Any) -> dict[str, Any] | None:
    """{"RequestsPerSecond"?, "GetFunctionRequestsPerSecond"?, "GetPolicyRequestsPerSecond"?, "Accounts"?}: AWS's
    numbers unless given; every account unless `Accounts` lists some. None (absent) leaves the quota off."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise AwsError("ValidationException", "LambdaControlPlaneQuota must be an object")
    unknown = set(spec) - set(LAMBDA_QUOTA_DEFAULTS) - {"Accounts"}
    if unknown:
        raise AwsError("ValidationException", f"LambdaControlPlaneQuota: unknown keys {sorted(unknown)}; "
                       f"known: {sorted([*LAMBDA_QUOTA_DEFAULTS, 'Accounts'])}")
    quota: dict[str, Any] = {}
    for key, default in LAMBDA_QUOTA_DEFAULTS.items():
        value = spec.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AwsError("ValidationException", f"LambdaControlPlaneQuota.{key} must be a whole number >= 1")
        quota[key] = value
    quota["Accounts"] = sorted(spec.get("Accounts") or [])
    return quota


def _read_quota_spec(name: str, spec: Any, default: int) -> dict[str, Any] | None:
    """{"RequestsPerSecond"?, "Accounts"?}: `default` unless given; every account unless `Accounts` lists some.
    None (absent) leaves the quota off."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise AwsError("ValidationException", f"{name} must be an object")
    unknown = set(spec) - {"RequestsPerSecond", "Accounts"}
    if unknown:
        raise AwsError("ValidationException", f"{name}: unknown keys {sorted(unknown)}; known: ['Accounts', 'RequestsPerSecond']")
    value = spec.get("RequestsPerSecond", default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AwsError("ValidationException", f"{name}.RequestsPerSecond must be a whole number >= 1")
    return {"RequestsPerSecond": value, "Accounts": sorted(spec.get("Accounts") or [])}


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return {"latency": "latency_ms"}.get(out, out)
