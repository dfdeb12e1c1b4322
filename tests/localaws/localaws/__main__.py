"""python -m localaws [--port N]: serve the local AWS on 127.0.0.1 until interrupted.

Prints `localaws ready http://127.0.0.1:PORT` once it accepts connections (port 0: a free one).

The server is werkzeug's threaded WSGI server with our own request handler (`KeepAliveHandler`): werkzeug's
answers every request with `Connection: close` and writes the status line and headers, then the body, in
separate writes. Clients that keep connections alive (every AWS SDK) then pay a new connection per call, and
the second small write of a response waits for the client's delayed ACK (Nagle's algorithm, ~40 ms on
Linux). Ours keeps HTTP/1.1 connections alive, sets TCP_NODELAY on every accepted socket, and writes each
response (status line, headers and body) with one write."""

from __future__ import annotations

import argparse
import io
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

# Loopback only, never the instance-metadata address: moto and boto3 inside this process too.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from .app import LocalAws  # noqa: E402

# The largest request body read (Lambda ZipFile uploads are at most 50 MB, base64 about 67 MB).
MAX_REQUEST_BYTES = 128 * 1024 * 1024

# Responses that carry no body whatever their headers say (RFC 9110 §6.4.1).
_NO_BODY_STATUS = {204, 304}
# Hop-by-hop framing is the server's business: the application's own values are dropped.
_FRAMING_HEADERS = {"connection", "transfer-encoding", "keep-alive"}


class KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 keep-alive, TCP_NODELAY and one write per response (see the module docstring)."""

    protocol_version = "HTTP/1.1"
    # An idle kept-alive connection is closed after this many seconds (the socket timeout of the
    # connection; a request being answered is not affected).
    timeout = 300

    def setup(self) -> None:
        super().setup()
        self.requests_on_connection = 0
        self.nodelay = False
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.nodelay = bool(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        except OSError:  # not a TCP socket
            pass

    def log_request(self, code: Any = "-", size: Any = "-") -> None:  # quiet, as werkzeug's logger at WARNING
        pass

    def _read_request_body(self, environ: dict[str, Any]) -> bytes:
        """The whole request body, so that the next request on the connection starts where this one ends."""
        if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's DechunkedInput reads to the last chunk
            return environ["wsgi.input"].read()
        length = environ.get("CONTENT_LENGTH")
        if length:
            # RFC 9110 §8.6: a Content-Length that is not a non-negative decimal is invalid (ValueError → 400);
            # a body beyond any request we serve is refused rather than awaited.
            count = int(length) if length.isdigit() else -1
            if not 0 <= count <= MAX_REQUEST_BYTES:
                raise ValueError(f"Content-Length {length!r}")
            return self.rfile.read(count)
        return b""

    def run_wsgi(self) -> None:
        self.requests_on_connection += 1
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        try:
            body = self._read_request_body(environ)
        except ValueError as error:  # a malformed request: answered, and the connection closed
            self.close_connection = True
            self._respond("400 Bad Request", [("Content-Type", "text/plain")], f"localaws: {error}".encode())
            return
        except OSError:
            self.close_connection = True
            return
        environ["wsgi.input"] = io.BytesIO(body)
        environ["wsgi.input_terminated"] = False
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["localaws.connection"] = {"TcpNoDelay": self.nodelay, "RequestsOnConnection": self.requests_on_connection}
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: captured.setdefault("written", []).append(data)

        try:
            chunks = self.server.app(environ, start_response)
            try:
                payload = b"".join([*captured.get("written", []), *chunks])
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
            status, headers = captured["status"], captured["headers"]
        except Exception:  # the application failed outside its own error handling
            logging.getLogger("localaws").exception("request failed: %s %s", self.command, self.path)
            status, headers, payload = "500 Internal Server Error", [("Content-Type", "text/plain")], b"localaws: internal error"
            self.close_connection = True
        self._respond(status, headers, payload)

    def _respond(self, status: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        code = int(status.split(" ", 1)[0])
        bodiless = code < 200 or code in _NO_BODY_STATUS
        lines = [f"{self.protocol_version} {status}"]
        names = set()
        for name, value in headers:
            lowered = name.lower()
            if lowered in _FRAMING_HEADERS:
                continue
            # Content-Length is ours to write, except on HEAD and 304 (the length GET would send, the
            # application's); a 1xx or 204 answer has none (RFC 9110 §8.6).
            if lowered == "content-length" and (not self._keeps_length(code) or code < 200 or code == 204):
                continue
            names.add(lowered)
            lines.append(f"{name}: {value}")
        if not bodiless and not self._keeps_length(code):
            lines.append(f"Content-Length: {len(payload)}")
        if "date" not in names:
            lines.append(f"Date: {self.date_time_string()}")
        if "server" not in names:
            lines.append(f"Server: {self.version_string()}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write: the status line, the headers and the body leave together.
        self.wfile.write(head if bodiless or self.command == "HEAD" else head + payload)

    def _keeps_length(self, code: int) -> bool:
        return self.command == "HEAD" or code == 304


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localaws", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started this one exits (test helpers)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = LocalAws()
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=KeepAliveHandler)
    server.daemon_threads = True

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    if args.exit_with_parent:
        parent = os.getppid()

        def watch_parent() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            stop()

        threading.Thread(target=watch_parent, daemon=True, name="parent-watch").start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"localaws ready http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        app.runtime.shutdown()
        server.server_close()
    try:
        print("localaws stopped", flush=True)
    except BrokenPipeError:  # the reader (a test helper) has gone already
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
