"""A pass-through collector built from Debian's nginx, like the deployed ingestion server.

nginx checks the path and the appId (as the load balancer's rules do), enforces its
default ``client_max_body_size 1m`` (1,048,576 bytes as sent), and proxies /collect to a
sink that reads the body and answers 200 with an empty body, whatever it is. It never
parses the body: malformed JSON, corrupt gzip, a wrong hashCode all get 200, exactly as
real-world.md describes the deployed server. A suite that fails this collector is wrong.

Everything nginx writes (pid, logs, request-body temp files) stays in a temp directory;
it runs in the foreground (``daemon off``) as our child and listens on 127.0.0.1 only.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

APP_ID = "shop_dev"
NGINX_FALLBACK = "/usr/sbin/nginx"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return NGINX_FALLBACK if os.access(NGINX_FALLBACK, os.X_OK) else None


# =============================================================================
# The sink behind nginx: reads the body, answers 200 with nothing
# =============================================================================

class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so nginx's upstream keepalive works

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def handle_any(self) -> None:
        self._read_body()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _read_body(self) -> None:
        # nginx buffers the whole request (proxy_request_buffering on), so it always
        # sends a Content-Length; chunked bodies are not expected here.
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def __getattr__(self, name: str):  # every method, standard or not, answered alike
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)


class Sink:
    """The ThreadingHTTPServer on 127.0.0.1, port 0, in a background thread."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), SinkHandler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="nginx-sink", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self) -> "Sink":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# =============================================================================
# nginx
# =============================================================================

# One JSON line per request, like the deployed server's record (the body string in
# "data", the URI, appId, compression...): what Vector would read from nginx.
RECORD_FIELDS = {"data": "$request_body", "uri": "$request_uri", "appId": "$arg_appId",
                 "compression": "$arg_compression", "platform": "$arg_platform", "ip": "$remote_addr",
                 "ua": "$http_user_agent", "rid": "$request_id", "ingest_time": "$msec", "method": "$request_method"}
RECORD_FORMAT = "'{" + ",".join(f'"{name}":"{value}"' for name, value in RECORD_FIELDS.items()) + "}'"


def nginx_conf(workdir: Path, port: int, sink_port: int, app_id: str = APP_ID,
               record_log: Path | None = None) -> str:
    """The pass-through's config. With ``record_log``, every request to /collect is also
    written there as a JSON request record (the body stays in memory for that:
    $request_body is empty once a body spills to a temp file)."""
    temp_paths = "\n".join(f"    {name}_temp_path {workdir / (name + '_temp')};" for name in TEMP_DIRS)
    records = "" if record_log is None else f"""
    log_format clickstream_record escape=json {RECORD_FORMAT};
    client_body_buffer_size 1m;
    client_body_in_single_buffer on;"""
    record_here = "" if record_log is None else f"access_log {record_log} clickstream_record;"
    # Workers need to write request bodies into the temp dir we own; as root nginx
    # would otherwise switch them to nobody.
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
daemon off;
worker_processes 1;
pid {workdir / 'nginx.pid'};
error_log {workdir / 'error.log'} info;

events {{
    worker_connections 256;
}}

http {{
    access_log {workdir / 'access.log'};
{temp_paths}
    client_max_body_size 1m;          # nginx's default, written out: 1,048,576 bytes as sent
    default_type text/plain;{records}

    # The load balancer's appId rule (an allow-list; $arg_ matches the name in any case).
    map $arg_appId $app_allowed {{
        default  0;
        {app_id}  1;
    }}

    upstream sink {{
        server 127.0.0.1:{sink_port};
        keepalive 8;
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;

        location = /collect {{
            if ($app_allowed = 0) {{
                return 403 "DefaultAction: Invalid request\\n";
            }}
            proxy_pass http://sink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_request_buffering on;   # the whole body is read (and size-checked) first
            proxy_read_timeout 30s;
            {record_here}
        }}

        location / {{
            return 403 "DefaultAction: Invalid request\\n";
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within {timeout} s")


@dataclass
class NginxPassthrough:
    url: str
    workdir: Path
    process: subprocess.Popen

    @property
    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def problems_in_error_log(self) -> list[str]:
        """Lines at [error] or worse (client-side noise such as 413s is logged at [error]
        too, so callers show these as evidence rather than assert on them)."""
        levels = ("[error]", "[crit]", "[alert]", "[emerg]")
        return [line for line in self.error_log.splitlines() if any(lv in line for lv in levels)]


def start_nginx(nginx: str, workdir: Path, sink_port: int, record_log: Path | None = None) -> NginxPassthrough:
    for name in TEMP_DIRS:
        (workdir / f"{name}_temp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(nginx_conf(workdir, port, sink_port, record_log=record_log))
    check = subprocess.run([nginx, "-t", "-p", str(workdir), "-c", str(conf)],
                           capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t refused the config:\n{check.stderr}")
    process = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(conf)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_listening(port, process)
    except RuntimeError as exc:
        stop_nginx(process)
        log = (workdir / "error.log").read_text(errors="replace") if (workdir / "error.log").exists() else ""
        raise RuntimeError(f"{exc}\nerror.log:\n{log[-3000:]}") from None
    return NginxPassthrough(f"http://127.0.0.1:{port}/collect", workdir, process)


def stop_nginx(process: subprocess.Popen) -> None:
    """Graceful quit (SIGQUIT), then SIGKILL if the master lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stderr is not None:
        process.stderr.close()


def running_nginx(tmp_path: Path, record_log: Path | None = None) -> Iterator[NginxPassthrough]:
    nginx = find_nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx); the pass-through check needs it")
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    with Sink() as sink:
        collector = start_nginx(nginx, workdir, sink.port, record_log)
        try:
            yield collector
        finally:
            stop_nginx(collector.process)


@pytest.fixture
def nginx_collector(tmp_path: Path) -> Iterator[NginxPassthrough]:
    """The nginx pass-through collector on 127.0.0.1; skips when nginx is not installed."""
    yield from running_nginx(tmp_path)


@pytest.fixture
def recording_nginx(tmp_path: Path) -> Iterator[NginxPassthrough]:
    """The same, also writing each request as a JSON record to ``workdir/records.jsonl``
    (read it back with ``--sink jsonl:PATH``)."""
    yield from running_nginx(tmp_path, tmp_path / "nginx" / "records.jsonl")
