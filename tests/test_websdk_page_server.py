"""The cross-origin page's loopback server: what it serves, its certificate, its stop.

No browser here (tests/test_websdk_profile.py drives Chromium through it): plain HTTP(S)
requests to 127.0.0.1 check the paths, the https certificate's name and SPKI, and that
close() really stops listening.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time

import pytest

from conformance.engines.websdk.page_server import CONNECTION_TIMEOUT_S, PageServer, resolver_rule
from conformance.wire.tls import spki_sha256

FILES = {"/p/page.html": ("text/html; charset=utf-8", b"<p>page</p>"),
         "/p/sdk.js": ("text/javascript", b"window.sdk = 1;")}


def _get(server: PageServer, path: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    if context is None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    else:
        connection = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=context)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(("origin", "rule"), [
    ("http://shop.example:8124", "MAP shop.example:8124 127.0.0.1:"),
    ("https://shop.example", "MAP shop.example:443 127.0.0.1:"),
    ("http://127.0.0.1:8124", "MAP 127.0.0.1:8124 127.0.0.1:"),
    ("http://[::1]:8124", "MAP [::1]:8124 127.0.0.1:"),
])
def test_the_rule_maps_only_the_origins_host_and_port(origin: str, rule: str) -> None:
    assert resolver_rule(origin, 40123) == rule + "40123"


def test_serves_the_two_files_and_nothing_else_then_stops() -> None:
    with PageServer("http://shop.example:8124", FILES) as server:
        port = server.port
        assert _get(server, "/p/page.html") == (200, b"<p>page</p>")
        assert _get(server, "/p/sdk.js?v=1") == (200, b"window.sdk = 1;")
        assert _get(server, "/collect")[0] == 404
        assert server.spki is None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_an_https_origin_gets_a_certificate_for_its_host_trusted_by_spki() -> None:
    with PageServer("https://shop.example", FILES) as server:
        context = ssl.create_default_context()
        with pytest.raises(ssl.SSLCertVerificationError):  # self-signed: only its key is trusted
            _get(server, "/p/page.html", context)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="shop.example") as tls:
            der = tls.getpeercert(binary_form=True)
        assert der and spki_sha256(der) == server.spki
        from cryptography import x509
        names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert names.value.get_values_for_type(x509.DNSName) == ["shop.example"]
        assert _get(server, "/p/page.html", context) == (200, b"<p>page</p>")


def test_a_silent_connection_does_not_hold_up_close() -> None:
    """A hang check, not a speed goal: close() must not wait for the connection's timeout."""
    server = PageServer("https://shop.example", FILES).start()
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=5)  # never starts its handshake
    try:
        time.sleep(0.3)  # the server has accepted it and is waiting on the handshake
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < CONNECTION_TIMEOUT_S / 2
    finally:
        silent.close()


def test_an_origin_on_the_endpoints_own_host_and_port_is_a_usage_error(tmp_path) -> None:
    """Chromium would resolve the endpoint itself to the page server: refused before any case."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "conformance.cases",
                           "--endpoint", "http://127.0.0.1:8124/collect", "--app-id", "x",
                           "--origin", "http://127.0.0.1:8124", "--profile", "websdk"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "is the endpoint's own host and port" in done.stderr and "http://127.0.0.1:8125" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
