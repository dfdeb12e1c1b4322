"""The Lambda Runtime API (2018-06-01) for functions bound to a local process, with the semantics of
asynchronous invocation: events queue until a runtime polls (none is lost when the process starts
late), an error or a timeout is retried (twice by default, as Lambda does), and each attempt is kept
for tests to inspect.

A test binds a function ARN with POST /_localaws/runtime/bind and starts its runtime process with
AWS_LAMBDA_RUNTIME_API set to the returned host:port; each bound function gets its own port."""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


def base_arn(arn: str) -> str:
    """arn:aws:lambda:r:a:function:name[:qualifier] -> without the qualifier."""
    parts = arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 else arn


@dataclass
class Attempt:
    started: float
    outcome: str = "running"  # running | succeeded | error | timeout
    detail: Any = None


@dataclass
class Invocation:
    id: str
    function_arn: str
    event: Any
    synchronous: bool
    status: str = "queued"  # queued | running | succeeded | failed
    attempts: list[Attempt] = field(default_factory=list)
    response: Any = None
    error: Any = None
    deadline: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)

    def to_dict(self) -> dict[str, Any]:
        return {
            "RequestId": self.id,
            "FunctionArn": self.function_arn,
            "Status": self.status,
            "Attempts": [{"Outcome": a.outcome, "Detail": a.detail} for a in self.attempts],
            "Event": self.event,
            "Response": self.response,
            "Error": self.error,
        }


class FunctionRuntime:
    """The queue and Runtime API endpoint of one function."""

    def __init__(self, arn: str, api: "RuntimeApi"):
        self.arn = arn
        self.api = api
        self.ready: deque[Invocation] = deque()
        self.in_flight: dict[str, Invocation] = {}
        self.all: list[Invocation] = []
        self.cond = threading.Condition()
        self.timeout_seconds = 30.0
        self.init_errors: list[Any] = []
        self.server: ThreadingHTTPServer | None = None

    # -- queue

    def enqueue(self, invocation: Invocation) -> None:
        with self.cond:
            self.all.append(invocation)
            self.ready.append(invocation)
            self.cond.notify_all()

    def next(self, stop: threading.Event, caller_gone: Callable[[], bool] = lambda: False) -> Invocation | None:
        """The next invocation for a runtime waiting on `invocation/next`; None when the server stops or the
        waiting runtime went away (its connection closed: a killed process is handed nothing, so the event
        stays queued for the next runtime instead of waiting out the function's timeout)."""
        with self.cond:
            while not self.ready:
                if stop.is_set() or caller_gone():
                    return None
                self.cond.wait(timeout=0.2)
            if caller_gone():
                return None
            invocation = self.ready.popleft()
            invocation.status = "running"
            invocation.deadline = time.time() + self.timeout_seconds
            invocation.attempts.append(Attempt(time.time()))
            self.in_flight[invocation.id] = invocation
            return invocation

    def finish(self, request_id: str, outcome: str, detail: Any) -> bool:
        with self.cond:
            invocation = self.in_flight.pop(request_id, None)
            if invocation is None:
                return False
            invocation.attempts[-1].outcome = outcome
            invocation.attempts[-1].detail = detail
            if outcome == "succeeded":
                invocation.status, invocation.response = "succeeded", detail
                invocation.done.set()
                return True
            invocation.error = detail
            attempts = len(invocation.attempts)
            if invocation.synchronous or attempts >= self.api.max_attempts:
                invocation.status = "failed"
                invocation.done.set()
                return True
            invocation.status = "queued"
            delay = self.api.retry_delays[min(attempts - 1, len(self.api.retry_delays) - 1)]
            timer = threading.Timer(delay, self._requeue, args=(invocation,))
            timer.daemon = True
            timer.start()
            return True

    def _requeue(self, invocation: Invocation) -> None:
        with self.cond:
            self.ready.append(invocation)
            self.cond.notify_all()

    def expire(self) -> None:
        """Attempts past the function's timeout count as errors, as Lambda's 'Task timed out'."""
        now = time.time()
        with self.cond:
            expired = [i.id for i in self.in_flight.values() if i.deadline < now]
        for request_id in expired:
            self.finish(request_id, "timeout", {"errorType": "Timeout", "errorMessage": "Task timed out"})


class RuntimeApi:
    def __init__(self, max_attempts: int = 3, retry_delays: tuple[float, ...] = (0.2, 0.5)):
        self.max_attempts = max_attempts
        self.retry_delays = retry_delays
        self.lock = threading.Lock()
        self.functions: dict[str, FunctionRuntime] = {}
        self.stop = threading.Event()
        watcher = threading.Thread(target=self._watch_timeouts, daemon=True, name="runtime-timeouts")
        watcher.start()

    def _watch_timeouts(self) -> None:
        while not self.stop.wait(0.2):
            with self.lock:
                functions = list(self.functions.values())
            for function in functions:
                function.expire()

    def function(self, arn: str) -> FunctionRuntime:
        key = base_arn(arn)
        with self.lock:
            if key not in self.functions:
                self.functions[key] = FunctionRuntime(key, self)
            return self.functions[key]

    def enqueue(self, arn: str, event: Any, synchronous: bool = False) -> Invocation:
        invocation = Invocation(str(uuid.uuid4()), base_arn(arn), event, synchronous)
        self.function(arn).enqueue(invocation)
        return invocation

    def bind(self, arn: str, timeout_seconds: float | None = None) -> str:
        function = self.function(arn)
        if timeout_seconds:
            function.timeout_seconds = float(timeout_seconds)
        with self.lock:
            if function.server is None:
                function.server = _RuntimeServer(("127.0.0.1", 0), _handler_for(function, self.stop))
                thread = threading.Thread(target=function.server.serve_forever, daemon=True, name=f"runtime-api {arn}")
                thread.start()
        return f"127.0.0.1:{function.server.server_address[1]}"

    def invocations(self, arn: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            functions = [self.functions[base_arn(arn)]] if arn and base_arn(arn) in self.functions else (
                [] if arn else list(self.functions.values()))
        return [i.to_dict() for f in functions for i in list(f.all)]

    def reset(self) -> None:
        with self.lock:
            functions = list(self.functions.values())
            self.functions = {}
        for function in functions:
            if function.server is not None:
                function.server.shutdown()
                function.server.server_close()

    def shutdown(self) -> None:
        self.stop.set()
        self.reset()


def _peer_closed(connection: socket.socket) -> bool:
    """Whether the other end of a long poll has closed its connection (readable with nothing to read). A
    runtime sends nothing more while it waits on `invocation/next`."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _RuntimeServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime process that is killed while its long poll is answered is normal at the end of a
        # test; anything else is still printed.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def _handler_for(function: FunctionRuntime, stop: threading.Event):
    prefix = "/2018-06-01/runtime/"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def setup(self) -> None:
            # The runtime's client keeps its connection alive; without TCP_NODELAY a response written after
            # an earlier one waits for the client's delayed ACK (Nagle's algorithm). See __main__.py.
            super().setup()
            try:
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

        def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
            lines = [f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}",
                     "Content-Type: application/json", f"Content-Length: {len(body)}",
                     f"Date: {self.date_time_string()}"]
            lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
            # One write: status line, headers and body together.
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            if self.path != prefix + "invocation/next":
                return self._reply(404, {"errorType": "NotFound", "errorMessage": self.path})
            invocation = function.next(stop, lambda: _peer_closed(self.connection))
            if invocation is None:
                return self._reply(503, {"errorType": "ServiceUnavailable", "errorMessage": "shutting down"})
            self._reply(
                200,
                json.dumps(invocation.event).encode(),
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.id,
                    "Lambda-Runtime-Deadline-Ms": str(int(invocation.deadline * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": function.arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0",
                },
            )

        def do_POST(self) -> None:
            body = self._body()
            rest = self.path[len(prefix):] if self.path.startswith(prefix) else None
            if rest == "init/error":
                function.init_errors.append(_json_or_text(body))
                return self._reply(202, {"status": "OK"})
            parts = rest.split("/") if rest else []
            if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                outcome = "succeeded" if parts[2] == "response" else "error"
                detail = _json_or_text(body)
                if outcome == "error" and isinstance(detail, dict):
                    detail.setdefault("errorType", self.headers.get("Lambda-Runtime-Function-Error-Type", "Unhandled"))
                if function.finish(parts[1], outcome, detail):
                    return self._reply(202, {"status": "OK"})
                return self._reply(400, {"errorType": "InvalidRequestID", "errorMessage": f"Invalid request ID: {parts[1]}"})
            self._reply(404, {"errorType": "NotFound", "errorMessage": self.path})

    return Handler


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode(errors="replace")
