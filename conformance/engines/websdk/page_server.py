"""The cross-origin page, served for real: a loopback HTTP(S) server for ``--origin``.

Playwright answers a CORS preflight itself once any request route is set, so a page
served through routing never lets the browser see the collector's answer to it. The
cross-origin scenario therefore loads its page from this server, with no routing at
all: Chromium's ``--host-resolver-rules`` send ``--origin``'s host and port to it, and
the browser does every CORS check on the collector's real answers, as on a shop's site.

For an https origin the server presents a certificate the suite makes for that host
(``cryptography``); Chromium trusts it by its public key, as it trusts a verified
endpoint (``--ignore-certificate-errors-spki-list``). The server binds 127.0.0.1 on a
free port, serves exactly two paths (the page and the SDK bundle), gives every
connection a timeout, and is stopped by ``close()``.
"""
from __future__ import annotations

import ipaddress
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
CONNECTION_TIMEOUT_S = 10.0   # a connection idle (or a handshake stalled) this long is dropped
CLOSE_TIMEOUT_S = 5.0
CERT_DAYS = 2


class PageServerError(Exception):
    """The page server could not start; the message says why."""


def default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def resolver_rule(origin: str, port: int) -> str:
    """The ``--host-resolver-rules`` entry that sends the origin's host and port (and only
    those: the collector may share the host) to the page server on loopback."""
    parts = urlsplit(origin)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    return f"MAP {shown}:{parts.port or default_port(parts.scheme)} {LOOPBACK}:{port}"


class PageServer:
    """Serves ``files`` (path -> (content type, body)) at ``origin``'s paths, on loopback."""

    def __init__(self, origin: str, files: dict[str, tuple[str, bytes]]) -> None:
        self.origin = origin.rstrip("/")
        self.files = dict(files)
        self.spki: str | None = None  # base64 SHA-256 of the certificate's key (https only)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise PageServerError("the page server is not running")
        return self._server.server_address[1]

    def resolver_rule(self) -> str:
        return resolver_rule(self.origin, self.port)

    def start(self) -> "PageServer":
        tls = self._tls_context() if urlsplit(self.origin).scheme == "https" else None
        try:
            self._server = _Server((LOOPBACK, 0), _handler(self.files), tls)
        except OSError as exc:
            self.close()
            raise PageServerError(f"could not listen on {LOOPBACK} for the page at {self.origin}: {exc}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="websdk-page-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(CLOSE_TIMEOUT_S)
            self._thread = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> "PageServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tls_context(self) -> ssl.SSLContext:
        """A fresh key and self-signed certificate for the origin's host, kept in a private
        temporary folder only as long as the server runs (ssl loads them from files)."""
        from conformance.wire.tls import spki_sha256
        host = urlsplit(self.origin).hostname or ""
        cert_pem, key_pem, der = self_signed_certificate(host)
        self._folder = tempfile.TemporaryDirectory(prefix="clickstream-page-")
        folder = Path(self._folder.name)
        cert, key = folder / "page.pem", folder / "page.key"
        cert.write_bytes(cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        context.set_alpn_protocols(["http/1.1"])
        self.spki = spki_sha256(der)
        return context


def self_signed_certificate(host: str) -> tuple[bytes, bytes, bytes]:
    """(certificate PEM, key PEM, certificate DER) for ``host``: a P-256 key, the host as
    the subject's name and its only subjectAltName, valid for two days."""
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise PageServerError("an https --origin needs the cryptography package for the page's certificate: "
                              "pip install 'clickstream-conformance[websdk]'") from None
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return (cert.public_bytes(serialization.Encoding.PEM), key_pem,
            cert.public_bytes(serialization.Encoding.DER))


class _Server(ThreadingHTTPServer):
    daemon_threads = True      # a stuck connection never holds up close(); its timeout ends it
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], handler: type, tls: ssl.SSLContext | None) -> None:
        self.tls = tls
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # In the connection's own thread: the TLS handshake too runs under the timeout.
        request.settimeout(CONNECTION_TIMEOUT_S)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser dropping a connection is no news; the page's own record says what mattered


def _handler(files: dict[str, tuple[str, bytes]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one answer per connection, so no idle keep-alive connection lingers.
        protocol_version = "HTTP/1.0"
        timeout = CONNECTION_TIMEOUT_S

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            found = files.get(self.path.split("?", 1)[0])
            if found is None:
                self._answer(404, "text/plain; charset=utf-8", b"not found\n")
            else:
                self._answer(200, *found)

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            pass

    return Handler
