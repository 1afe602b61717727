"""The collector under test, as the cases see it.

``Target`` wraps the evidence client with what every case needs: the registered
appId, default headers (Content-Type, the auth cookie), a known-good "canary"
request, and the record of the current case (exchanges, observations, soft SHOULD
failures). It also remembers when the target went down, so that the remaining cases
end at once as ERROR instead of each waiting out a timeout.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import quote

from conformance import catalog
from conformance.checks import describe, expect_accepted, expect_empty_success_body, judging, note_held
from conformance.wire.exchange import Exchange, Sender
from conformance.wire.http1 import Client
from conformance.failures import CollectorDied, ConformanceFailure, CouldNotJudge, TooSlow
from conformance.engines.ledger import Ledger, events_of
from conformance.strategies import tag_uuid

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
DEFAULT = object()  # "use the target's own appId"
KEEP_FIRST, KEEP_LAST = 3, 7  # evidence kept per case: property cases send hundreds


@dataclass(frozen=True)
class Settings:
    """The run's options, validated by the plugin."""

    endpoint: str
    app_id: str
    auth_cookie: tuple[str, str] | None = None
    origin: str | None = None
    profiles: frozenset[str] = frozenset({"core"})
    timeout: float = 10.0
    examples: int = 25
    shrink_budget: float = 20.0  # seconds Hypothesis may spend shrinking one failure
    sink: Any = None                       # a conformance.engines.sinks.Sink: the delivery profile is on
    sink_wait: float = 10.0                # how long read-back waits for a batching pipeline
    record_shape: Any = None               # a conformance.engines.sinks.records.RecordShape
    sink_secrets: tuple[str, ...] = ()
    collector_command: str | None = None   # the suite owns the collector's process
    collector_ready_timeout: float = 30.0
    durability_kills: int = 3
    durability_seed: int = 0
    websdk: Any = None                     # a conformance.engines.websdk.Installed: the websdk profile is on
    chromium: str | None = None            # the system Chromium the websdk profile drives
    websdk_driver: str = ""                # the browser driver's version
    tls: Any = None                        # a conformance.wire.tls.TLSOptions (CA, client cert, proxy)
    network_seconds: float = 15.0          # each hostile-network attack lasts at most this long
    network_sockets: int = 512             # and holds at most this many sockets
    # clients profile: (requirement, why) for the clients not installed here; their rows SKIP
    # and the profile's verdict stands on the clients that ran.
    unavailable: tuple[tuple[str, str], ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        return ((self.auth_cookie[1],) if self.auth_cookie else ()) + self.sink_secrets


@dataclass
class CaseEvidence:
    """Evidence gathered while one case runs: its exchanges (the first and last few),
    observations (INFO) and soft SHOULD failures."""

    name: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    exchange_count: int = 0
    observations: list[dict[str, str]] = field(default_factory=list)
    warnings: list[ConformanceFailure] = field(default_factory=list)
    held: set[str] = field(default_factory=set)  # requirements judged and found held so far
    har: Any = None  # a conformance.wire.har.HarLog: gets every exchange, not only those kept here

    def add(self, ex: Exchange) -> None:
        if self.har is not None:
            self.har.add(ex)
        self.exchange_count += 1
        if len(self.exchanges) >= KEEP_FIRST + KEEP_LAST:
            del self.exchanges[KEEP_FIRST]
        self.exchanges.append(ex)


class Target:
    """The collector under test: what to send, and sending it with the evidence booked.

    ``over(client)`` is the same target spoken to through another client (HTTP/2), and
    ``connection(label)`` a sender of its own for a worker thread; both book into the
    current case and the run's history, like the target itself."""

    def __init__(self, settings: Settings, client: Sender | None = None, ledger: Ledger | None = None) -> None:
        self.settings = settings
        self.client: Sender = client or self._new_client()
        self._case = CaseEvidence()
        self._parent: Target | None = None
        self._lock = threading.Lock()  # worker threads book exchanges into one case
        self.down_reason: str | None = None
        # The history of what was sent, for the delivery profile; its tag marks every
        # event_id of this run, so a shared sink never confuses runs.
        self.ledger = ledger if ledger is not None else Ledger()
        self.tracking = settings.sink is not None

    @property
    def case(self) -> CaseEvidence:
        """The evidence of the case now running (the plugin starts a new one per case)."""
        return self._parent.case if self._parent is not None else self._case

    @case.setter
    def case(self, evidence: CaseEvidence) -> None:
        if self._parent is not None:
            self._parent.case = evidence
        else:
            self._case = evidence
            judging(evidence.held)

    def over(self, client: Sender) -> "Target":
        """This target through another client: the same settings, case and history."""
        # The ledger given, not made: a new one would open a scratch file only to drop it.
        view = Target(self.settings, client=client, ledger=self.ledger)
        view._parent, view._lock = self, self._lock
        view.tracking = self.tracking
        return view

    def connection(self, label: str, timeout: float | None = None) -> "Connection":
        """A new connection of its own, for one worker thread; close it (``with``) when done."""
        return Connection(self, self._new_client(timeout), label)

    def _new_client(self, timeout: float | None = None) -> Client:
        s = self.settings
        return Client(s.endpoint, timeout or s.timeout, s.secrets, tls=s.tls)

    # --- what to send -------------------------------------------------------
    @property
    def app_id(self) -> str:
        return self.settings.app_id

    def query(self, app_id: Any = DEFAULT, **params: Any) -> str:
        """A query string with appId first (or none when app_id=None), then params in order."""
        pairs = []
        if app_id is not None:
            pairs.append(("appId", self.app_id if app_id is DEFAULT else str(app_id)))
        pairs += [(k, "" if v is None else str(v)) for k, v in params.items()]
        return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)

    def headers(self, content_type: str | None = JSON_CONTENT_TYPE, cookie: bool = True,
                extra: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
        """Default headers: the documented Content-Type and, when configured, the auth cookie."""
        result = []
        if content_type is not None:
            result.append(("Content-Type", content_type))
        if cookie and self.settings.auth_cookie:
            name, value = self.settings.auth_cookie
            result.append(("Cookie", f"{name}={value}"))
        return result + list(extra)

    @property
    def tag(self) -> str:
        """This run's tag (8 hex digits), the first group of every event_id it makes."""
        return self.ledger.tag

    def new_event_id(self) -> str:
        return tag_uuid(str(uuid.uuid4()), self.tag)

    def event(self, **fields: Any) -> dict[str, Any]:
        """One minimal valid event with a fresh event_id."""
        event = {"event_type": "conformance_check", "event_id": self.new_event_id(),
                 "timestamp": int(time.time() * 1000), "app_id": self.app_id}
        event.update(fields)
        return event

    def good_body(self, events: int = 1) -> bytes:
        batch = [self.event() for _ in range(events)]
        return json.dumps(batch, separators=(",", ":")).encode()

    def active(self, requirement_id: str) -> bool:
        return catalog.get(requirement_id).profile in self.settings.profiles

    # --- sending --------------------------------------------------------------
    def send(self, method: str = "POST", query: str | None = None, body: bytes = b"",
             headers: Sequence[tuple[str, str]] | None = None, path: str | None = None,
             valid: bool = False) -> Exchange:
        """Send one request and record it. Timeouts fail CS-TIMELY; a refusal is ERROR.
        ``valid``: a request the suite demands 200 for, whose events the history keeps."""
        if self.down_reason:
            raise CouldNotJudge(f"the target is down ({self.down_reason})")
        if headers is None:
            headers = self.headers()
        ex = self.client.send(method, query, body, headers, case=self.case.name, path=path)
        self.book(ex, body, query, valid=valid, judged=method == "POST" and path is None)
        if ex.outcome == "timeout":
            self._check_still_alive(f"a request of {self.case.name} timed out")
            raise TooSlow("CS-TIMELY", f"an answer within {self.settings.timeout:g} s",
                          describe(ex), ex)
        if ex.outcome == "answered":
            note_held("CS-TIMELY")
        if ex.outcome == "refused":
            self.down_reason = f"connection refused during {self.case.name}: {ex.detail}"
            raise CouldNotJudge(self.down_reason, ex)
        if ex.outcome == "reset":
            # A reset alone may be a deliberate refusal; a reset after which nothing
            # answers means this request brought the collector down.
            self._check_still_alive(f"{self.case.name} got a reset")
            if self.down_reason:
                raise CollectorDied("CS-ROBUST", "an answer, and a collector still alive after it",
                                    describe(ex), ex, detail=self.down_reason)
        return ex

    def post(self, body: bytes, query: str | None = None,
             headers: Sequence[tuple[str, str]] | None = None, **params: Any) -> Exchange:
        """POST ``body`` to the endpoint; ``query`` defaults to appId plus ``params``."""
        return self.send("POST", query if query is not None else self.query(**params), body, headers)

    def post_valid(self, body: bytes, requirement: str, query: str | None = None,
                   headers: Sequence[tuple[str, str]] | None = None, soft_checks: bool = True,
                   **params: Any) -> Exchange:
        """POST a valid request: it must get exactly 200 (and, softly, an empty body), and
        with a sink its events must then be stored intact."""
        query = query if query is not None else self.query(**params)
        ex = self.send("POST", query, body, headers, valid=True)
        expect_accepted(ex, requirement)
        if soft_checks:
            self.soft(expect_empty_success_body, ex)
        return ex

    def keep(self, ex: Exchange) -> None:
        """Keep ``ex`` as the current case's evidence only (it is not for the history)."""
        with self._lock:
            self.case.add(ex)

    def book(self, ex: Exchange, body: bytes, query: str | None, valid: bool, case: str | None = None,
             judged: bool = True) -> None:
        """Keep ``ex`` as the current case's evidence and enter it in the run's history:
        ``valid``, its events must be stored once answered 200; else, with ``judged``,
        they must not be stored when refused. Safe from worker threads."""
        self.keep(ex)
        if valid:
            self.track_valid(ex, body, query, case)
        elif self.tracking:
            self.ledger.any_send(body, query, ex, case or self.case.name, judged=judged)

    def track_valid(self, ex: Exchange, body: bytes, query: str | None, case: str | None = None) -> None:
        """Enter a valid request in the history: once answered 200, its events must be stored."""
        if self.tracking:
            self.ledger.valid_send(events_of(body, query), ex, case or self.case.name)

    def expect_alive(self, after: str) -> None:
        """The canary: a known-good request must still get 200 after a hostile one."""
        ex = self.send_known_good("canary")
        if ex.status == 200:
            note_held("CS-ROBUST")
            return
        if ex.status is None:
            self.down_reason = f"stopped answering after {after}"
        raise CollectorDied("CS-ROBUST", "200 to a known-good request", describe(ex), ex,
                            detail=f"after: {after}")

    def _check_still_alive(self, why: str) -> None:
        probe = self.send_known_good("liveness", timeout=min(self.settings.timeout, 3.0))
        if probe.status is None:
            self.down_reason = f"{why}, and a known-good request got {probe.outcome}"

    def send_known_good(self, label: str, timeout: float | None = None, body: bytes | None = None) -> Exchange:
        """A fresh valid event (or ``body``, valid), sent past the down check (it is what
        decides "down"), recorded and entered in the history as ``case [label]``."""
        query, body = self.query(), body if body is not None else self.good_body()
        case = f"{self.case.name} [{label}]"
        ex = self.client.send("POST", query, body, self.headers(), case=case, timeout=timeout)
        self.book(ex, body, query, valid=True, case=case)
        return ex

    # --- recording ------------------------------------------------------------
    def soft(self, check: Any, *args: Any, **kwargs: Any) -> None:
        """Run a SHOULD check: a failure is recorded as a warning and the case goes on."""
        try:
            check(*args, **kwargs)
        except ConformanceFailure as failure:
            self.warn(failure)

    def judged(self, requirement: str) -> None:
        """Note that the case judged ``requirement`` and found it held (checks note their own)."""
        note_held(requirement)

    def warn(self, failure: ConformanceFailure) -> None:
        """Record a SHOULD failure found outside a check (WARN); the case goes on."""
        self.case.warnings.append(failure)

    def observe(self, text: str, key: str | None = None, value: str | None = None) -> None:
        """Record what the collector did where the document leaves it open (INFO)."""
        self.case.observations.append({"text": text, "key": key or "", "value": value or ""})

    def close(self) -> None:
        self.client.close()


class Connection:
    """A sender of its own for one worker thread (``Target.connection``): each exchange
    is booked into the target's current case and the run's history, as the target's own."""

    def __init__(self, target: Target, client: Sender, label: str) -> None:
        self.target, self.client, self.label = target, client, label

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, method: str = "POST", query: str | None = None, body: bytes = b"",
             headers: Sequence[tuple[str, str]] | None = None, valid: bool = False) -> Exchange:
        """Send one request as ``case [label]``; ``valid``: its events must be stored once
        answered 200. Unlike ``Target.send`` it raises nothing: the worker judges the answer."""
        case = f"{self.target.case.name} [{self.label}]"
        ex = self.client.send(method, query, body, self.target.headers() if headers is None else headers, case=case)
        self.target.book(ex, body, query, valid=valid, case=case)
        return ex

    def close(self) -> None:
        self.client.close()
