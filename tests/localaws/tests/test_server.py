"""The server (localaws/__main__.py, KeepAliveHandler): HTTP/1.1 keep-alive, TCP_NODELAY on every accepted
socket, and each response written with one write, so that SDK clients neither reconnect per call nor wait for
a delayed ACK (Nagle's algorithm) between the headers and the body of a response."""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import sys
import threading
import time
import urllib.parse

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from localaws.__main__ import KeepAliveHandler  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402


def connect(url: str) -> http.client.HTTPConnection:
    parsed = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)


def get(connection: http.client.HTTPConnection, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    connection.request("GET", path)
    response = connection.getresponse()
    return response, response.read()


def test_two_requests_over_one_connection(aws):
    connection = connect(aws.url)
    first, body = get(connection, "/_localaws/connection")
    sock = connection.sock
    second, second_body = get(connection, "/_localaws/connection")
    assert connection.sock is sock, "the client had to reconnect"
    assert first.getheader("Connection") is None and second.getheader("Connection") is None
    assert json.loads(body)["RequestsOnConnection"] == 1
    assert json.loads(second_body)["RequestsOnConnection"] == 2
    # An AWS call in between, on the same connection, with a body both ways.
    connection.request("POST", "/_localaws/lambda/settings", body=json.dumps({"UpdatePolls": 2}),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200 and json.loads(response.read())["UpdatePolls"] == 2
    assert json.loads(get(connection, "/_localaws/connection")[1])["RequestsOnConnection"] == 4
    connection.close()


def test_the_client_can_still_ask_to_close(aws):
    connection = connect(aws.url)
    connection.request("GET", "/_localaws/health", headers={"Connection": "close"})
    response = connection.getresponse()
    assert response.getheader("Connection") == "close" and json.loads(response.read()) == {"status": "ok"}
    connection.close()


def test_tcp_nodelay_is_set_on_the_accepted_socket(aws):
    connection = connect(aws.url)
    assert json.loads(get(connection, "/_localaws/connection")[1])["TcpNoDelay"] is True
    connection.close()


def test_kept_alive_requests_do_not_wait_for_a_delayed_ack(aws):
    # With two writes per response and Nagle's algorithm on, every response after the first on a connection
    # waits for the client's delayed ACK (40 ms on Linux); one write and TCP_NODELAY take well under that.
    connection = connect(aws.url)
    get(connection, "/_localaws/health")
    samples = []
    for _ in range(20):
        started = time.perf_counter()
        get(connection, "/_localaws/health")
        samples.append(time.perf_counter() - started)
    connection.close()
    # The stall is 40 ms; 30 ms leaves room for a loaded machine.
    assert statistics.median(samples) < 0.03, samples


class CountingHandler(KeepAliveHandler):
    """Records, per response, the writes to the socket and the accepted socket's TCP_NODELAY."""

    writes: list[list[bytes]] = []
    nodelay: list[int] = []

    def setup(self) -> None:
        super().setup()
        CountingHandler.nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        write = self.wfile.write

        def counting(data: bytes) -> int:
            CountingHandler.writes[-1].append(bytes(data))
            return write(data)

        self.wfile.write = counting

    def run_wsgi(self) -> None:
        CountingHandler.writes.append([])
        super().run_wsgi()


def chunked_app(environ, start_response):
    """An application that answers in several pieces: the status, then three body chunks."""
    size = int(environ.get("CONTENT_LENGTH") or 0)
    received = environ["wsgi.input"].read(size)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"first ", b"second ", b"received=" + received]


def test_each_response_is_written_once_whatever_the_application_yields():
    server = make_server("127.0.0.1", 0, chunked_app, threaded=True, request_handler=CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        for body in (b"one", b"two"):
            connection.request("POST", "/", body=body)
            response = connection.getresponse()
            assert response.read() == b"first second received=" + body
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
    assert CountingHandler.nodelay == [1]  # one accepted connection, TCP_NODELAY on
    assert [len(w) for w in CountingHandler.writes] == [1, 1]
    for writes, body in zip(CountingHandler.writes, (b"one", b"two")):
        head, _, payload = writes[0].partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: " in head
        assert payload == b"first second received=" + body


def test_a_malformed_content_length_is_answered_400_not_awaited(aws):
    for length in ("-1", "12abc", str(10**12)):
        connection = connect(aws.url)
        connection.putrequest("POST", "/_localaws/health")
        connection.putheader("Content-Length", length)
        connection.endheaders()
        connection.sock.settimeout(5)
        response = connection.getresponse()
        assert response.status == 400, length
        assert response.getheader("Connection") == "close"
        connection.close()
