"""Real HTTP/2 servers for the h2 profile's self-tests, each TLS with a test CA's certificate:

  * Debian's nginx, ``listen ... ssl http2``, in front of the reference collector (and
    the same without ``http2``: an https server that offers HTTP/1.1 only);
  * Caddy 2 (``tls CERT KEY``, ``reverse_proxy``) in front of the reference collector;
  * a small collector on Go's net/http (``go_collect/main.go``), built once with the
    system's ``go`` into a cache directory and run as its own process (TLS here; the
    network profile's self-tests run it on plain HTTP).

Each is started on a free loopback port and stopped when its context ends, on failure
too; a missing package skips the test with the apt-get line that installs it.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.nginx_passthrough import (
    ServerTLS, find_program, free_port, nginx_listen, nginx_main_conf, nginx_or_skip, nginx_running, stop_server,
    wait_or_stop,
)
from tests.stacks.common import CollectorSetup, ServerProcess, write_config
from tests.tls_certs import Certs

GO_SOURCE = Path(__file__).with_name("go_collect") / "main.go"
CADDY_FALLBACK = "/usr/bin/caddy"
GO_FALLBACK = "/usr/bin/go"
BUILD_TIMEOUT = 300


@dataclass
class Front:
    """A TLS server before a backend: its URL, process and the log to show on failure."""

    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


# --- nginx -------------------------------------------------------------------------------
def nginx_tls_conf(workdir: Path, port: int, backend_port: int, certs: Certs, http2: bool) -> str:
    return nginx_main_conf(workdir, f"""
    client_max_body_size 1m;
    upstream collector {{
        server 127.0.0.1:{backend_port};
        keepalive 16;
    }}
    server {{
        {nginx_listen(port, ServerTLS(certs.cert, certs.key), http2=http2)}
        location / {{
            proxy_pass http://collector;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}""", worker_connections=512)


@contextlib.contextmanager
def nginx_tls(workdir: Path, backend_port: int, certs: Certs, http2: bool = True) -> Iterator[Front]:
    """nginx terminating TLS (with ``http2``, or HTTP/1.1 only) before 127.0.0.1:backend_port."""
    nginx = nginx_or_skip()
    port = free_port()
    with nginx_running(nginx, workdir, nginx_tls_conf(workdir, port, backend_port, certs, http2), port) as process:
        yield Front(f"https://127.0.0.1:{port}/collect", process, workdir / "error.log")


# --- Caddy ---------------------------------------------------------------------------------
def caddyfile(workdir: Path, port: int, backend_port: int, certs: Certs) -> str:
    return f"""{{
    admin off
    auto_https disable_redirects
    http_port {free_port()}
    https_port {port}
    skip_install_trust
    grace_period 1s
    servers {{
        protocols h1 h2
    }}
    storage file_system {workdir / 'storage'}
    log {{
        output file {workdir / 'caddy.log'}
    }}
}}

https://127.0.0.1:{port} {{
    bind 127.0.0.1
    tls {certs.cert} {certs.key}
    reverse_proxy 127.0.0.1:{backend_port}
}}
"""


@contextlib.contextmanager
def caddy_tls(workdir: Path, backend_port: int, certs: Certs) -> Iterator[Front]:
    """Caddy with the test certificate (no ACME, no admin API) before 127.0.0.1:backend_port."""
    caddy = find_program("caddy", CADDY_FALLBACK)
    if caddy is None:
        pytest.skip("Caddy is not installed (apt-get install caddy)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "Caddyfile"
    config.write_text(caddyfile(workdir, port, backend_port, certs))
    # Caddy keeps its state under HOME and the XDG folders: all in the workdir.
    env = {**os.environ, "HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir / "config"),
           "XDG_DATA_HOME": str(workdir / "data")}
    log = workdir / "caddy.out"
    with log.open("wb") as out:
        process = subprocess.Popen([caddy, "run", "--config", str(config), "--adapter", "caddyfile"],
                                   stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    try:
        wait_or_stop(port, process, log)
        yield Front(f"https://127.0.0.1:{port}/collect", process, log)
    finally:
        stop_server(process, signal.SIGTERM)


# --- Go net/http -----------------------------------------------------------------------------
def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clickstream-conformance"


def go_collector_binary(go: str) -> Path:
    """The Go collector, built once per source and Go version into the cache directory
    (its GOCACHE and GOPATH there too; GOPROXY off: the standard library only)."""
    version = subprocess.run([go, "version"], capture_output=True, text=True, timeout=60).stdout.strip()
    key = hashlib.sha256(GO_SOURCE.read_bytes() + version.encode()).hexdigest()[:16]
    root = cache_root() / "go"
    binary = root / "bin" / f"collector-{key}"
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOCACHE": str(root / "cache"), "GOPATH": str(root / "path"), "GO111MODULE": "off",
           "GOPROXY": "off", "GOFLAGS": "", "CGO_ENABLED": "0"}
    partial = binary.with_suffix(f".{os.getpid()}.tmp")
    done = subprocess.run([go, "build", "-o", str(partial), str(GO_SOURCE)], capture_output=True, text=True,
                          env=env, cwd=GO_SOURCE.parent, timeout=BUILD_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"go build failed:\n{done.stderr[-3000:]}")
    partial.replace(binary)  # atomic: a parallel build never leaves half a binary
    return binary


def go_binary_or_skip() -> Path:
    """The built Go collector; skips the test when Go is not installed."""
    go = find_program("go", GO_FALLBACK)
    if go is None:
        pytest.skip("Go is not installed (apt-get install golang-go)")
    return go_collector_binary(go)


@contextlib.contextmanager
def go_collector(workdir: Path, setup: CollectorSetup, certs: Certs | None = None,
                 binary: Path | None = None) -> Iterator[ServerProcess]:
    """The Go net/http collector on a free port: TLS with ``certs`` (h2 and http/1.1 by
    ALPN), plain HTTP/1.1 without."""
    binary = binary or go_binary_or_skip()
    workdir.mkdir(parents=True, exist_ok=True)
    write_config(workdir / "collector.json", setup)
    port = free_port()
    log = workdir / "go.log"
    tls = [str(certs.cert), str(certs.key)] if certs else []
    with log.open("wb") as out:
        process = subprocess.Popen([str(binary), f"127.0.0.1:{port}", str(workdir / "collector.json"), *tls],
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_or_stop(port, process, log)
        yield ServerProcess(f"{'https' if certs else 'http'}://127.0.0.1:{port}/collect", workdir, process, log)
    finally:
        stop_server(process, signal.SIGTERM)
