"""Drive the real Web SDK in headless Chromium (Playwright with the system browser).

The suite serves the page (``page.html``) and the SDK bundle itself, at the origin a
scenario names. The SDK on the collector's own site (the captures' setting) gets its
page through the browser's request routing: its sends are same-origin, with no
preflight, so routing changes nothing the browser checks. The cross-origin scenario
(a shop's site at ``--origin``, credentialed sends) runs with no routing at all:
Playwright answers CORS preflights itself once a route is set, which would hide the
collector's answer from the browser's check. Its page comes from a loopback server
(``page_server.py``) that Chromium's host-resolver rules put at ``--origin``.

The SDK's sends always leave the browser as usual, so the browser's CORS checks and
the SDK's own verdicts are real. The page records every fetch the SDK makes; the
SDK's verdict is its localStorage: a send it found failed leaves its events in the
failed-event store (immediate mode) or the pending-event store (batch mode).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from conformance.wire.exchange import EvidenceBuilder, Exchange
from conformance.engines.websdk import BUNDLE_NAME, Installed
from conformance.engines.websdk.page_server import PageServer

PAGE_DIR = "/__clickstream_conformance__/"
PAGE_NAME = "websdk.html"
SPKI_TIMEOUT_S = 10.0
QUIET_S = 1.2           # no new send for this long, none in flight: the SDK is done
POLL_S = 0.1
SETTLE_LIMIT_S = 40.0   # the SDK retries 3 times with its own 10 s timeout
CONSOLE_KEPT = 20


@dataclass(frozen=True)
class Step:
    """One call into the page's ``window.conformance`` (see page.html)."""

    call: str
    arg: Any = None
    pause_s: float = 0.0  # wait after it, e.g. for a batch timer


@dataclass(frozen=True)
class Scenario:
    name: str
    send_mode: str                # Immediate | Batch
    steps: tuple[Step, ...]
    cross_origin: bool = False
    interval_ms: int = 5000       # the SDK's batch timer


@dataclass
class PageSend:
    """One fetch the SDK made, as the page recorded it."""

    url: str
    method: str
    body: str | None
    headers: dict[str, str]
    keepalive: bool
    started_ms: float
    elapsed_ms: float | None
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def outcome(self) -> str:
        if self.status is not None:
            return str(self.status)
        return f"no answer the SDK could read ({self.error or 'still pending'})"

    def event_count(self) -> int:
        return (self.body or "").count('"event_id"')


@dataclass
class ScenarioRun:
    """What happened in the page: every send, and the SDK's stores at the end."""

    scenario: Scenario
    origin: str
    sends: list[PageSend]
    failed_store: str
    pending_store: str
    console: list[str] = field(default_factory=list)
    seconds: float = 0.0
    settled: bool = True

    @property
    def sdk_content(self) -> bool:
        """The SDK considers every send successful: nothing left to re-send."""
        return not self.failed_store and not self.pending_store

    def store_summary(self) -> str:
        return (f"failed-event store {len(self.failed_store)} characters "
                f"({self.failed_store.count(chr(34) + 'event_id' + chr(34))} events), pending-event store "
                f"{len(self.pending_store)} characters ({self.pending_store.count(chr(34) + 'event_id' + chr(34))} events)")


def page_url(origin: str) -> str:
    return origin.rstrip("/") + PAGE_DIR + PAGE_NAME


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Browser:
    """One headless Chromium for the run; each scenario gets a fresh context (empty
    localStorage, so the SDK starts as on a first visit). With ``origin``, a loopback
    page server for the cross-origin scenario runs as long as the browser does."""

    def __init__(self, chromium: str, sdk: Installed, endpoint: str, app_id: str,
                 cookie: tuple[str, str] | None = None, tls: Any = None, origin: str | None = None) -> None:
        self.chromium, self.sdk, self.endpoint, self.app_id, self.cookie = chromium, sdk, endpoint, app_id, cookie
        self.tls = tls  # a conformance.wire.tls.TLSOptions: the trust Chromium gets for an https endpoint
        self.origin = origin.rstrip("/") if origin else None
        self._playwright: Any = None
        self._browser: Any = None
        self._page_server: PageServer | None = None
        self.version = ""
        self.page_html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
        self.bundle = sdk.bundle.read_bytes()

    def start(self) -> str:
        from playwright.sync_api import sync_playwright
        try:
            arguments = self._page_server_arguments() + self._trust_arguments()
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(executable_path=self.chromium, headless=True,
                                                             args=arguments, env=self._browser_environment())
        except BaseException:
            self.close()
            raise
        self.version = self._browser.version
        return self.version

    def _page_server_arguments(self) -> list[str]:
        """Start the cross-origin page's server; Chromium resolves --origin's host and
        port to it, and nothing else."""
        if self.origin is None:
            return []
        path = PAGE_DIR + PAGE_NAME
        self._page_server = PageServer(self.origin, {
            path: ("text/html; charset=utf-8", self.page_html.encode("utf-8")),
            PAGE_DIR + BUNDLE_NAME: ("text/javascript; charset=utf-8", self.bundle),
        }).start()
        return [f"--host-resolver-rules={self._page_server.resolver_rule()}"]

    def _browser_environment(self) -> dict[str, str] | None:
        """The run's environment, with --origin's host exempt from any proxy: a proxy would
        resolve the host itself, past the host-resolver rule, and never reach the page."""
        if self.origin is None:
            return None
        host = urlsplit(self.origin).hostname or ""
        env = dict(os.environ)
        for name in ("no_proxy", "NO_PROXY"):
            env[name] = ",".join(part for part in (env.get(name, ""), host) if part)
        return env

    def _trust_arguments(self) -> list[str]:
        """Chromium accepts, besides what the system trusts: for an https endpoint, the
        certificate the suite verified with its own trust (--ca-cert); for an https
        --origin, the certificate the suite made for its page server. Nothing else."""
        keys = []
        parts = urlsplit(self.endpoint)
        if parts.scheme == "https" and self.tls is not None and (self.tls.ca_cert or self.tls.insecure):
            from conformance.wire.tls import server_spki_sha256
            keys.append(server_spki_sha256(parts.hostname or "", parts.port or 443, SPKI_TIMEOUT_S, self.tls))
        if self._page_server is not None and self._page_server.spki:
            keys.append(self._page_server.spki)
        return [f"--ignore-certificate-errors-spki-list={','.join(keys)}"] if keys else []

    def _context_options(self) -> dict[str, Any]:
        """Mutual TLS: the client certificate for the endpoint's origin."""
        if self.tls is None or not self.tls.client_cert:
            return {}
        cert = {"origin": origin_of(self.endpoint), "certPath": self.tls.client_cert}
        if self.tls.client_key:
            cert["keyPath"] = self.tls.client_key
        return {"client_certificates": [cert]}

    def close(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            self._browser = None
            try:
                if self._playwright is not None:
                    self._playwright.stop()
            finally:
                self._playwright = None
                if self._page_server is not None:
                    self._page_server.close()
                    self._page_server = None

    def scenario_origin(self, scenario: Scenario) -> str:
        if scenario.cross_origin:
            if self.origin is None:
                raise ValueError(f"scenario {scenario.name} is cross-origin: the browser needs an origin")
            return self.origin
        return origin_of(self.endpoint)

    def run(self, scenario: Scenario) -> ScenarioRun:
        started = time.monotonic()
        origin = self.scenario_origin(scenario)
        context = self._browser.new_context(**self._context_options())
        try:
            self._add_cookie(context, origin if scenario.cross_origin else None)
            if not scenario.cross_origin:
                self._route_page(context, origin)
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda m: m.type in ("error", "warning") and len(console) < CONSOLE_KEPT
                    and console.append(f"{m.type}: {m.text}"))
            page.goto(page_url(origin))
            page.evaluate("config => window.conformance.init(config)", {
                "appId": self.app_id, "endpoint": self.endpoint, "sendMode": scenario.send_mode,
                "sendEventsInterval": scenario.interval_ms, "isLogEvents": False})
            for step in scenario.steps:
                page.evaluate(f"arg => window.conformance.{step.call}(arg)", step.arg)
                if step.pause_s:
                    page.wait_for_timeout(step.pause_s * 1000)
            settled = self._settle(page, scenario)
            stores = page.evaluate("() => window.conformance.stores()")
            sends = [PageSend(s["url"], s["method"], s["body"], dict(s["headers"] or {}), s["keepalive"],
                              s["started"], s["elapsed"], s["status"], s["error"])
                     for s in page.evaluate("() => window.conformance.sends()")]
            return ScenarioRun(scenario, origin, sends, stores["failed"], stores["pending"], console,
                               time.monotonic() - started, settled)
        finally:
            context.close()

    def _add_cookie(self, context: Any, cross_site_page: str | None = None) -> None:
        """The auth cookie, held for the endpoint's host as a browser holds a login's cookie."""
        if not self.cookie:
            return
        secure = self.endpoint.startswith("https:")
        # A browser sends a cookie cross-site only when it is SameSite=None and Secure.
        cookie = {"name": self.cookie[0], "value": self.cookie[1], "url": origin_of(self.endpoint),
                  "sameSite": "None" if secure else "Lax", "secure": secure}
        if secure and cross_site_page:
            # A fresh context is an incognito profile, where Chromium blocks third-party
            # cookies (as Safari and Firefox's strict mode do everywhere): only a cookie
            # partitioned by the page's site (CHIPS) rides on its cross-site fetch. The
            # collector gets the same Cookie header either way.
            cookie["partitionKey"] = cross_site_page
        context.add_cookies([cookie])

    def _route_page(self, context: Any, origin: str) -> None:
        """The same-origin page, through routing (it sends no preflight, so nothing is hidden)."""
        # A routed page has no address of its own, so Chromium's local-network check
        # would stop its sends to a loopback collector; in the field both sides are
        # public and that check does not apply. (The cross-origin page needs no grant:
        # it really is on loopback, as the collector is, so nothing is "more local".)
        try:
            context.grant_permissions(["local-network-access"])
        except Exception:  # an older Chromium without the permission has no such check either
            pass
        url = page_url(origin)
        context.route(url, lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8",
                                                       body=self.page_html))
        context.route(url.rsplit("/", 1)[0] + "/" + BUNDLE_NAME,
                      lambda route: route.fulfill(status=200, content_type="text/javascript", body=self.bundle))

    def _settle(self, page: Any, scenario: Scenario) -> bool:
        """Wait until nothing is in flight and no send started for QUIET_S, with at
        least one send done (batch mode: once the store is empty or a flush ended)."""
        deadline = time.monotonic() + SETTLE_LIMIT_S
        last_count, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            state = page.evaluate("() => ({n: window.conformance.sends().length, "
                                  "inflight: window.conformance.inflight()})")
            now = time.monotonic()
            if state["n"] != last_count or state["inflight"]:
                last_count, quiet_since = state["n"], now
            elif state["n"] > 0 and now - quiet_since >= QUIET_S:
                return True
            page.wait_for_timeout(POLL_S * 1000)
        return False


def as_exchange(send: PageSend, case: str, evidence: EvidenceBuilder) -> Exchange:
    """A page-recorded send as the suite's evidence (the browser sent it, not the client)."""
    body = (send.body or "").encode("utf-8")
    headers = [(k, v) for k, v in send.headers.items() if k.lower() not in ("cookie", "user-agent")]
    answered = send.status is not None
    ex = evidence.request(case=case, method=send.method, url=send.url, headers=headers, body=body,
                          outcome="answered" if answered else "refused",
                          detail="" if answered else f"the browser gave the SDK no answer: {send.error}",
                          started_at=send.started_ms / 1000)
    if answered:
        ex.status = send.status
    ex.elapsed = (send.elapsed_ms or 0) / 1000
    return ex
