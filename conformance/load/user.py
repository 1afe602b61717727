"""The Locust user: sends stamped bodies from the pool with Locust's FastHttpUser.

Locust owns the load: its users, their greenlets, connections and timing. Each
process configures the class once (``configure``) with its pool stamper and tally;
the task only stamps, posts and records. A send is never retried: a retry would
carry the same event_ids twice and blur the loss account (the SDKs' own retries
are the conformance suite's business, not the load's).
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import gevent
from locust import FastHttpUser, constant, constant_throughput, task

from conformance.load.pool import Stamper
from conformance.load.tally import NO_STATUS, Tally
from conformance.wire.tls import TLSOptions, client_context

JSON_UTF8 = "application/json; charset=utf-8"
CONFIG_WAIT_S = 120.0  # a worker's users wait this long at most for the master's settings


@dataclass
class SendKit:
    """What every user of one process shares."""

    stamper: Stamper
    tally: Tally
    headers: dict[str, str]


def request_headers(auth_cookie: tuple[str, str] | None) -> dict[str, str]:
    headers = {"Content-Type": JSON_UTF8}
    if auth_cookie:
        headers["Cookie"] = f"{auth_cookie[0]}={auth_cookie[1]}"
    return headers


class ClickstreamUser(FastHttpUser):
    """One simulated client: POSTs bodies from the pool as fast as answered, or at
    its share of ``--rate``."""

    host = "http://127.0.0.1"
    wait_time = constant(0)
    max_retries = 0
    kit: SendKit | None = None

    def on_start(self) -> None:
        # On a worker, users may be spawned a moment before the settings arrive.
        waited = 0.0
        while type(self).kit is None and waited < CONFIG_WAIT_S:
            gevent.sleep(0.05)
            waited += 0.05

    @task
    def send(self) -> None:
        kit = self.kit
        if kit is None:
            raise RuntimeError("the load user was never configured")
        sent = kit.stamper.next()
        with self.client.post(sent.path, data=sent.body, headers=kit.headers, name=sent.kind,
                              catch_response=True) as response:
            status = response.status_code or NO_STATUS
            error, timeout = None, False
            if status == 200:
                response.success()
            else:
                error, timeout = classify(status, getattr(response, "error", None))
                response.failure(error)
            elapsed_ms = response.request_meta["response_time"]
        kit.tally.record(sent, status, error, elapsed_ms, timeout)


def classify(status: int, error: Any) -> tuple[str, bool]:
    """A short name for what went wrong, and whether it was a timeout."""
    if status:
        return f"HTTP {status}", False
    if isinstance(error, (socket.timeout, TimeoutError, gevent.Timeout)) or "timed out" in str(error).lower():
        return "timeout", True
    return f"connection: {type(error).__name__}" if error is not None else "no answer", False


def configure(kit: SendKit, users: int, rate: float | None, request_timeout: float,
              tls: TLSOptions | None = None) -> None:
    """Set up the class for this process: its kit, timeouts, TLS trust and proxy, and
    the pacing that makes ``rate`` requests a second across ``users`` users."""
    configure_tls(tls or TLSOptions())
    ClickstreamUser.kit = kit
    ClickstreamUser.network_timeout = request_timeout
    ClickstreamUser.connection_timeout = request_timeout
    ClickstreamUser.wait_time = constant_throughput(rate / users) if rate else constant(0)


def configure_tls(tls: TLSOptions) -> None:
    """The suite's trust for the load's https traffic: its CA, client certificate and
    --insecure (Locust's FastHttpUser verifies nothing by default), and its proxy."""
    def context_factory(*args: Any, **kwargs: Any) -> Any:
        return client_context(tls)  # gevent's patched ssl: Locust imported it first

    ClickstreamUser.insecure = tls.insecure
    ClickstreamUser.ssl_context_factory = staticmethod(context_factory)
    ClickstreamUser.proxy_host, ClickstreamUser.proxy_port = _proxy_address(tls.proxy)


def _proxy_address(proxy: str | None) -> tuple[str | None, int | None]:
    if not proxy:
        return None, None
    from urllib.parse import urlsplit
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    return parts.hostname, parts.port or 8080


__all__ = ["ClickstreamUser", "SendKit", "configure", "configure_tls", "request_headers", "classify"]
