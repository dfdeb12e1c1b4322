"""Our rule (the release `rule` binary) side by side with the same rule on rdklib (`rdklib_rule/`), both as
Lambda functions on the local AWS, fed the same events through the same local Lambda Runtime API:

    cargo xtask bench rule [-- --runs 5 --sizes 1000,10000 --warm-events 200]
    python tests/bench/rule_vs_rdklib.py --rule-bin target/release/rule [--check-only]

Measured for each rule, each run alternating which goes first:
- cold start: process start -> the first change event answered at the Runtime API (the rule answers after
  its PutEvaluations returned; the driver checks the evaluation was recorded);
- warm latency per change event: the Runtime API handing the event out (`invocation/next`) -> the rule
  posting its response, for every later event of the run;
- a periodic sweep of N functions: wall time (next -> response) and the local AWS's API calls by operation
  (`GET /_localaws/stats`), then a second sweep over the same unchanged functions (its evaluations recorded
  are `unchanged_puts`);
- peak RSS (VmHWM) of each rule process;
- deployment zips: ours (the release binary as `bootstrap`), the port with rdklib + boto3/botocore bundled,
  and the port with rdklib only (relying on the runtime's SDK).

Before any number, both rules' verdicts are compared on the same events (python3.8, python3.13, an image,
an exempt function, a pinned runtime version, a malformed exemption, a runtime newer than the catalog, a
deleted function, a function gone between sweeps): the bench refuses to print ratios when they differ.

Timing goes through a small proxy in front of each function's Runtime API port (it timestamps the
`next` answer and the response post, and adds well under a millisecond to each); nothing polls the local
AWS while a rule is being measured. Everything listens on 127.0.0.1; clients use dummy credentials.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from local_aws import LOOPBACK_ENV, REGION, LocalAwsProcess  # noqa: E402

ACCOUNT = "123456789012"
RULE_NAME = "lambda-runtime-lifecycle"
LAMBDA = "AWS::Lambda::Function"
# Seeded functions cycle through these (index % 8): fn-0000 python3.8, fn-0001 python3.13, fn-0005 an image.
MIX = ["python3.8", "python3.13", "nodejs20.x", "java17", "provided.al2023", "image", "nodejs22.x", "python3.12"]
MANUAL_VERSION = "arn:aws:lambda:us-east-1::runtime:0b4f9c7e5e0a4bc1a2f7d2c7e6f4c8a1b8f3a5e9d2c4b6a8f0e1d3c5b7a9f2e4"

os.environ.update(LOOPBACK_ENV)
os.environ.pop("AWS_PROFILE", None)

import boto3  # noqa: E402  (after the loopback environment is in place)
import botocore.config  # noqa: E402


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")


# ---------------------------------------------------------------- the local AWS


class LocalAws(LocalAwsProcess):
    def __init__(self) -> None:
        super().__init__(control_timeout=900)
        config = botocore.config.Config(region_name=REGION, retries={"total_max_attempts": 2})
        self.lam = boto3.client("lambda", endpoint_url=self.url, config=config)
        self.config = boto3.client("config", endpoint_url=self.url, config=config)
        self.iam = boto3.client("iam", endpoint_url=self.url, config=config)
        self.ssm = boto3.client("ssm", endpoint_url=self.url, config=config)

    # ---- set-up steps

    def role(self) -> str:
        try:
            return self.iam.get_role(RoleName="fn-role")["Role"]["Arn"]
        except self.iam.exceptions.NoSuchEntityException:
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                              "Action": "sts:AssumeRole"}]}
            return self.iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]

    def create_function(self, name: str, runtime: str) -> str:
        spec: dict[str, Any] = {"FunctionName": name, "Role": self.role()}
        if runtime == "image":
            spec.update(PackageType="Image", Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:1"})
        else:
            spec.update(Runtime=runtime, Handler="index.handler", Code={"ZipFile": b"stored, not run"})
        return self.lam.create_function(**spec)["FunctionArn"]

    def put_rule(self, function_arn: str, change: bool, periodic: bool, parameters: str = "{}") -> None:
        details = []
        if change:
            details += [{"EventSource": "aws.config", "MessageType": kind} for kind in
                        ("ConfigurationItemChangeNotification", "OversizedConfigurationItemChangeNotification")]
        if periodic:
            details.append({"EventSource": "aws.config", "MessageType": "ScheduledNotification",
                            "MaximumExecutionFrequency": "TwentyFour_Hours"})
        self.config.put_config_rule(ConfigRule={
            "ConfigRuleName": RULE_NAME, "Scope": {"ComplianceResourceTypes": [LAMBDA]},
            "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": function_arn, "SourceDetails": details},
            "InputParameters": parameters})

    def recorder(self, on: bool) -> None:
        if not on:
            self.config.stop_configuration_recorder(ConfigurationRecorderName="default")
            return
        self.config.put_configuration_recorder(ConfigurationRecorder={
            "name": "default", "roleARN": f"arn:aws:iam::{ACCOUNT}:role/config-recorder",
            "recordingGroup": {"allSupported": True}})
        self.config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config-bucket"})
        self.config.start_configuration_recorder(ConfigurationRecorderName="default")

    def seed(self, count: int) -> None:
        created = self.control("POST", "seed/lambda", {"Accounts": [ACCOUNT], "Region": REGION,
                                                       "FunctionsPerAccount": count, "Runtimes": MIX})["Created"]
        assert created == count, created

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"

    def specials(self, today: dt.date) -> None:
        """A pinned runtime version (fn-0001, python3.13), an exemption within maxExemptionDays (fn-0008,
        python3.8) and a malformed one (fn-0016, python3.8): a tag change makes Config notify the rule."""
        self.lam.put_runtime_management_config(FunctionName="fn-0001", UpdateRuntimeOn="Manual",
                                               RuntimeVersionArn=MANUAL_VERSION)
        self.lam.tag_resource(Resource=self.arn("fn-0001"), Tags={"pinned": "yes"})
        self.lam.tag_resource(Resource=self.arn("fn-0008"), Tags={"runtime-exempt-until": str(today + dt.timedelta(days=30))})
        self.lam.tag_resource(Resource=self.arn("fn-0016"), Tags={"runtime-exempt-until": "soon"})

    def invocations(self, arn: str) -> list[dict[str, Any]]:
        return self.control("GET", f"runtime/invocations?FunctionArn={arn}")["Invocations"]

    def compliance(self) -> dict[str, str]:
        results: dict[str, str] = {}
        kwargs: dict[str, Any] = {"ConfigRuleName": RULE_NAME, "Limit": 100,
                                  "ComplianceTypes": ["COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"]}
        while True:
            page = self.config.get_compliance_details_by_config_rule(**kwargs)
            for result in page["EvaluationResults"]:
                qualifier = result["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
                results[qualifier["ResourceId"]] = result["ComplianceType"]
            if not page.get("NextToken"):
                return results
            kwargs["NextToken"] = page["NextToken"]


def recorded(stats: dict[str, Any]) -> int:
    return sum(row["Count"] for row in stats["EvaluationsRecorded"] if row["ConfigRuleName"] == RULE_NAME)


def calls_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    diff = {key: count - before["Calls"].get(key, 0) for key, count in after["Calls"].items()}
    return {key: count for key, count in sorted(diff.items()) if count}


# ---------------------------------------------------------------- the timing proxy


class Timing:
    """What the proxy saw: when each invocation was handed out and when its answer came back."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.handed: dict[str, float] = {}
        self.answered: list[tuple[str, float, float]] = []  # (request id, handed, answered)

    def wait_answers(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.answered) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{len(self.answered)} of {count} invocations answered within {timeout:.0f} s")
                self.cond.wait(left)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    upstreams: set[http.client.HTTPConnection]

    def close_upstreams(self) -> None:
        """Closes the connections to the Runtime API, so that a long poll left by a killed rule process is
        not handed the next invocation (the local AWS hands nothing to a closed poll)."""
        for connection in list(self.upstreams):
            if connection.sock is not None:
                try:
                    connection.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def start_proxy(upstream: str, timing: Timing) -> tuple[_ProxyServer, str]:
    """A Runtime API proxy on 127.0.0.1 in front of `upstream` (host:port): keep-alive, TCP_NODELAY, one
    write per response, one upstream connection per runtime connection."""
    host, port = upstream.split(":")
    upstreams: set[http.client.HTTPConnection] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.upstream = http.client.HTTPConnection(host, int(port))
            upstreams.add(self.upstream)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(self, method: str, body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "connection", "content-length", "transfer-encoding", "expect")}
            self.upstream.request(method, self.path, body=body, headers=headers)
            response = self.upstream.getresponse()
            return response.status, response.getheaders(), response.read()

        def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
            lines += [f"{k}: {v}" for k, v in headers
                      if k.lower() not in ("content-length", "connection", "transfer-encoding", "keep-alive")]
            lines.append(f"Content-Length: {len(body)}")
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

        def do_GET(self) -> None:
            status, headers, body = self._forward("GET", None)
            request_id = dict((k.lower(), v) for k, v in headers).get("lambda-runtime-aws-request-id")
            if request_id and self.path.endswith("/invocation/next"):
                with timing.cond:
                    timing.handed[request_id] = time.perf_counter()
            self._reply(status, headers, body)

        def do_POST(self) -> None:
            body = self._body()
            now = time.perf_counter()
            parts = self.path.split("/")
            if len(parts) == 6 and parts[3] == "invocation" and parts[5] in ("response", "error"):
                with timing.cond:
                    handed = timing.handed.get(parts[4])
                    if handed is not None:
                        timing.answered.append((parts[4], handed, now))
                        timing.cond.notify_all()
            status, headers, answer = self._forward("POST", body)
            self._reply(status, headers, answer)

    server = _ProxyServer(("127.0.0.1", 0), Handler)
    server.upstreams = upstreams
    threading.Thread(target=server.serve_forever, daemon=True, name="runtime-proxy").start()
    return server, f"127.0.0.1:{server.server_address[1]}"


# ---------------------------------------------------------------- the two rules


@dataclass
class Rule:
    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]


# Side by side, our rule does the same work as the port: every runtime management mode that can change a verdict
# is read, unpaced (the port has no pace and no read budget). Its own limits are measured apart, under the quota.
UNLIMITED = {"RULE_LAMBDA_CALLS_PER_SECOND": "1000000", "RULE_MODE_READS_PER_SWEEP": "1000000"}
# Lambda's control-plane operations the rule calls (AWS counts them against 15 requests a second together).
CONTROL_PLANE = ("lambda:ListFunctions", "lambda:GetRuntimeManagementConfig", "lambda:ListTags")


def lambda_env(aws: LocalAws, runtime_api: str, function: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), **LOOPBACK_ENV, "AWS_ENDPOINT_URL": aws.url,
            "AWS_LAMBDA_RUNTIME_API": runtime_api, "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}", "AWS_LAMBDA_LOG_STREAM_NAME": "local"}


def rules(rule_bin: Path, code: Path) -> list[Rule]:
    """Our release binary, and the port run by awslambdaric (AWS's runtime interface client, what AWS's Python
    base images run) from the project's environment, with `code` first on sys.path as /var/task is in Lambda:
    the packaged function (lifecycle_rule.py, runtimes.json, and rdklib + boto3 when bundled), or
    tests/bench/rdklib_rule itself (rdklib and boto3 from the environment, the catalog from the repository).
    PYTHONDONTWRITEBYTECODE: /var/task is read-only in Lambda, so only the .pyc files pip compiled into the
    package are there, and no run leaves compiled files behind for the next one."""
    ours = Rule("ours", [str(rule_bin)], ROOT, UNLIMITED)
    rdklib = Rule("rdklib", [sys.executable, "-m", "awslambdaric", "lifecycle_rule.lambda_handler"], code,
                  {"PYTHONPATH": str(code), "LAMBDA_TASK_ROOT": str(code), "PYTHONDONTWRITEBYTECODE": "1",
                   "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
                   "LIFECYCLE_CATALOG": str(ROOT / "rule/lifecycle/data/runtimes.json")})
    return [ours, rdklib]


class Running:
    """One rule process bound to its function's Runtime API through the timing proxy."""

    def __init__(self, aws: LocalAws, rule: Rule, function_arn: str, logs: Path):
        self.timing = Timing()
        upstream = aws.control("POST", "runtime/bind", {"FunctionArn": function_arn, "TimeoutSeconds": 900})["RuntimeApi"]
        self.proxy, address = start_proxy(upstream, self.timing)
        env = {**lambda_env(aws, address, function_arn.rsplit(":", 1)[-1]), **rule.env}
        logs.mkdir(parents=True, exist_ok=True)
        self.log = open(logs / f"{rule.name}.log", "ab")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(rule.command, cwd=rule.cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def peak_rss_kib(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()
        self.proxy.shutdown()
        self.proxy.close_upstreams()
        self.proxy.server_close()


def fresh(aws: LocalAws, change: bool, periodic: bool, parameters: str = "{}") -> str:
    """An empty local AWS with the rule's function and the Config rule (the function predates the recorder).
    The function's declared runtime is the same for both rules (the local AWS stores it and runs whatever
    process is bound), so that their sweeps judge identical sets of functions, their own included."""
    aws.control("POST", "reset")
    arn = aws.create_function("runtime-rule", "provided.al2023")
    aws.put_rule(arn, change, periodic, parameters)
    return arn


# ---------------------------------------------------------------- the scenarios


@dataclass
class Samples:
    cold_ms: list[float] = field(default_factory=list)
    warm_ms: list[float] = field(default_factory=list)
    rss_kib: dict[str, list[int]] = field(default_factory=dict)
    sweeps: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


def change_events(aws: LocalAws, rule: Rule, warm_events: int, logs: Path) -> tuple[float, list[float], int, dict[str, str]]:
    """Cold start and warm latency: `warm_events` seeded functions (fn-0000 first) plus the special cases,
    queued before the process starts, answered back to back."""
    arn = fresh(aws, change=True, periodic=False)
    aws.recorder(True)
    today = dt.datetime.now(dt.timezone.utc).date()
    aws.seed(warm_events)
    aws.specials(today)
    aws.create_function("future", "python3.16")
    aws.lam.delete_function(FunctionName="fn-0002")
    queued = len(aws.invocations(arn))
    running = Running(aws, rule, arn, logs)
    try:
        running.timing.wait_answers(queued, timeout=600)
        rss = running.peak_rss_kib()
    finally:
        running.stop()
    invocations = aws.invocations(arn)
    failed = [i for i in invocations if i["Status"] != "succeeded" or i["Response"] is None
              or (isinstance(i["Response"], dict) and "internalErrorMessage" in i["Response"])]
    if failed:
        raise RuntimeError(f"{rule.name}: {len(failed)} invocation(s) failed, e.g. {json.dumps(failed[0])[:600]}")
    if recorded(aws.stats()) != queued:
        raise RuntimeError(f"{rule.name}: {recorded(aws.stats())} evaluations recorded for {queued} change events")
    answered = sorted(running.timing.answered, key=lambda a: a[1])
    cold = (answered[0][2] - running.started) * 1000
    warm = [(done - handed) * 1000 for _, handed, done in answered[1:]]
    return cold, warm, rss, aws.compliance()


def sweeps(aws: LocalAws, rule: Rule, functions: int, gone: bool, logs: Path) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Two periodic sweeps over the same `functions` (and, when `gone`, a third after one was deleted)."""
    arn = fresh(aws, change=False, periodic=True)
    today = dt.datetime.now(dt.timezone.utc).date()
    aws.seed(functions)
    aws.specials(today)
    running = Running(aws, rule, arn, logs)
    result: dict[str, Any] = {}
    gone_map: dict[str, str] = {}
    try:
        for sweep in ("first", "second") + (("gone",) if gone else ()):
            if sweep == "gone":
                aws.lam.delete_function(FunctionName="fn-0002")  # no recorder: no change event, only the sweep sees it
            before = aws.stats()
            aws.control("POST", "config/periodic", {"AccountId": ACCOUNT, "Region": REGION})
            running.timing.wait_answers(len(running.timing.answered) + 1, timeout=1800)
            after = aws.stats()
            _, handed, done = running.timing.answered[-1]
            result[sweep] = {"seconds": done - handed, "calls": calls_between(before, after),
                             "evaluations_put": recorded(after) - recorded(before)}
            if sweep == "first":
                first_map = aws.compliance()
            if sweep == "gone":
                gone_map = aws.compliance()
        result["rss_kib"] = running.peak_rss_kib()
    finally:
        running.stop()
    bad = [i for i in aws.invocations(arn) if i["Status"] != "succeeded"
           or (isinstance(i["Response"], dict) and "internalErrorMessage" in i["Response"])]
    if bad:
        raise RuntimeError(f"{rule.name}: a sweep failed: {json.dumps(bad[0])[:600]}")
    return result, first_map, gone_map


def under_quota(aws: LocalAws, rule: Rule, functions: int, logs: Path) -> dict[str, Any]:
    """Our rule with its default limits (10 Lambda calls a second, 750 mode reads a sweep) under Lambda's
    control-plane quota as AWS enforces it (15 requests a second per account and Region): a first sweep over
    `functions` with nothing held (reads first-in-line, the rest deferred), then — after a sweep with no budget
    has evaluated everything, as Config's change notifications would have — an ordinary day's sweep. Both
    must stay within 1,000 control-plane calls and well inside Lambda's 15 minutes."""
    today = dt.datetime.now(dt.timezone.utc).date()
    arn = fresh(aws, change=False, periodic=True, parameters=json.dumps({"catalogSsmParameter": OVERLAY_PARAMETER}))
    overlay(aws, deprecation=None)
    aws.seed(functions)
    aws.specials(today)
    result: dict[str, Any] = {}

    def sweep(limits: dict[str, str], name: str) -> None:
        running = Running(aws, Rule(rule.name, rule.command, rule.cwd, limits), arn, logs)
        try:
            before = aws.stats()
            refused_before = quota_refusals(aws)
            aws.control("POST", "config/periodic", {"AccountId": ACCOUNT, "Region": REGION})
            running.timing.wait_answers(1, timeout=1800)
            after = aws.stats()
            _, handed, done = running.timing.answered[-1]
            calls = calls_between(before, after)
            response = aws.invocations(arn)[-1]["Response"]
            result[name] = {"seconds": done - handed, "calls": calls,
                            "control_plane": sum(calls.get(op, 0) for op in CONTROL_PLANE),
                            "refused": quota_refusals(aws) - refused_before,
                            "evaluations_put": recorded(after) - recorded(before),
                            "deferred": response.get("deferred") if isinstance(response, dict) else None}
        finally:
            running.stop()

    quota_on = {"LambdaControlPlaneQuota": {}}
    try:
        aws.control("POST", "faults", quota_on)
        sweep({}, "first")
        aws.control("POST", "faults", {})  # the catch-up stands for Config's own first evaluations, spread out
        sweep(UNLIMITED, "catch-up")
        aws.control("POST", "faults", quota_on)
        sweep({}, "steady")
        # A catalog boundary day: java17 deprecated as of today (through the overlay, as AWS moving a date
        # would be; the clock cannot be moved): only the functions whose verdict changed are put.
        overlay(aws, deprecation=today)
        sweep({}, "boundary")
        result["boundary"]["verdicts_changed"] = sum(1 for i in range(functions) if MIX[i % len(MIX)] == BOUNDARY_RUNTIME)
    finally:
        aws.control("POST", "faults", {})
    return result


OVERLAY_PARAMETER = "/bench/runtime-catalog"
BOUNDARY_RUNTIME = "java17"


def overlay(aws: LocalAws, deprecation: dt.date | None) -> None:
    """The catalog overlay the quota scenario's rule reads: java17 as built in, or deprecated on `deprecation`."""
    catalog = json.loads((ROOT / "rule/lifecycle/data/runtimes.json").read_text())
    entry = next(r for r in catalog["runtimes"] if r["runtime"] == BOUNDARY_RUNTIME)
    keys = ("runtime", "family", "os", "packaging", "deprecation_date", "block_create_date", "block_update_date",
            "successor", "latest")
    runtime = {key: entry[key] for key in keys}
    if deprecation:
        runtime["deprecation_date"] = str(deprecation)
    document = {"schema_version": 1, "updated_at": catalog["updated_at"], "runtimes": [runtime]}
    aws.ssm.put_parameter(Name=OVERLAY_PARAMETER, Value=json.dumps(document), Type="String", Overwrite=True)


def quota_refusals(aws: LocalAws) -> int:
    injected = aws.control("GET", "faults")["Injected"]
    return sum(count for key, count in injected.items() if key.startswith("quota:lambda:"))


# Verdicts both rules must reach (besides reaching the same ones everywhere).
EXPECTED = {
    "fn-0000": "NON_COMPLIANT",  # python3.8, deprecated 2024-10-14
    "fn-0001": "NON_COMPLIANT",  # python3.13 with its runtime version pinned (Manual)
    "fn-0005": "NOT_APPLICABLE",  # container image
    "fn-0008": "COMPLIANT",  # python3.8, exempt for 30 more days
    "fn-0009": "COMPLIANT",  # python3.13
    "fn-0016": "NON_COMPLIANT",  # python3.8 with a malformed exemption
}


def compare(what: str, maps: dict[str, dict[str, str]], extra: dict[str, str]) -> list[str]:
    """Differences between the rules' compliance maps, and from the expected verdicts."""
    problems = []
    (a_name, a), (b_name, b) = maps.items()
    for resource in sorted(set(a) | set(b)):
        if a.get(resource) != b.get(resource):
            problems.append(f"{what}: {resource}: {a_name} {a.get(resource)}, {b_name} {b.get(resource)}")
    for resource, expected in {**EXPECTED, **extra}.items():
        for name, found in maps.items():
            if found.get(resource) != expected:
                problems.append(f"{what}: {resource}: {name} {found.get(resource)}, expected {expected}")
    return problems


def verdicts_of(aws: LocalAws, rule: Rule, logs: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """One rule on a handful of functions: their change events (seeded, the special cases, a runtime newer
    than the catalog, a deletion), then with the recorder stopped a periodic sweep, then another sweep after
    fn-0010 was deleted unseen. The compliance Config holds after each step."""
    arn = fresh(aws, change=True, periodic=True)
    aws.recorder(True)
    aws.seed(24)
    aws.specials(dt.datetime.now(dt.timezone.utc).date())
    aws.create_function("future", "python3.16")
    aws.lam.delete_function(FunctionName="fn-0002")
    queued = len(aws.invocations(arn))
    running = Running(aws, rule, arn, logs)
    try:
        running.timing.wait_answers(queued, timeout=120)
        after_changes = aws.compliance()
        aws.recorder(False)
        aws.control("POST", "config/periodic", {"AccountId": ACCOUNT, "Region": REGION})
        running.timing.wait_answers(queued + 1, timeout=120)
        after_sweep = aws.compliance()
        aws.lam.delete_function(FunctionName="fn-0010")
        aws.control("POST", "config/periodic", {"AccountId": ACCOUNT, "Region": REGION})
        running.timing.wait_answers(queued + 2, timeout=120)
        after_gone = aws.compliance()
    finally:
        running.stop()
    bad = [i for i in aws.invocations(arn) if i["Status"] != "succeeded"
           or (isinstance(i["Response"], dict) and "internalErrorMessage" in i["Response"])]
    if bad:
        raise RuntimeError(f"{rule.name}: an invocation failed: {json.dumps(bad[0])[:600]}")
    return after_changes, after_sweep, after_gone


def check_verdicts(aws: LocalAws, all_rules: list[Rule], logs: Path) -> list[str]:
    """The same events for both rules: the differences between their verdicts, and from EXPECTED."""
    found = {rule.name: verdicts_of(aws, rule, logs) for rule in all_rules}
    steps = [("change events", {"future": "COMPLIANT", "fn-0002": "NOT_APPLICABLE", "fn-0010": "NON_COMPLIANT"}),
             ("sweep", {"future": "COMPLIANT", "fn-0002": "NOT_APPLICABLE"}),
             ("sweep after fn-0010 was deleted", {"fn-0010": "NOT_APPLICABLE"})]
    problems = []
    for index, (what, extra) in enumerate(steps):
        problems += compare(what, {name: maps[index] for name, maps in found.items()}, extra)
    return problems


# ---------------------------------------------------------------- deployment zips


def zip_dir(source: Path, zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file() and path.name != ".stamp":
                archive.write(path, path.relative_to(source))
    return zip_path.stat().st_size


def package_port(out: Path) -> dict[str, Any]:
    """The port as Lambda deployment packages: with rdklib + boto3/botocore bundled (pip install --target of
    bundle-requirements.txt, as AWS's Python packaging steps do, .pyc files included as pip writes them),
    and with rdklib only (the runtime's boto3). Returns their directories and zip sizes."""
    bundle_pins = (HERE / "bundle-requirements.txt").read_text()
    rdklib_pin = next(line for line in bundle_pins.splitlines() if line.startswith("rdklib=="))
    sizes: dict[str, Any] = {}
    for variant, pins in (("bundled", ["-r", str(HERE / "bundle-requirements.txt")]), ("runtime-sdk", [rdklib_pin])):
        directory = out / f"rdklib-{variant}"
        stamp = directory / ".stamp"
        if not stamp.exists() or stamp.read_text() != bundle_pins:
            shutil.rmtree(directory, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                            "--target", str(directory), *pins], check=True)
            stamp.write_text(bundle_pins)
        shutil.copy(HERE / "rdklib_rule/lifecycle_rule.py", directory / "lifecycle_rule.py")
        shutil.copy(ROOT / "rule/lifecycle/data/runtimes.json", directory / "runtimes.json")
        sizes[variant] = {"dir": directory, "zip_bytes": zip_dir(directory, out / f"rdklib-{variant}.zip"),
                          "unzipped_bytes": sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()),
                          "pyc_files": sum(1 for _ in directory.rglob("*.pyc"))}
    return sizes


def package_ours(rule_bin: Path, out: Path) -> dict[str, Any]:
    """Our deployment zip: the release binary as `bootstrap` (what `cargo xtask lambda` zips, built there with
    cargo-lambda for arm64 and x86_64). This machine builds x86_64 only (no aarch64 standard library)."""
    zip_path = out / "ours-bootstrap.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("bootstrap", date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, rule_bin.read_bytes())
    found = {"zip_bytes": zip_path.stat().st_size, "unzipped_bytes": rule_bin.stat().st_size, "source": f"{rule_bin} zipped as bootstrap (x86_64)"}
    for arch in ("arm64", "x86_64"):
        built = target_dir() / "lambda" / arch / "rule" / "bootstrap.zip"
        if built.exists():
            found[f"cargo_lambda_{arch}_zip_bytes"] = built.stat().st_size
    return found


# ---------------------------------------------------------------- the report


def summary(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def fmt(values: list[float], unit: str, scale: float = 1.0, digits: int = 1) -> str:
    low, mid, high = (v * scale for v in summary(values))
    return f"{low:.{digits}f} / {mid:.{digits}f} / {high:.{digits}f} {unit}"


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rule-bin", type=Path, default=target_dir() / "release/rule")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000", help="functions per periodic sweep, comma-separated")
    parser.add_argument("--warm-events", type=int, default=200, help="seeded functions whose change events are timed")
    parser.add_argument("--check-only", action="store_true", help="only compare the two rules' verdicts")
    parser.add_argument("--quota-size", type=int, default=10000,
                        help="functions in the sweep run under Lambda's control-plane quota with our default limits (0: skip)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    out = target_dir() / "bench-rule"
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    if not args.rule_bin.exists():
        raise SystemExit(f"{args.rule_bin} is missing: cargo build --release --locked -p rule")

    port = package_port(out)
    all_rules = rules(args.rule_bin.resolve(), port["bundled"]["dir"])
    aws = LocalAws()
    try:
        started = time.perf_counter()
        problems = check_verdicts(aws, all_rules, logs)
        print(f"verdicts: {'the same' if not problems else 'DIFFERENT'} for both rules "
              f"(change events, sweep, function gone; {time.perf_counter() - started:.1f} s)", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        if args.check_only:
            return 1 if problems else 0

        samples = {rule.name: Samples() for rule in all_rules}
        for run in range(args.runs):
            order = all_rules if run % 2 == 0 else all_rules[::-1]
            for rule in order:
                cold, warm, rss, found = change_events(aws, rule, args.warm_events, logs)
                s = samples[rule.name]
                s.cold_ms.append(cold)
                s.warm_ms.extend(warm)
                s.rss_kib.setdefault("change events", []).append(rss)
                print(f"run {run + 1}/{args.runs} {rule.name:6} change events: cold start {cold:.0f} ms, "
                      f"warm median {statistics.median(warm):.2f} ms ({len(warm)} events), peak RSS {rss / 1024:.1f} MiB",
                      file=sys.stderr)
        for size in sizes:
            for run in range(args.runs):
                order = all_rules if run % 2 == 0 else all_rules[::-1]
                for rule in order:
                    result, _, _ = sweeps(aws, rule, size, False, logs)
                    samples[rule.name].sweeps.setdefault(size, []).append(result)
                    samples[rule.name].rss_kib.setdefault(f"sweep of {size:,}", []).append(result["rss_kib"])
                    print(f"run {run + 1}/{args.runs} {rule.name:6} sweep of {size:,}: {result['first']['seconds']:.2f} s, "
                          f"again {result['second']['seconds']:.2f} s ({result['second']['evaluations_put']} put), "
                          f"peak RSS {result['rss_kib'] / 1024:.1f} MiB", file=sys.stderr)
        quota = None
        if args.quota_size:
            quota = under_quota(aws, all_rules[0], args.quota_size, logs)
            for name, r in quota.items():
                print(f"ours under the quota, sweep of {args.quota_size:,} ({name}): {r['seconds']:.1f} s, "
                      f"{r['control_plane']} Lambda control-plane calls, {r['refused']} refused, "
                      f"{r['evaluations_put']} put, {r['deferred']} deferred", file=sys.stderr)
    finally:
        aws.stop()

    ours_zip = package_ours(args.rule_bin, out)
    report(samples, sizes, ours_zip, port, problems, args, quota)
    return 1 if problems else 0


def report(samples: dict[str, Samples], sizes: list[int], ours_zip: dict[str, Any], port: dict[str, Any],
           problems: list[str], args: argparse.Namespace, quota: dict[str, Any] | None) -> None:
    ours, theirs = samples["ours"], samples["rdklib"]
    rows: list[tuple[str, str, str, str]] = []

    def row(what: str, a: list[float], b: list[float], unit: str, scale: float = 1.0, digits: int = 1) -> None:
        rows.append((what, fmt(a, unit, scale, digits), fmt(b, unit, scale, digits),
                     f"{ratio(statistics.median(a), statistics.median(b)):.3f}"))

    row(f"cold start ({args.runs} runs)", ours.cold_ms, theirs.cold_ms, "ms")
    row(f"warm, per change event ({len(ours.warm_ms)} events)", ours.warm_ms, theirs.warm_ms, "ms", digits=2)
    for phase in ours.rss_kib:
        row(f"peak RSS, {phase}", ours.rss_kib[phase], theirs.rss_kib[phase], "MiB", 1 / 1024)
    for size in sizes:
        a, b = ours.sweeps[size], theirs.sweeps[size]
        row(f"sweep of {size:,}: wall", [r["first"]["seconds"] for r in a], [r["first"]["seconds"] for r in b], "s", digits=2)
        row(f"sweep of {size:,} again (unchanged): wall", [r["second"]["seconds"] for r in a],
            [r["second"]["seconds"] for r in b], "s", digits=2)
        row(f"sweep of {size:,} again: evaluations put", [r["second"]["evaluations_put"] for r in a],
            [r["second"]["evaluations_put"] for r in b], "", digits=0)
    bundled, runtime_sdk = port["bundled"]["zip_bytes"], port["runtime-sdk"]["zip_bytes"]
    mib = 1 / 1_048_576
    rows.append(("zip, bundled SDK (rdklib + boto3/botocore)", f"{ours_zip['zip_bytes'] * mib:.2f} MiB",
                 f"{bundled * mib:.2f} MiB", f"{ratio(ours_zip['zip_bytes'], bundled):.3f}"))
    rows.append(("zip, runtime's SDK (rdklib only)", f"{ours_zip['zip_bytes'] * mib:.2f} MiB",
                 f"{runtime_sdk * mib:.2f} MiB", f"{ratio(ours_zip['zip_bytes'], runtime_sdk):.3f}"))
    rows.append(("unzipped (rdklib: bundled SDK)", f"{ours_zip['unzipped_bytes'] * mib:.2f} MiB",
                 f"{port['bundled']['unzipped_bytes'] * mib:.2f} MiB",
                 f"{ratio(ours_zip['unzipped_bytes'], port['bundled']['unzipped_bytes']):.3f}"))
    widths = [max(len(r[i]) for r in rows + [("", "ours", "rdklib", "ours/rdklib")]) for i in range(4)]
    print(f"{'min / median / max':{widths[0]}}  {'ours':>{widths[1]}}  {'rdklib':>{widths[2]}}  {'ours/rdklib':>{widths[3]}}")
    for r in rows:
        print(f"{r[0]:{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}")
    for size in sizes:
        for name, s in samples.items():
            first = s.sweeps[size][0]
            print(f"API calls, sweep of {size:,}, {name}: first {json.dumps(first['first']['calls'])}; "
                  f"again {json.dumps(first['second']['calls'])}")
    for size in sizes:
        for name, s in samples.items():
            planes = [sum(r["first"]["calls"].get(op, 0) for op in CONTROL_PLANE) for r in s.sweeps[size]]
            print(f"Lambda control-plane calls, sweep of {size:,}, {name} (unpaced, no read budget): {statistics.median(planes):,.0f} "
                  f"= {statistics.median(planes) / 15 / 60:.1f} min at AWS's 15 a second")
    if quota:
        for name, r in quota.items():
            print(f"ours under the enforced quota, sweep of {args.quota_size:,}, {name}"
                  f"{' (no budget, unpaced, quota off: what Config change notifications would have evaluated)' if name == 'catch-up' else ''}: "
                  f"{r['seconds']:.1f} s, {r['control_plane']} Lambda control-plane calls ({r['refused']} refused), "
                  f"{r['evaluations_put']} evaluations put"
                  f"{' (functions whose verdict changed: %d)' % r['verdicts_changed'] if 'verdicts_changed' in r else ''}, "
                  f"{r['deferred']} deferred; {json.dumps(r['calls'])}")
    print(f"ours: {ours_zip['source']}" + "".join(f"; {k} {v:,} B" for k, v in ours_zip.items() if k.startswith("cargo_lambda")))
    print(f"rdklib port: Python {sys.version.split()[0]}, awslambdaric, own-account mode; bundled zip holds "
          f"{port['bundled']['pyc_files']} .pyc files as pip compiled them")
    if problems:
        print("verdicts differ between the rules: no ratios (see above)")
        return
    largest = max(sizes) if sizes else None
    unchanged = statistics.median(r["second"]["evaluations_put"] for r in ours.sweeps[largest]) if largest else float("nan")
    rss_phase = f"sweep of {largest:,}" if largest else "change events"
    print(f"rule unchanged_puts={unchanged:.0f} "
          f"cold_start_ratio={ratio(statistics.median(ours.cold_ms), statistics.median(theirs.cold_ms)):.3f} "
          f"warm_ratio={ratio(statistics.median(ours.warm_ms), statistics.median(theirs.warm_ms)):.3f} "
          f"rss_ratio={ratio(statistics.median(ours.rss_kib[rss_phase]), statistics.median(theirs.rss_kib[rss_phase])):.3f} "
          f"zip_ratio={ratio(ours_zip['zip_bytes'], port['bundled']['zip_bytes']):.3f}")


if __name__ == "__main__":
    sys.exit(main())
