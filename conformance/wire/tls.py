"""How the suite reaches a collector over TLS, and through a proxy.

One place builds the client SSL context and opens the socket, so the HTTP/1.1
evidence client, the HTTP/2 client and the load runner trust the same CA, present
the same client certificate and take the same proxy. Nothing here reads or keeps
a private key beyond handing its path to ``ssl``.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

__all__ = ["TLSOptions", "TLSProblem", "TLS_NOT_VERIFIED", "client_context", "open_socket",
           "options_from", "check_options", "explain", "session_facts", "run_record", "summary"]

TLS_NOT_VERIFIED = "TLS not verified"
PROXY_ENV = ("HTTPS_PROXY", "https_proxy")
# OpenSSL's X509_V_ERR_* codes a user can act on (ssl.SSLCertVerificationError.verify_code).
_UNKNOWN_CA = {2, 18, 19, 20, 21}
_NOT_YET_VALID, _EXPIRED = 9, 10
_HOSTNAME_MISMATCH = {62, 64}  # a host name, an IP address
# What OpenSSL says when the other end answered a ClientHello with something not TLS.
_NOT_TLS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
            "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "WRONG_SSL_VERSION")


class TLSProblem(ValueError):
    """A TLS option that cannot work; the message is the one line the user sees."""


@dataclass(frozen=True)
class TLSOptions:
    """The run's transport options (all off by default: the system trust store)."""

    ca_cert: str | None = None      # a PEM bundle added to the trust store
    client_cert: str | None = None  # mutual TLS: the client's certificate (PEM)
    client_key: str | None = None   # and its key (PEM); None when inside client_cert
    insecure: bool = False          # no verification at all; reports say so in red
    proxy: str | None = None        # http://host:port of an HTTP CONNECT proxy

    @property
    def verified(self) -> bool:
        return not self.insecure

    @property
    def given(self) -> bool:
        """True when any TLS option (not the proxy) was given."""
        return bool(self.ca_cert or self.client_cert or self.client_key or self.insecure)

    def describe(self) -> dict[str, Any]:
        """The options for a report: paths only, never a file's content."""
        return {"ca_cert": self.ca_cert, "client_cert": self.client_cert, "client_key": self.client_key,
                "insecure": self.insecure, "proxy": _proxy_without_password(self.proxy)}


def options_from(ca_cert: str | None = None, client_cert: str | None = None, client_key: str | None = None,
                 insecure: bool = False, proxy: str | None = None, endpoint: str = "",
                 environ: Mapping[str, str] | None = None) -> TLSOptions:
    """The options as given on a command line. Without --proxy, an https endpoint goes
    through $HTTPS_PROXY unless $NO_PROXY names its host (as curl and urllib do)."""
    if proxy is None:
        proxy = _proxy_from_environment(endpoint, os.environ if environ is None else environ)
    return TLSOptions(ca_cert or None, client_cert or None, client_key or None, bool(insecure), proxy or None)


def _proxy_from_environment(endpoint: str, environ: Mapping[str, str]) -> str | None:
    parts = urlsplit(endpoint)
    if parts.scheme != "https" or not parts.hostname:
        return None
    proxy = next((environ[name] for name in PROXY_ENV if environ.get(name)), None)
    if proxy is None:
        return None
    no_proxy = environ.get("NO_PROXY") or environ.get("no_proxy") or ""
    if no_proxy.strip() == "*" or any(_host_matches(parts.hostname, entry.strip())
                                      for entry in no_proxy.split(",") if entry.strip()):
        return None
    return proxy


def _host_matches(host: str, entry: str) -> bool:
    """NO_PROXY's entries: a host, or a domain (with or without a leading dot); a port is ignored."""
    entry = entry.lower().lstrip(".")
    if entry.startswith("[") and "]" in entry:
        entry = entry[1:entry.index("]")]
    elif entry.count(":") == 1:
        entry = entry.split(":")[0]
    host = host.lower()
    return host == entry or host.endswith("." + entry)


def check_options(options: TLSOptions, endpoint: str) -> None:
    """Raise TLSProblem naming the first option that cannot work: a missing or unreadable
    file, a key that is not the certificate's, a proxy that is not http://HOST:PORT, or
    TLS options with an http:// endpoint. Loads every file once, so a run never starts
    only to fail on its first connection."""
    scheme = urlsplit(endpoint).scheme
    if options.given and scheme == "http":
        given = [flag for flag, on in (("--ca-cert", options.ca_cert), ("--client-cert", options.client_cert),
                                       ("--client-key", options.client_key), ("--insecure", options.insecure)) if on]
        verb = "apply" if len(given) > 1 else "applies"
        raise TLSProblem(f"{', '.join(given)} {verb} to TLS, but the endpoint {endpoint} is plain http://; "
                         "use its https:// URL, or leave them out")
    if options.client_key and not options.client_cert:
        raise TLSProblem("--client-key needs --client-cert FILE (the certificate that goes with the key)")
    for flag, path in (("--ca-cert", options.ca_cert), ("--client-cert", options.client_cert),
                       ("--client-key", options.client_key)):
        if path:
            _check_readable(flag, path)
    if options.proxy:
        _check_proxy(options.proxy)
    try:
        client_context(options)
    except ssl.SSLError as exc:
        raise TLSProblem(_load_problem(exc, options)) from None


def _check_readable(flag: str, path: str) -> None:
    if not os.path.exists(path):
        raise TLSProblem(f"{flag} {path}: no such file")
    if os.path.isdir(path):
        raise TLSProblem(f"{flag} {path}: is a directory, not a PEM file")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise TLSProblem(f"{flag} {path}: cannot read it ({exc.strerror or exc})") from None


def _check_proxy(proxy: str) -> None:
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    try:
        parts.port
    except ValueError:
        raise TLSProblem(f"--proxy {_proxy_without_password(proxy)}: bad port") from None
    if parts.scheme != "http" or not parts.hostname:
        raise TLSProblem(f"--proxy must be an HTTP CONNECT proxy like http://127.0.0.1:3128, "
                         f"got {_proxy_without_password(proxy)!r}")


def _load_problem(exc: ssl.SSLError, options: TLSOptions) -> str:
    """One line for a file ssl would not load."""
    reason = exc.reason or ""
    if reason == "KEY_VALUES_MISMATCH":
        return (f"--client-key {options.client_key or options.client_cert} is not the key of "
                f"--client-cert {options.client_cert}")
    if options.ca_cert:
        ca_problem = _loads_as_ca(options.ca_cert)
        if ca_problem is not None:
            return f"--ca-cert {options.ca_cert}: {ca_problem}"
    what = f"--client-cert {options.client_cert}" + (f" / --client-key {options.client_key}" if options.client_key else "")
    if reason == "PEM_LIB":
        return f"{what}: no PEM private key that goes with the certificate found"
    return f"{what}: cannot load the certificate and its key ({reason or exc})"


def _loads_as_ca(path: str) -> str | None:
    """None when ``path`` loads as a CA bundle, else why not."""
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        if exc.reason in ("NO_CERTIFICATE_OR_CRL_FOUND", "NO_START_LINE"):
            return "no PEM certificate in it"
        return f"not a PEM certificate bundle ({exc.reason or exc})"
    return None


def _no_password(path: str) -> Any:
    """An encrypted key must fail at once with one line, not prompt on the terminal."""
    def refuse() -> str:
        raise TLSProblem(f"{path}: the private key is encrypted; give an unencrypted PEM key")
    return refuse


def explain(exc: BaseException, host: str, port: int, options: TLSOptions | None = None) -> str | None:
    """One line for a TLS failure with host:port that says what to pass or fix; None for
    an error that is not TLS's."""
    options = options or TLSOptions()
    where = f"{host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _verify_problem(exc, host, where)
    if not isinstance(exc, ssl.SSLError):
        return None
    reason = exc.reason or ""
    if reason in _NOT_TLS:
        return (f"{where} does not speak TLS (it answered the TLS handshake with something else, "
                "likely plain HTTP): use its http:// URL")
    if "CERTIFICATE_REQUIRED" in reason or (reason.endswith("HANDSHAKE_FAILURE") and not options.client_cert):
        return (f"{where} asks for a client certificate (mutual TLS): pass --client-cert FILE "
                "--client-key FILE")
    if any(alert in reason for alert in ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN",
                                         "CERTIFICATE_EXPIRED", "ACCESS_DENIED")):
        return (f"{where} refused the client certificate {options.client_cert} ({reason}): "
                "give one its client CA signed")
    if isinstance(exc, ssl.SSLEOFError) or "EOF" in reason:
        return (f"{where} closed the connection during the TLS handshake (a plain-HTTP port, or a "
                "server that refuses this client?)")
    return f"TLS with {where} failed: {reason or exc}"


def _verify_problem(exc: ssl.SSLCertVerificationError, host: str, where: str) -> str:
    code, message = exc.verify_code, exc.verify_message or str(exc)
    if code in _UNKNOWN_CA:
        return (f"the server's certificate is not signed by a trusted CA ({message}); "
                "pass --ca-cert FILE (or --insecure)")
    if code == _EXPIRED:
        return (f"the server's certificate at {where} has expired; renew it "
                "(or pass --insecure to test anyway)")
    if code == _NOT_YET_VALID:
        return f"the server's certificate at {where} is not valid yet (check the clocks); or pass --insecure"
    if code in _HOSTNAME_MISMATCH:
        return (f"the server's certificate does not name {host} (hostname mismatch: {message}); "
                "use a host name the certificate holds in --endpoint (or pass --insecure)")
    return f"the server's certificate at {where} failed verification ({message}); or pass --insecure"


def session_facts(sock: socket.socket, options: TLSOptions | None = None) -> dict[str, Any]:
    """What a TLS connection negotiated, for the results (INFO): version, cipher, ALPN,
    and the server certificate's subject, issuer and validity. Nothing secret."""
    if not isinstance(sock, ssl.SSLSocket):
        return {}
    options = options or TLSOptions()
    cipher = sock.cipher() or ("", "", 0)
    facts: dict[str, Any] = {
        "level": "INFO",
        "verified": options.verified,
        "version": sock.version(),
        "cipher": cipher[0],
        "cipher_bits": cipher[2],
        "alpn": sock.selected_alpn_protocol(),
        "client_certificate": bool(options.client_cert),
        "proxy": _proxy_without_password(options.proxy),
    }
    facts["certificate"] = _certificate(sock)
    if not options.verified:
        facts["note"] = TLS_NOT_VERIFIED
    return facts


def _certificate(sock: ssl.SSLSocket) -> dict[str, Any]:
    peer = sock.getpeercert()
    if peer:  # verified: the standard library decoded it
        return {"subject": _name(peer.get("subject", ())), "issuer": _name(peer.get("issuer", ())),
                "not_before": _iso_cert_time(peer.get("notBefore")), "not_after": _iso_cert_time(peer.get("notAfter")),
                "names": [value for kind, value in peer.get("subjectAltName", ()) if kind in ("DNS", "IP Address")]}
    der = sock.getpeercert(binary_form=True)
    return _decode_der(der) if der else {}


def _decode_der(der: bytes) -> dict[str, Any]:
    """An unverified certificate, decoded with cryptography when it is installed."""
    try:
        from cryptography import x509
    except ImportError:
        return {"note": "not decoded (TLS not verified, and the cryptography package is not installed)"}
    cert = x509.load_der_x509_certificate(der)
    try:
        names = [str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
    except x509.ExtensionNotFound:
        names = []
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "not_before": cert.not_valid_before_utc.isoformat(), "not_after": cert.not_valid_after_utc.isoformat(),
            "names": names}


def _name(rdns: Sequence[Sequence[tuple[str, str]]]) -> str:
    return ", ".join(f"{key}={value}" for rdn in rdns for key, value in rdn)


def _iso_cert_time(text: str | None) -> str | None:
    if not text:
        return None
    return dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(text), dt.timezone.utc).isoformat()


def _proxy_without_password(proxy: str | None) -> str | None:
    """A proxy URL for reports: user:password@ dropped."""
    if not proxy:
        return None
    scheme, sep, rest = proxy.rpartition("://")
    host = rest.rpartition("@")[2]
    return f"{scheme}{sep}{host}" if sep else host


def run_record(options: TLSOptions | None, facts: dict[str, Any] | None) -> dict[str, Any] | None:
    """results.json's ``tls``: the options (paths only) and what the probe's connection
    negotiated (INFO); None for a plain-HTTP run without a proxy."""
    options = options or TLSOptions()
    if not facts and not options.given and not options.proxy:
        return None
    record: dict[str, Any] = {"level": "INFO", "verified": options.verified, "options": options.describe()}
    record.update(facts or {})
    if not options.verified:
        record["note"] = TLS_NOT_VERIFIED
    return record


def summary(record: dict[str, Any] | None) -> str | None:
    """One line of what TLS negotiated, for the terminal."""
    if not record or not record.get("version"):
        return None
    cert = record.get("certificate") or {}
    text = f"tls: {record['version']} {record.get('cipher', '')}"
    if record.get("alpn"):
        text += f", ALPN {record['alpn']}"
    if cert.get("subject"):
        text += f"; certificate {cert['subject']}, valid until {cert.get('not_after')}"
    return text + ("" if record.get("verified", True) else f" ({TLS_NOT_VERIFIED})")


def server_spki_sha256(host: str, port: int, timeout: float, options: TLSOptions | None = None) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of the certificate host:port presents, read over
    a connection verified with the run's trust (unless --insecure): what Chromium's
    --ignore-certificate-errors-spki-list takes, so the browser trusts exactly the server
    the suite verified. Raises OSError (ssl errors included) when that connection fails."""
    options = options or TLSOptions()
    with open_socket(host, port, timeout, options, client_context(options)) as sock:
        der = sock.getpeercert(binary_form=True)
    if not der:
        raise OSError(f"{host}:{port} presented no certificate")
    return spki_sha256(der)


def spki_sha256(der: bytes) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of a DER certificate, as Chromium's
    --ignore-certificate-errors-spki-list takes it."""
    import base64
    import hashlib
    return base64.b64encode(hashlib.sha256(spki_of(der)).digest()).decode("ascii")


def spki_of(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo of a DER certificate (RFC 5280 section 4.1): the seventh
    field of tbsCertificate, counting the optional [0] version."""
    _, body, _ = _der_item(der, 0)             # Certificate
    _, offset, _ = _der_item(der, body)        # tbsCertificate
    tag, _, end = _der_item(der, offset)
    if tag == 0xA0:                            # [0] version
        offset = end
    for _ in range(5):                         # serial, signature, issuer, validity, subject
        offset = _der_item(der, offset)[2]
    return der[offset:_der_item(der, offset)[2]]


def _der_item(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, where its content starts, where it ends) of the DER item at ``offset``."""
    tag, length = der[offset], der[offset + 1]
    start = offset + 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(der[start:start + size], "big")
        start += size
    if start + length > len(der):
        raise ValueError("truncated DER certificate")
    return tag, start, start + length


def client_context(options: TLSOptions | None = None,
                   alpn: Sequence[str] = ("http/1.1",)) -> ssl.SSLContext:
    """A client context with the run's trust, client certificate and ALPN list."""
    options = options or TLSOptions()
    context = ssl.create_default_context()
    if options.ca_cert:
        context.load_verify_locations(cafile=options.ca_cert)
    if options.client_cert:
        context.load_cert_chain(options.client_cert, options.client_key,
                                password=_no_password(options.client_key or options.client_cert))
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def open_socket(host: str, port: int, timeout: float, options: TLSOptions | None = None,
                context: ssl.SSLContext | None = None) -> socket.socket:
    """A connected socket to host:port, through the proxy when one is set, wrapped in
    TLS when ``context`` is given. Raises OSError (ssl.SSLError included) on failure."""
    deadline = time.monotonic() + timeout
    options = options or TLSOptions()
    if options.proxy:
        sock = _proxy_tunnel(options.proxy, host, port, deadline)
    else:
        sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if context is not None:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock = context.wrap_socket(sock, server_hostname=host)
        return sock
    except BaseException:
        sock.close()
        raise


DEFAULT_PROXY_PORT = 8080


def proxy_address(proxy: str) -> tuple[str, int]:
    """(host, port) of an http://HOST[:PORT] proxy (HOST:PORT alone too), port 8080 when it
    names none: where the suite's wire and the clients profile's programs connect alike."""
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    if parts.scheme != "http" or not parts.hostname:
        raise OSError(f"unsupported proxy {proxy!r}: only http://HOST:PORT (CONNECT) is supported")
    return parts.hostname, parts.port or DEFAULT_PROXY_PORT


def _proxy_tunnel(proxy: str, host: str, port: int, deadline: float) -> socket.socket:
    """An HTTP CONNECT tunnel to host:port through ``proxy`` (http://HOST:PORT)."""
    sock = socket.create_connection(proxy_address(proxy), timeout=max(deadline - time.monotonic(), 0.001))
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("ascii"))
        head = b""
        while b"\r\n\r\n" not in head:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError(f"proxy {proxy} closed the connection during CONNECT")
            head += chunk
            if len(head) > 65536:
                raise OSError(f"proxy {proxy} sent an over-long CONNECT answer")
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[1].startswith("2"):
            raise OSError(f"proxy {proxy} refused CONNECT to {authority}: {status_line}")
        return sock
    except BaseException:
        sock.close()
        raise
