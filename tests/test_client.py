"""The evidence client against tiny raw-socket servers that misbehave on purpose."""
from __future__ import annotations

import hashlib
import json
import shutil
import socket
import struct
import subprocess
import threading
import time
from typing import Callable

import pytest

from conformance.checks import expect_empty_success_body
from conformance.wire.exchange import OUTCOMES, Exchange
from conformance.wire.http1 import Client, probe

HandlerFn = Callable[[socket.socket, "RawServer"], None]
SERVER_IO_TIMEOUT = 5.0  # no server thread ever blocks longer than this


class RawServer:
    """127.0.0.1:0 listener; runs ``handler(conn, server)`` per connection in a thread."""

    def __init__(self, handler: HandlerFn, rcvbuf: int | None = None) -> None:
        self.handler = handler
        self.requests: list[tuple[bytes, bytes]] = []  # (request head, body)
        self.connections = 0
        self.stop = threading.Event()
        self.closed = threading.Event()
        self._listener = socket.socket()
        if rcvbuf:  # before listen() so accepted sockets inherit a small window
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept_loop, daemon=True)
        self._accepter.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/collect"

    def _accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(SERVER_IO_TIMEOUT)
            self.connections += 1
            self._open.append(conn)
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self)
        except OSError:
            pass
        finally:
            conn.close()
            self.closed.set()

    def shutdown(self) -> None:
        self.stop.set()
        self._accepter.join(2)
        self._listener.close()
        for conn in self._open:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for worker in self._threads:
            worker.join(2)


@pytest.fixture
def serve():
    servers: list[RawServer] = []

    def start(handler: HandlerFn, rcvbuf: int | None = None) -> RawServer:
        server = RawServer(handler, rcvbuf)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()


# --------------------------------------------------------------------------- handlers


def read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    """Read up to the blank line; returns (head, bytes already read past it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def read_request(conn: socket.socket) -> tuple[bytes, bytes]:
    head, body = read_head(conn)
    wanted = content_length(head)
    while len(body) < wanted:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client closed mid-body")
        body += chunk
    return head, body


def response(status: str, body: bytes, *extra: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def keep_alive_ok(conn: socket.socket, server: RawServer) -> None:
    """Records every request and answers 200 with a small JSON body, keep-alive."""
    while True:
        try:
            head, body = read_request(conn)
        except ConnectionError:
            return
        server.requests.append((head, body))
        conn.sendall(response("200 OK", b'{"ok": true}', "Content-Type: application/json"))


def ok_then_idle_close(conn: socket.socket, server: RawServer) -> None:
    """Answers one request as keep-alive, then closes as an idle timeout would."""
    server.requests.append(read_request(conn))
    conn.sendall(response("200 OK", b"first"))


def stop_listening(server: RawServer) -> None:
    """Refuse new connections from now on, as a process that exited would."""
    server.stop.set()
    try:
        server._listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); the port is closed
    except OSError:
        pass
    server._listener.close()


def ok_then_drop_the_next(conn: socket.socket, server: RawServer) -> None:
    """Keep-alive for one request; the next one, on the same connection, is read and
    dropped unanswered (a server closing at the moment the request arrives)."""
    if server.connections == 1:
        server.requests.append(read_request(conn))
        conn.sendall(response("200 OK", b"first"))
        read_request(conn)
        return
    keep_alive_ok(conn, server)


def ok_then_die_on_the_next(conn: socket.socket, server: RawServer) -> None:
    """Keep-alive for one request; the next one takes the whole server down."""
    server.requests.append(read_request(conn))
    conn.sendall(response("200 OK", b"first"))
    read_request(conn)
    stop_listening(server)


def ok_then_die(conn: socket.socket, server: RawServer) -> None:
    """Answers one request, then the whole server goes away while the client is idle."""
    server.requests.append(read_request(conn))
    conn.sendall(response("200 OK", b"first"))
    stop_listening(server)


def chunked_empty_ok_from_a_proxy(conn: socket.socket, server: RawServer) -> None:
    """An empty 200 sent chunked, with the proxy's Server header and its backend's, keep-alive."""
    while True:
        try:
            server.requests.append(read_request(conn))
        except ConnectionError:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nServer: Caddy\r\nServer: BaseHTTP/0.6\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")


def huge_body(conn: socket.socket, server: RawServer) -> None:
    read_request(conn)
    body = b"x" * (1024 * 1024)
    try:
        conn.sendall(response("200 OK", body))
    except OSError:
        pass  # the client stops reading at its cap and drops the connection


def answer_413_and_close(conn: socket.socket, server: RawServer) -> None:
    read_head(conn)
    conn.sendall(response("413 Request Entity Too Large", b"too large", "Connection: close"))
    # Plain close with the body unread: the kernel resets the connection.


def answer_413_then_drain(conn: socket.socket, server: RawServer) -> None:
    head, _ = read_head(conn)
    conn.sendall(response("413 Request Entity Too Large", b"too large", "Connection: close"))
    conn.shutdown(socket.SHUT_WR)
    while conn.recv(65536):  # like nginx's lingering close
        pass


def never_answer(conn: socket.socket, server: RawServer) -> None:
    server.stop.wait(SERVER_IO_TIMEOUT)


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def reset_on_accept(conn: socket.socket, server: RawServer) -> None:
    reset(conn)


def reset_after_head(conn: socket.socket, server: RawServer) -> None:
    read_head(conn)
    reset(conn)


def drip(conn: socket.socket, server: RawServer) -> None:
    while not server.stop.wait(0.2):
        conn.sendall(b"H")


# --------------------------------------------------------------------------- early answers

BIG_BODY = b"e" * (4 * 1024 * 1024)


@pytest.mark.parametrize("handler", [answer_413_and_close, answer_413_then_drain])
def test_early_413_is_read_before_the_upload_finishes(serve, handler):
    server = serve(handler, rcvbuf=4096)
    with Client(server.endpoint, timeout=5) as client:
        ex = client.send(body=BIG_BODY, headers=[("Content-Type", "application/json")], case="big")
    assert ex.outcome == "answered", ex
    assert ex.status == 413
    assert ex.early_answer is True
    assert ex.response_body == b"too large"
    assert ex.elapsed < 3


def test_connection_is_not_reused_after_an_early_answer(serve):
    server = serve(answer_413_then_drain)
    with Client(server.endpoint, timeout=5) as client:
        first = client.send(body=BIG_BODY)
        assert client._conn is None, "the half-sent connection must be dropped"
    assert first.status == 413


# --------------------------------------------------------------------------- failures


def test_silent_server_times_out_at_the_deadline(serve):
    server = serve(never_answer)
    with Client(server.endpoint, timeout=0.5) as client:
        ex = client.send(body=b"{}")
    assert ex.outcome == "timeout"
    assert ex.status is None
    assert 0.45 <= ex.elapsed < 1.0


def test_per_call_timeout_overrides_the_client_default(serve):
    server = serve(never_answer)
    with Client(server.endpoint, timeout=30) as client:
        ex = client.send(body=b"{}", timeout=0.3)
    assert ex.outcome == "timeout"
    assert ex.elapsed < 0.8


def test_dripping_server_ends_at_the_deadline(serve):
    server = serve(drip)
    with Client(server.endpoint, timeout=0.7) as client:
        ex = client.send(body=b"{}")
    assert ex.outcome == "timeout", ex
    assert ex.elapsed < 1.2


@pytest.mark.parametrize("handler", [reset_on_accept, reset_after_head])
def test_reset_is_reported_as_reset(serve, handler):
    server = serve(handler)
    with Client(server.endpoint, timeout=2) as client:
        ex = client.send(body=b'{"a": 1}')
    assert ex.outcome == "reset", ex
    assert ex.status is None and not ex.retried
    assert ex.detail


def test_closed_port_is_refused(closed_port: int):
    port = closed_port
    with Client(f"http://127.0.0.1:{port}/collect", timeout=2) as client:
        ex = client.send(body=b"{}")
    assert ex.outcome == "refused"
    assert f"127.0.0.1:{port}" in ex.detail
    assert set(OUTCOMES) == {"answered", "timeout", "refused", "reset"}


@pytest.mark.parametrize(
    "endpoint", ["127.0.0.1:8080/collect", "ftp://127.0.0.1/collect", "http:///collect", "http://h:99999/x"]
)
def test_malformed_endpoint_is_a_clear_value_error(endpoint):
    with pytest.raises(ValueError, match="endpoint"):
        Client(endpoint)


# --------------------------------------------------------------------------- exact requests


def test_sends_exactly_what_it_is_given(serve):
    server = serve(keep_alive_ok)
    query = "appId=a&platform=Web&x=%zz&x=1"
    body = b'[{"event_type":"click"}]'
    given = [("Content-Type", "application/json"), ("x-lower-case", "Value With  Spaces")]
    with Client(server.endpoint, timeout=2) as client:
        ex = client.send("POST", query=query, body=body, headers=given, case="exact")
    head, received = server.requests[0]
    expected = (
        f"POST /collect?{query} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/json\r\n"
        "x-lower-case: Value With  Spaces\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Conformance-Case: exact\r\n\r\n"
    ).encode()
    assert head == expected
    assert received == body
    assert ex.url == f"http://127.0.0.1:{server.port}/collect?{query}"
    assert ex.request_headers == [tuple(line.split(": ", 1)) for line in expected.decode().split("\r\n")[1:-2]]


def _floor_module():
    """benchmarks/floor.py, which is a script and not a package module."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "floor.py"
    spec = importlib.util.spec_from_file_location("floor_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recorded_requests_rebuild_the_exact_bytes_sent(serve, tmp_path, monkeypatch):
    """The floor benchmark replays what the client recorded: it must be what went out."""
    server = serve(keep_alive_ok)
    record = tmp_path / "requests.jsonl"
    monkeypatch.setenv("CONFORMANCE_RECORD_REQUESTS", str(record))
    with Client(server.endpoint, timeout=2) as client:
        client.send("POST", query="appId=a&x=%zz&é=1", body=bytes(range(256)),
                    headers=[("Content-Type", "application/json"), ("X-Empty", "")], case="recorded")
        client.send("GET", path="/other", headers=[("Host", "example.test")])
        with pytest.raises(ValueError):  # http.client refuses it: it never goes out
            client.send("POST", query="appId=a", headers=[("X-Bad", "a\nb")])
    rebuilt = _floor_module().load_requests(record)
    assert [method for method, _ in rebuilt] == ["POST", "GET"]
    assert [data for _, data in rebuilt] == [head + body for head, body in server.requests]


def test_nothing_is_recorded_by_default(serve, tmp_path, monkeypatch):
    monkeypatch.delenv("CONFORMANCE_RECORD_REQUESTS", raising=False)
    monkeypatch.chdir(tmp_path)
    server = serve(keep_alive_ok)
    with Client(server.endpoint, timeout=2) as client:
        client.send("POST", query="appId=a", body=b"[]")
    assert list(tmp_path.iterdir()) == []


def test_empty_post_sends_content_length_zero_and_get_sends_none(serve):
    server = serve(keep_alive_ok)
    with Client(server.endpoint, timeout=2) as client:
        client.send("POST", query="")
        client.send("GET", path="/other", headers=[("Host", "example.test")])
    post_head, get_head = (head for head, _ in server.requests)
    assert post_head == f"POST /collect? HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: 0\r\n\r\n".encode()
    assert get_head == b"GET /other HTTP/1.1\r\nHost: example.test\r\n\r\n"


def test_an_empty_chunked_200_with_two_server_headers_is_an_empty_success(serve):
    server = serve(chunked_empty_ok_from_a_proxy)
    with Client(server.endpoint, timeout=2) as client:
        answers = [client.send(body=b"[]") for _ in range(2)]
    for ex in answers:
        assert ex.status == 200 and ex.response_body_size == 0 and not ex.detail, ex
        assert [v for n, v in ex.response_headers if n == "Server"] == ["Caddy", "BaseHTTP/0.6"]
        expect_empty_success_body(ex)
    assert server.connections == 1, "the chunked framing keeps the connection usable"


def test_keep_alive_reuses_one_connection(serve):
    server = serve(keep_alive_ok)
    with Client(server.endpoint, timeout=2) as client:
        first = client.send(query="appId=a", body=b"{}")
        second = client.send(query="appId=b", body=b"{}")
    assert first.status == second.status == 200
    assert server.connections == 1
    assert len(server.requests) == 2


def test_connection_closed_while_idle_is_replaced_before_sending(serve):
    server = serve(ok_then_idle_close)
    with Client(server.endpoint, timeout=2) as client:
        first = client.send(body=b"{}")
        assert server.closed.wait(2)
        time.sleep(0.05)  # let the FIN reach the client socket
        second = client.send(body=b"{}")
    assert first.status == 200 and not first.retried
    assert second.outcome == "answered", second
    assert second.status == 200 and not second.retried, "the request went out once"
    assert server.connections == 2


def test_connection_closed_as_the_request_went_out_is_retried_once(serve):
    server = serve(ok_then_drop_the_next)
    with Client(server.endpoint, timeout=2) as client:
        first = client.send(body=b"{}")
        second = client.send(body=b"{}")
    assert first.status == 200 and not first.retried
    assert second.outcome == "answered" and second.status == 200 and second.retried, second
    assert server.connections == 2


def test_a_collector_that_dies_on_a_kept_alive_request_is_a_reset_not_a_refusal(serve):
    """The retry finds the port closed: this request took the collector down."""
    server = serve(ok_then_die_on_the_next)
    with Client(server.endpoint, timeout=2) as client:
        client.send(body=b"{}")
        second = client.send(body=b"fatal")
    assert second.outcome == "reset" and second.retried, second
    assert "went away while handling this request" in second.detail


def test_a_collector_down_before_the_request_is_a_refusal(serve):
    server = serve(ok_then_die)
    with Client(server.endpoint, timeout=2) as client:
        client.send(body=b"{}")
        assert server.closed.wait(2)
        time.sleep(0.05)  # let the FIN reach the client socket
        second = client.send(body=b"{}")
    assert second.outcome == "refused" and not second.retried, second


def test_fresh_connection_is_never_retried(serve):
    server = serve(reset_after_head)
    with Client(server.endpoint, timeout=2) as client:
        ex = client.send(body=b"{}")
    assert ex.outcome == "reset" and not ex.retried
    assert server.connections == 1


# --------------------------------------------------------------------------- evidence


def test_evidence_fields_and_secret_redaction(serve):
    server = serve(keep_alive_ok)
    secret = "s3cr3t-session-value"
    body = b'{"note":"' + secret.encode() + b'"}'
    headers = [("Cookie", f"session={secret}; theme=dark")]
    with Client(server.endpoint, timeout=2, secrets=[secret]) as client:
        ex = client.send(query=f"appId=a&token={secret}", body=body, headers=headers, case="evidence")
    assert server.requests[0][0].count(secret.encode()) == 2, "the real values go on the wire"
    assert ex.body_size == len(body)
    assert ex.body_sha256 == hashlib.sha256(body).hexdigest()
    assert ex.status == 200 and ex.reason == "OK" and ex.answered
    assert ex.header("content-type") == "application/json" and ex.header("X-Missing") is None
    assert ex.response_body == b'{"ok": true}' and ex.response_body_size == 12
    assert ex.response_body_excerpt == '{"ok": true}' and not ex.response_truncated
    assert ("Cookie", "session=<redacted>; theme=dark") in ex.request_headers
    assert ex.started_at <= time.time() and ex.elapsed > 0
    record = ex.to_dict()
    text = json.dumps(record)  # JSON-able: no bytes
    assert "response_body" not in record and "_body" not in record
    for rendered in (text, ex.curl(), repr(ex), str(ex)):
        assert secret not in rendered
    assert "session=${CLICKSTREAM_AUTH_COOKIE_VALUE:?" in ex.curl()


def test_cookie_keeps_its_other_crumbs_and_hides_only_the_secret():
    """Two other crumbs around the auth cookie stay as sent in the evidence, the HAR and
    the curl line; the secret is hidden everywhere, and the curl line names it by the
    variable the README gives."""
    from conformance.wire.exchange import AUTH_COOKIE_ENV, EvidenceBuilder
    from conformance.wire.har import HarLog
    secret = "s3cr3t-session-value"
    ex = EvidenceBuilder([secret]).request(
        case="crumbs", method="POST", url="http://127.0.0.1:9/collect?appId=a",
        headers=[("Cookie", f"_ga=GA1.1.5; session={secret}; theme=dark")], body=b"[]", auto_headers=(),
        outcome="answered", detail="", early_answer=False, started_at=time.time())
    assert ex.request_headers == [("Cookie", "_ga=GA1.1.5; session=<redacted>; theme=dark")]
    curl = ex.curl()
    assert f'"Cookie: _ga=GA1.1.5; session=${{{AUTH_COOKIE_ENV}:?' in curl and '}; theme=dark" ' in curl
    har = json.dumps(HarLog(secrets=[secret]).entry(ex))
    for rendered in (json.dumps(ex.to_dict()), curl, har):
        assert secret not in rendered
    cookies = json.loads(har)["request"]["cookies"]
    assert {"name": "theme", "value": "dark"} in cookies and {"name": "_ga", "value": "GA1.1.5"} in cookies


def test_curl_line_with_the_cookie_variable_replays_against_the_reference(tmp_path):
    """The curl line of a request with the auth cookie, run by a shell with the variable
    set, gets 200 from the reference collector (--auth-cookie); without it, the shell
    stops with the variable's name and sends nothing."""
    from conformance.collector.server import CollectorConfig, RunningCollector
    from conformance.wire.exchange import AUTH_COOKIE_ENV
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    secret = "r3play-s3cret"
    config = CollectorConfig(app_ids=("shop_dev",), auth_cookie=("cs_session", secret),
                             db_path=str(tmp_path / "c.sqlite3"))
    event = {"event_type": "conformance_check", "event_id": "9f0c3a52-1b1e-4a55-8d1a-0c6a4b1f3c21",
             "timestamp": int(time.time() * 1000), "app_id": "shop_dev"}
    with RunningCollector(config) as collector:
        with Client(collector.url, timeout=5, secrets=[secret]) as client:
            ex = client.send(query="appId=shop_dev&platform=Web", body=json.dumps([event]).encode(),
                             headers=[("Content-Type", "application/json"),
                                      ("Cookie", f"_ga=GA1.1.5; cs_session={secret}; theme=dark")], case="replay")
        assert secret not in ex.curl()
        env = {"PATH": "/usr/bin:/bin"}
        replayed = subprocess.run(["sh", "-c", ex.curl()], env={**env, AUTH_COOKIE_ENV: secret},
                                  capture_output=True, text=True, timeout=20)
        unset = subprocess.run(["sh", "-c", ex.curl()], env=env, capture_output=True, text=True, timeout=20)
    assert ex.status == 200, ex
    status_line = replayed.stdout.split("\r\n", 1)[0]
    assert replayed.returncode == 0 and status_line.split()[1:2] == ["200"], (replayed.stdout, replayed.stderr)
    assert unset.returncode != 0 and AUTH_COOKIE_ENV in unset.stderr and not unset.stdout, unset


def test_body_excerpt_is_short_and_lenient(serve):
    server = serve(keep_alive_ok)
    body = b"\xff" + b"a" * 1000
    with Client(server.endpoint, timeout=2) as client:
        ex = client.send(body=body)
    assert ex.body_excerpt.startswith("\\xffaaa") and len(ex.body_excerpt) <= 200
    assert ex.body_size == 1001


def test_stalled_response_body_keeps_the_status_and_says_why(serve):
    def headers_then_stall(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        server.stop.wait(SERVER_IO_TIMEOUT)

    server = serve(headers_then_stall)
    with Client(server.endpoint, timeout=0.5) as client:
        ex = client.send(body=b"{}")
    assert ex.outcome == "answered" and ex.status == 200  # a status line was read
    assert ex.response_body == b"abc"
    assert "timed out reading the response body" in ex.detail
    assert ex.elapsed < 1.0


def test_response_body_is_capped(serve):
    server = serve(huge_body)
    with Client(server.endpoint, timeout=3) as client:
        ex = client.send("GET")
        assert client._conn is None, "unread bytes remain, so the connection is dropped"
    assert ex.status == 200
    assert ex.response_truncated is True
    assert ex.response_body_size == len(ex.response_body) == 64 * 1024
    assert len(ex.response_body_excerpt) <= 500


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_command_reproduces_the_request(serve):
    server = serve(keep_alive_ok)
    query = "appId=a&platform=Web&x=%zz&x=1&l=[1]"
    body = b"[{\"event\": \"it's quoted\"}]\n"
    with Client(server.endpoint, timeout=2) as client:
        ex = client.send(query=query, body=body, headers=[("Content-Type", "application/json"), ("X-Empty", "")], case="curl me")
    command = ex.curl()
    assert "--data-binary" in command
    result = subprocess.run(command, shell=True, capture_output=True, timeout=5)
    assert result.returncode == 0, result.stderr
    (client_head, client_body), (curl_head, curl_body) = server.requests

    def parsed(head: bytes) -> tuple[bytes, list[bytes]]:
        request_line, *lines = head.split(b"\r\n")[:-2]
        return request_line, sorted(line.lower().rstrip() for line in lines)  # "X-Empty: " == "X-Empty:"

    assert parsed(curl_head) == parsed(client_head)
    assert curl_body == client_body


def test_curl_refers_to_a_body_file_for_binary_bodies():
    ex = Exchange("bin case", "POST", "http://h/collect", [("Host", "h")], 3, "ab", "", _body=b"\x00\x01\x02")
    command = ex.curl()
    assert "--data-binary @bin_case.body" in command
    assert "not included" in command


# --------------------------------------------------------------------------- probe


def test_probe_reachable(serve):
    server = serve(keep_alive_ok)
    assert probe(server.endpoint, timeout=2) is None
    assert server.requests[0][0].startswith(b"GET /collect HTTP/1.1\r\n")


def test_probe_refused(closed_port: int):
    port = closed_port
    assert probe(f"http://127.0.0.1:{port}/collect", timeout=1) == f"connection refused by 127.0.0.1:{port}"


def test_probe_silent_server_is_bounded(serve):
    server = serve(never_answer)
    start = time.monotonic()
    reason = probe(server.endpoint, timeout=0.4)
    assert reason is not None and reason.startswith("no answer within 0.4 s")
    assert time.monotonic() - start < 1.0


def test_probe_malformed_endpoint():
    assert probe("nonsense", timeout=1).startswith("invalid endpoint")
