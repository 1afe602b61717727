"""A pass-through collector built from Debian's nginx, like the deployed ingestion server.

nginx checks the path and the appId (as the load balancer's rules do), enforces its
default ``client_max_body_size 1m`` (1,048,576 bytes as sent), and proxies /collect to a
sink that stores every request it gets and answers 200 with an empty body, whatever it
is. It never parses the body: malformed JSON, corrupt gzip, a wrong hashCode all get
200, exactly as real-world.md describes the deployed server. A suite that fails this
collector is wrong.

The sink stores what the deployed server stores per request (``tests/deployed_record.py``:
the body as sent, URI with query, client IP from X-Forwarded-For, User-Agent, nginx's
request id, method, ingest time, appId/platform/compression/upload_timestamp), one JSON
line per request in ``NginxPassthrough.sink_path``, appended, flushed and fsynced under
a lock before the 200 goes out; if it cannot store, it answers 500 (as the deployed
server does when its stream fails). Read it back with ``--sink jsonl:PATH``.

Everything nginx writes (pid, logs, request-body temp files) stays in a temp directory;
it runs in the foreground (``daemon off``) as our child and listens on 127.0.0.1 only.

The nginx pieces here serve every nginx the self-tests and benchmarks start: the config
frame (``nginx_main_conf``), the listen and TLS lines (``nginx_listen``), and starting
it (``launch_nginx``, ``nginx_running``); so do the port and process helpers.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from tests.background import ServedInThread
from tests.deployed_record import RecordFile, deployed_record

APP_ID = "shop_dev"
NGINX_FALLBACK = "/usr/sbin/nginx"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_temp_paths(workdir: Path) -> str:
    """Make nginx's temp folders inside ``workdir`` and return the conf lines that use them
    (``nginx_user`` gives the ``user root;`` that lets the workers write there as root)."""
    for name in TEMP_DIRS:
        (workdir / f"{name}_temp").mkdir(parents=True, exist_ok=True)
    return "\n".join(f"    {name}_temp_path {workdir / (name + '_temp')};" for name in TEMP_DIRS)


def nginx_user() -> str:
    """As root, nginx would switch its workers to nobody, who cannot write our temp dir."""
    return "user root;" if os.geteuid() == 0 else ""


def find_program(name: str, fallback: str) -> str | None:
    """The program on PATH, or at its Debian path (PATH may lack /usr/sbin), or None."""
    found = shutil.which(name)
    if found:
        return found
    return fallback if os.access(fallback, os.X_OK) else None


def find_nginx() -> str | None:
    return find_program("nginx", NGINX_FALLBACK)


def nginx_or_skip() -> str:
    nginx = find_nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return nginx


def nginx_main_conf(workdir: Path, http: str, *, error_level: str = "info", worker_connections: int = 256,
                    access_log: bool = True) -> str:
    """The frame of every nginx config in the self-tests: in the foreground, one worker,
    its pid, logs and temp folders in ``workdir``; ``http`` goes in the http block."""
    access = f"access_log {workdir / 'access.log'};" if access_log else "access_log off;"
    return f"""
{nginx_user()}
daemon off;
worker_processes 1;
pid {workdir / 'nginx.pid'};
error_log {workdir / 'error.log'} {error_level};
events {{ worker_connections {worker_connections}; }}
http {{
    {access}
{nginx_temp_paths(workdir)}
{http}
}}
"""


@dataclass(frozen=True)
class ServerTLS:
    """The certificate a TLS front shows; with ``client_ca``, clients must show one it signed."""

    cert: Path
    key: Path
    client_ca: Path | None = None


def nginx_listen(port: int, tls: ServerTLS | None = None, http2: bool = False, options: str = "") -> str:
    """A server block's listen line on 127.0.0.1, and its ssl lines for a TLS front."""
    flags = "".join(f" {flag}" for flag in ("ssl" if tls else "", "http2" if http2 else "", options) if flag)
    lines = [f"listen 127.0.0.1:{port}{flags};"]
    if tls is not None:
        lines += [f"ssl_certificate {tls.cert};", f"ssl_certificate_key {tls.key};"]
    if tls is not None and tls.client_ca is not None:
        lines += [f"ssl_client_certificate {tls.client_ca};", "ssl_verify_client on;"]
    return "\n        ".join(lines)


# =============================================================================
# The sink behind nginx: stores each request as a JSON line, then answers 200
# =============================================================================

class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so nginx's upstream keepalive works
    server: "SinkServer"

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def handle_any(self) -> None:
        body = self._read_body()
        record = deployed_record(self.command, self.path, body,
                                 forwarded_for=self.headers.get("X-Forwarded-For"),
                                 remote=self.client_address[0], user_agent=self.headers.get("User-Agent"),
                                 rid=self.headers.get("X-Request-ID"))
        try:
            self.server.records.append(record)  # on disk before the answer
        except OSError:
            self._answer(500)
            return
        self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _read_body(self) -> bytes:
        # nginx buffers the whole request (proxy_request_buffering on), so it always
        # sends a Content-Length; chunked bodies are not expected here.
        length = int(self.headers.get("Content-Length") or 0)
        chunks = []
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            length -= len(chunk)
        return b"".join(chunks)

    def __getattr__(self, name: str):  # every method, standard or not, answered alike
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)


class SinkServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, records: RecordFile) -> None:
        super().__init__(("127.0.0.1", 0), SinkHandler)
        self.records = records


class Sink(ServedInThread):
    """The ThreadingHTTPServer on 127.0.0.1, port 0, in a background thread, appending
    to the JSON-lines file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = RecordFile(path)
        try:
            super().__init__(SinkServer(self.records), name="nginx-sink")
        except BaseException:
            self.records.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        super().__exit__(*exc_info)
        self.records.close()


# =============================================================================
# nginx
# =============================================================================

def cors_conf(allow_origin: str | None) -> tuple[str, str, str]:
    """(http-level map, location-level headers, preflight answer) for an allowed web
    origin, as the deployed nginx answers browsers (real-world.md): the preflight gets
    204 with the origin echoed and credentials allowed; 2xx answers carry the same two
    headers. Other origins get no CORS header (nginx leaves out a header whose value
    is empty). Nothing when no origin is allowed."""
    if allow_origin is None:
        return "", "", ""
    http = f"""
    map $http_origin $cors_origin {{
        default  "";
        "{allow_origin}"  $http_origin;
    }}
    map $cors_origin $cors_credentials {{
        default  "true";
        ""  "";
    }}"""
    headers = """
            add_header Access-Control-Allow-Origin $cors_origin;
            add_header Access-Control-Allow-Credentials $cors_credentials;"""
    preflight = """
            if ($request_method = OPTIONS) {
                add_header Access-Control-Allow-Origin $cors_origin;
                add_header Access-Control-Allow-Credentials $cors_credentials;
                add_header Access-Control-Allow-Methods "GET, POST, OPTIONS";
                add_header Access-Control-Allow-Headers "Content-Type";
                return 204;
            }"""
    return http, headers, preflight


def nginx_conf(workdir: Path, port: int, sink_port: int, app_id: str = APP_ID,
               allow_origin: str | None = None, tls: ServerTLS | None = None) -> str:
    cors_map, cors_headers, preflight = cors_conf(allow_origin)
    return nginx_main_conf(workdir, f"""
    client_max_body_size 1m;          # nginx's default, written out: 1,048,576 bytes as sent
    default_type text/plain;

    # The load balancer's appId rule (an allow-list; $arg_ matches the name in any case).
    map $arg_appId $app_allowed {{
        default  0;
        {app_id}  1;
    }}
{cors_map}

    upstream sink {{
        server 127.0.0.1:{sink_port};
        keepalive 8;
    }}

    server {{
        {nginx_listen(port, tls)}
        server_name localhost;

        location = /collect {{
            if ($app_allowed = 0) {{
                return 403 "DefaultAction: Invalid request\\n";
            }}{preflight}{cors_headers}
            proxy_pass http://sink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # What the deployed server keeps per request: the URI as sent goes on
            # unchanged (proxy_pass without a URI), User-Agent with the other headers.
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Request-ID $request_id;
            proxy_request_buffering on;   # the whole body is read (and size-checked) first
            proxy_read_timeout 30s;
        }}

        location / {{
            return 403 "DefaultAction: Invalid request\\n";
        }}
    }}""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{Path(str(process.args[0])).name} exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{Path(str(process.args[0])).name} did not listen on 127.0.0.1:{port} within {timeout} s")


@dataclass
class NginxPassthrough:
    url: str
    workdir: Path
    process: subprocess.Popen
    sink_path: Path | None = None  # the sink's JSON lines: pass --sink jsonl:PATH

    @property
    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def problems_in_error_log(self) -> list[str]:
        """Lines at [error] or worse (client-side noise such as 413s is logged at [error]
        too, so callers show these as evidence rather than assert on them)."""
        levels = ("[error]", "[crit]", "[alert]", "[emerg]")
        return [line for line in self.error_log.splitlines() if any(lv in line for lv in levels)]


def wait_or_stop(port: int, process: subprocess.Popen, log: Path, first: signal.Signals = signal.SIGTERM) -> None:
    """Wait until a server we started listens; if it does not, stop it (``first``, then
    SIGKILL) and raise with the tail of its log."""
    try:
        wait_until_listening(port, process)
    except RuntimeError as exc:
        stop_server(process, first)
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
        raise RuntimeError(f"{exc}\n{log.name}:\n{tail}") from None


def launch_nginx(nginx: str, workdir: Path, conf: str, port: int) -> subprocess.Popen:
    """nginx in the foreground on ``conf`` (written to workdir/nginx.conf), once it listens
    on 127.0.0.1:port; a config nginx -t refuses, or a failed start, raises with nginx's words."""
    path = workdir / "nginx.conf"
    path.write_text(conf)
    check = subprocess.run([nginx, "-t", "-p", str(workdir), "-c", str(path)],
                           capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t refused the config:\n{check.stderr}")
    process = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_or_stop(port, process, workdir / "error.log", signal.SIGQUIT)
    return process


@contextlib.contextmanager
def nginx_running(nginx: str, workdir: Path, conf: str, port: int) -> Iterator[subprocess.Popen]:
    """``launch_nginx``, and nginx told to quit when the context ends, on failure too."""
    process = launch_nginx(nginx, workdir, conf, port)
    try:
        yield process
    finally:
        stop_nginx(process)


def start_nginx(nginx: str, workdir: Path, sink_port: int, sink_path: Path | None = None,
                allow_origin: str | None = None) -> NginxPassthrough:
    port = free_port()
    process = launch_nginx(nginx, workdir, nginx_conf(workdir, port, sink_port, allow_origin=allow_origin), port)
    return NginxPassthrough(f"http://127.0.0.1:{port}/collect", workdir, process, sink_path)


def stop_nginx(process: subprocess.Popen) -> None:
    """Graceful quit (SIGQUIT), then SIGKILL if the master lingers."""
    stop_server(process, signal.SIGQUIT)


def stop_server(process: subprocess.Popen, first: signal.Signals) -> None:
    """Ask a server process to stop with ``first``; SIGKILL if it lingers past 10 s."""
    if process.poll() is None:
        process.send_signal(first)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stderr is not None:
        process.stderr.close()


@contextlib.contextmanager
def running_nginx(tmp_path: Path, allow_origin: str | None = None) -> Iterator[NginxPassthrough]:
    """The nginx pass-through collector on 127.0.0.1 (answering browsers from
    ``allow_origin`` when given); skips when nginx is not installed."""
    nginx = nginx_or_skip()
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    with Sink(workdir / "sink.jsonl") as sink:
        collector = start_nginx(nginx, workdir, sink.port, sink.path, allow_origin=allow_origin)
        try:
            yield collector
        finally:
            stop_nginx(collector.process)


@pytest.fixture
def nginx_collector(tmp_path: Path) -> Iterator[NginxPassthrough]:
    """The nginx pass-through collector on 127.0.0.1; skips when nginx is not installed."""
    with running_nginx(tmp_path) as collector:
        yield collector
