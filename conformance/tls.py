"""How the suite reaches a collector over TLS, and through a proxy.

One place builds the client SSL context and opens the socket, so the HTTP/1.1
evidence client, the HTTP/2 client and the load runner trust the same CA, present
the same client certificate and take the same proxy. Nothing here reads or keeps
a private key beyond handing its path to ``ssl``.
"""
from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from typing import Sequence

__all__ = ["TLSOptions", "client_context", "open_socket"]


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


def client_context(options: TLSOptions | None = None,
                   alpn: Sequence[str] = ("http/1.1",)) -> ssl.SSLContext:
    """A client context with the run's trust, client certificate and ALPN list."""
    options = options or TLSOptions()
    context = ssl.create_default_context()
    if options.ca_cert:
        context.load_verify_locations(cafile=options.ca_cert)
    if options.client_cert:
        context.load_cert_chain(options.client_cert, options.client_key)
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


def _proxy_tunnel(proxy: str, host: str, port: int, deadline: float) -> socket.socket:
    """An HTTP CONNECT tunnel to host:port through ``proxy`` (http://HOST:PORT)."""
    from urllib.parse import urlsplit

    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    if parts.scheme != "http" or not parts.hostname:
        raise OSError(f"unsupported proxy {proxy!r}: only http://HOST:PORT (CONNECT) is supported")
    sock = socket.create_connection((parts.hostname, parts.port or 8080),
                                    timeout=max(deadline - time.monotonic(), 0.001))
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
