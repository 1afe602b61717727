"""Hostile clients and a canary: the engine of the network profile (no verdicts here).

Each attack holds up to ``sockets`` connections for up to ``seconds``: slow headers
(slowloris), slow bodies, idle connections (silent, and kept alive after a request), a
flood of one-request connections, and uploads aborted halfway. Meanwhile a canary sends
one valid batch at a steady pace, each on a fresh connection, and records its latency.
The attack's connections are sampled for the open-socket count, and the moment the
server closes each is kept: that is the collector's timeout as measured.

Everything is bounded: sockets by count (and below ``ulimit -n``), the attack by its
deadline, the canary's requests by their timeouts. Every socket opened is closed in a
``finally``, on failure and Ctrl-C too.
"""
from __future__ import annotations

import base64
import gzip
import json
import resource
import selectors
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from conformance.wire.exchange import Exchange
from conformance.wire.http1 import Client
from conformance.wire.raw import RawConnection, request_head

DEFAULT_SOCKETS = 512
DEFAULT_SECONDS = 15.0
MAX_SECONDS = 20.0
FD_MARGIN = 128           # descriptors left for the suite itself below ulimit -n
RECOVERY_GRACE = 5.0      # the collector must serve again within this after an attack
CANARY_INTERVAL = 0.25    # one canary request this often, whatever the previous one does
CANARY_MAX_IN_FLIGHT = 128
TICK = 0.05
SAMPLE_EVERY = 0.25
RAMP_PER_TICK = 64        # connects begun per tick: a fast ramp, not a burst of SYNs
SYN_RETRY = 0.5           # a connect slower than this waited for a SYN retry (the first is at 1 s)
CONNECT_TIMEOUT = 3.0
HEADER_DRIP_EVERY = 2.0   # slow headers: one byte this often
BODY_DRIP = (4, 1.0)      # slow body: 4 bytes a second
ABORTED_UPLOADS = 16
ABORT_SETTLE = 1.5        # seconds of canary after the last upload was cut


@dataclass
class Plan:
    """Where and what to send: one per run, from the target's settings."""

    endpoint: str
    query: str
    headers: list[tuple[str, str]]
    request_timeout: float
    seconds: float
    sockets: int
    secrets: tuple[str, ...] = ()
    make_body: Callable[[int], tuple[bytes, list[dict[str, Any]]]] = lambda n: (b"[]", [])
    ssl_context: Any = None
    case: str = "network"
    tls: Any = None  # the run's conformance.wire.tls.TLSOptions, for the canary's connections
    # How one canary request goes out on a fresh connection: (body, headers, timeout,
    # label) -> its exchange. A case passes its target's, which books each exchange;
    # without one, a plain client sends it.
    send: Callable[[bytes, list[tuple[str, str]], float, str], Exchange] | None = None

    def send_canary(self, body: bytes, timeout: float, label: str) -> Exchange:
        headers = [*self.headers, ("Connection", "close")]
        if self.send is not None:
            return self.send(body, headers, timeout, label)
        with Client(self.endpoint, timeout=timeout, secrets=self.secrets, tls=self.tls) as client:
            return client.send("POST", self.query, body, headers, case=f"{self.case} [{label}]")


@dataclass
class Upload:
    """A request whose body the attack cut short (or never finished sending)."""

    events: list[dict[str, Any]]
    sent_bytes: int
    body_bytes: int
    encoding: str
    how: str  # "reset" or "close"


@dataclass
class Shot:
    """One canary request."""

    at: float                 # seconds since the attack began
    latency: float | None     # None: no answer
    status: int | None
    exchange: Exchange


@dataclass
class AttackReport:
    name: str
    seconds: float
    sockets_wanted: int
    sockets_allowed: int
    opened: int = 0
    connect_failures: int = 0
    connects: dict[str, int] = field(default_factory=dict)           # failed connects, by why
    connected_at_once: int = 0      # connected with no SYN retry: what the listen queue took at once
    peak_open: int = 0
    series: list[tuple[float, int]] = field(default_factory=list)   # (t, open sockets)
    held: dict[str, list[float]] = field(default_factory=dict)      # kind -> seconds until the server closed
    kept_open: dict[str, int] = field(default_factory=dict)         # kind -> still open at the end
    statuses: dict[str, int] = field(default_factory=dict)          # answers to the attack's own requests
    shots: list[Shot] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    recovered_after: float | None = None
    duration: float = 0.0
    closed_at: float = 0.0   # time.monotonic() when the attack's sockets were closed (cut)

    def canary_p99(self) -> float | None:
        answered = sorted(s.latency for s in self.shots if s.latency is not None)
        if not answered:
            return None
        return answered[min(len(answered) - 1, int(round(0.99 * (len(answered) - 1))))]

    def bad_shots(self) -> list[Shot]:
        """Canary requests that got no answer or a 5xx."""
        return [s for s in self.shots if s.status is None or s.status >= 500]

    def to_dict(self) -> dict[str, Any]:
        return {
            "attack": self.name, "seconds": self.seconds, "sockets": self.sockets_allowed,
            "sockets_wanted": self.sockets_wanted, "opened": self.opened,
            "connect_failures": self.connect_failures, "connects_failed": self.connects,
            "connected_at_once": self.connected_at_once, "peak_open": self.peak_open,
            "open_series": [[round(t, 2), n] for t, n in self.series],
            "canary": [[round(s.at, 2), None if s.latency is None else round(s.latency, 4), s.status]
                       for s in self.shots],
            "canary_sent": len(self.shots), "canary_failed": len(self.bad_shots()),
            "canary_p99_s": _round(self.canary_p99()),
            "held_s": {k: spread(v) for k, v in self.held.items()},
            "kept_open": self.kept_open, "statuses": self.statuses,
            "aborted_uploads": len(self.uploads),
            "recovered_after_s": _round(self.recovered_after), "duration_s": round(self.duration, 2),
        }


def allowed_sockets(wanted: int) -> int:
    """``wanted``, or fewer when ``ulimit -n`` leaves less room."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(0, min(wanted, soft - FD_MARGIN))


# --- the canary ------------------------------------------------------------------------

class Canary:
    """Valid batches at a steady pace, each on a fresh connection, in threads of their
    own so that one stuck request does not delay the next."""

    def __init__(self, plan: Plan, started: float, attack_end: float) -> None:
        self.plan, self.started, self.attack_end = plan, started, attack_end
        self.shots: list[Shot] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.pacer = threading.Thread(target=self._pace, daemon=True, name="canary")

    def start(self) -> None:
        self.pacer.start()

    def _pace(self) -> None:
        n = 0
        while not self.stop.is_set():
            alive = [t for t in self.threads if t.is_alive()]
            if len(alive) < CANARY_MAX_IN_FLIGHT:
                n += 1
                thread = threading.Thread(target=self._shoot, args=(n,), daemon=True)
                self.threads.append(thread)
                thread.start()
            self.stop.wait(CANARY_INTERVAL)

    def _shoot(self, n: int) -> None:
        # A request may wait until the attack is over and the grace has passed: one that
        # gets no answer even then means the collector stopped answering.
        sent = time.monotonic()
        timeout = max(self.plan.request_timeout, self.attack_end + RECOVERY_GRACE - sent)
        body, _ = self.plan.make_body(1)
        ex = self.plan.send_canary(body, timeout, f"canary {n}")
        shot = Shot(at=sent - self.started, latency=ex.elapsed if ex.status is not None else None,
                    status=ex.status, exchange=ex)
        with self.lock:
            self.shots.append(shot)

    def finish(self) -> list[Shot]:
        """Stop pacing and wait for the requests in flight (each bounded by its timeout)."""
        self.stop.set()
        self.pacer.join(timeout=CANARY_INTERVAL * 4)
        deadline = self.attack_end + RECOVERY_GRACE + self.plan.request_timeout + 5
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self.lock:
            return sorted(self.shots, key=lambda s: s.at)


# --- attacks ---------------------------------------------------------------------------

class Attack:
    """Opens connections and paces their bytes; subclasses say what each one sends."""

    name = "attack"
    kinds: tuple[str, ...] = ("connection",)

    def __init__(self, plan: Plan, sockets: int) -> None:
        self.plan, self.sockets = plan, sockets
        self.conns: list[RawConnection] = []     # connected, in the order they connected
        self.pending: list[RawConnection] = []   # still connecting (TCP, then TLS)
        self.attempts = 0                        # connects begun: at most ``sockets``, never retried
        self.connects: dict[str, int] = {}       # why connects failed: refused, reset, timed out, ...
        self.at_once = 0                         # connected without waiting for a SYN retry
        self.kind_of: dict[int, str] = {}
        self.since: dict[int, float] = {}     # id(conn) -> when its hold started: its own connect
        self.uploads: list[Upload] = []
        self.statuses: dict[str, int] = {}
        self.selector = selectors.DefaultSelector()

    # what each attack does
    def on_open(self, conn: RawConnection, n: int, now: float) -> None: ...
    def on_tick(self, now: float) -> None: ...

    def done(self, now: float) -> bool:
        return False

    # the machinery
    @property
    def connect_failures(self) -> int:
        return sum(self.connects.values())

    def resolved(self) -> bool:
        """Every connect this attack will make has begun and ended (open or failed)."""
        return self.attempts >= self.sockets and not self.pending

    def open_more(self, now: float, per_tick: int = RAMP_PER_TICK) -> None:
        """Begin up to ``per_tick`` more connects, without waiting for any: a server whose
        listen queue is short delays them, but not the attack's clock."""
        for _ in range(min(per_tick, self.sockets - self.attempts)):
            self.attempts += 1
            try:
                conn = RawConnection(self.plan.endpoint, self.plan.ssl_context)
            except (OSError, ValueError) as exc:  # no descriptor left, a name that does not resolve
                self._failed(type(exc).__name__)
                continue
            if conn.failure is not None:
                self._failed(conn.failure)
                continue
            self.pending.append(conn)
            self.selector.register(conn.sock, conn.wants, conn)
        self._expire(now)

    def _expire(self, now: float) -> None:
        """A connect not done within CONNECT_TIMEOUT is given up: the server never took it."""
        for conn in [c for c in self.pending if now - c.started_at >= CONNECT_TIMEOUT]:
            self.pending.remove(conn)
            self._forget(conn)
            conn.close()
            self._failed("timed out")

    def _failed(self, why: str) -> None:
        self.connects[why] = self.connects.get(why, 0) + 1

    def _connect_ready(self, conn: RawConnection) -> None:
        if not conn.progress():  # the TLS handshake wants the other direction
            self.selector.modify(conn.sock, conn.wants, conn)
            return
        self.pending.remove(conn)
        if conn.failure is not None:
            self._forget(conn)
            conn.close()
            self._failed(conn.failure)
            return
        self.selector.modify(conn.sock, selectors.EVENT_READ, conn)
        self.conns.append(conn)
        self.since[id(conn)] = conn.opened_at
        self.at_once += conn.opened_at - conn.started_at < SYN_RETRY
        self.on_open(conn, len(self.conns), conn.opened_at)

    def read_ready(self, timeout: float) -> None:
        if not self.selector.get_map():
            time.sleep(timeout)
            return
        for key, _ in self.selector.select(timeout):
            conn = key.data
            if conn.connecting:
                self._connect_ready(conn)
            elif conn.poll_closed() or not conn.open:
                self._forget(conn)
            else:
                self.on_data(conn)

    def on_data(self, conn: RawConnection) -> None: ...

    def open_count(self) -> int:
        return sum(1 for c in self.conns if c.open)

    def held(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for conn in self.conns:
            if conn.closed_at is not None:
                kind = self.kind_of.get(id(conn), self.kinds[0])
                out.setdefault(kind, []).append(conn.closed_at - self.since[id(conn)])
        return out

    def kept_open(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for conn in self.conns:
            if conn.open:
                kind = self.kind_of.get(id(conn), self.kinds[0])
                out[kind] = out.get(kind, 0) + 1
        return out

    def close_all(self) -> None:
        for _ in self.pending:  # still connecting when the attack ended
            self._failed("timed out")
        for conn in [*self.conns, *self.pending]:
            try:
                self._forget(conn)
                conn.close()
            except OSError:
                pass
        self.selector.close()

    def _forget(self, conn: RawConnection) -> None:
        if conn.sock is not None:
            try:
                self.selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass

    def head(self, length: int | None, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
        target = f"{_endpoint_path(self.plan.endpoint)}?{self.plan.query}"
        return request_head("POST", target, self._netloc(), [*self.plan.headers, *extra], length)

    def _netloc(self) -> str:
        return _endpoint_netloc(self.plan.endpoint)

    def count_status(self, conn: RawConnection) -> None:
        status = conn.status()
        key = str(status) if status is not None else "no answer"
        self.statuses[key] = self.statuses.get(key, 0) + 1


class SlowHeaders(Attack):
    """Slowloris: each connection sends its request line, then a header byte every 2 s,
    never ending the headers."""

    name, kinds = "slow-headers", ("slow-headers",)

    def on_open(self, conn: RawConnection, n: int, now: float) -> None:
        conn.send_some(f"POST {_endpoint_path(self.plan.endpoint)}?{self.plan.query} HTTP/1.1\r\n"
                       f"Host: {self._netloc()}\r\nX-Slow: ".encode("latin-1"))
        conn.next_drip = now + HEADER_DRIP_EVERY  # type: ignore[attr-defined]

    def on_tick(self, now: float) -> None:
        self.open_more(now)
        for conn in self.conns:
            if conn.open and now >= conn.next_drip:  # type: ignore[attr-defined]
                conn.send_some(b"a")
                conn.next_drip = now + HEADER_DRIP_EVERY  # type: ignore[attr-defined]


class SlowBody(Attack):
    """Whole headers of a valid request, then its body 4 bytes a second: never finished
    within the attack, so each is an upload cut short when the attack ends."""

    name, kinds = "slow-body", ("slow-body",)

    def on_open(self, conn: RawConnection, n: int, now: float) -> None:
        body, events = self.plan.make_body(3)
        conn.body, conn.sent, conn.next_drip = body, 0, now + BODY_DRIP[1]  # type: ignore[attr-defined]
        conn.events = events  # type: ignore[attr-defined]
        conn.send_some(self.head(len(body)))

    def on_tick(self, now: float) -> None:
        self.open_more(now)
        for conn in self.conns:
            if conn.open and now >= conn.next_drip and conn.sent < len(conn.body) - 1:  # type: ignore[attr-defined]
                step = min(BODY_DRIP[0], len(conn.body) - 1 - conn.sent)  # type: ignore[attr-defined]
                conn.sent += conn.send_some(conn.body[conn.sent:conn.sent + step])  # type: ignore[attr-defined]
                conn.next_drip = now + BODY_DRIP[1]  # type: ignore[attr-defined]

    def close_all(self) -> None:
        for conn in self.conns:
            self.uploads.append(Upload(conn.events, conn.sent, len(conn.body), "plain", "reset"))  # type: ignore[attr-defined]
            self._forget(conn)
            conn.abort()
        super().close_all()


class Idle(Attack):
    """Half the connections say nothing at all; the other half send one valid request,
    read its answer, and then stay open, idle, as a kept-alive connection."""

    name, kinds = "idle", ("silent", "kept-alive")

    def on_open(self, conn: RawConnection, n: int, now: float) -> None:
        if n % 2:
            self.kind_of[id(conn)] = "silent"
            return
        self.kind_of[id(conn)] = "kept-alive"
        body, _ = self.plan.make_body(1)
        conn.pending = self.head(len(body)) + body  # type: ignore[attr-defined]
        conn.answered = False  # type: ignore[attr-defined]
        self._push(conn)

    def _push(self, conn: RawConnection) -> None:
        pending = getattr(conn, "pending", b"")
        if pending:
            conn.pending = pending[conn.send_some(pending):]  # type: ignore[attr-defined]

    def on_tick(self, now: float) -> None:
        self.open_more(now)
        for conn in self.conns:
            if conn.open and getattr(conn, "pending", b""):
                self._push(conn)

    def on_data(self, conn: RawConnection) -> None:
        if getattr(conn, "answered", True) or not conn.response_complete():
            return
        conn.answered = True  # type: ignore[attr-defined]
        self.count_status(conn)
        self.since[id(conn)] = time.monotonic()  # idle from the answer on


class Flood(Attack):
    """As many connections as allowed, all opened first, then each sends one whole valid
    batch at once and closes once answered."""

    name, kinds = "flood", ("flood",)

    def __init__(self, plan: Plan, sockets: int) -> None:
        super().__init__(plan, sockets)
        self.finished = 0
        self.fired = False

    def on_tick(self, now: float) -> None:
        if not self.fired:
            self.open_more(now, per_tick=self.sockets)  # the flood: no ramp
            if self.resolved():  # every connect that will succeed has: the burst goes out
                self.fired = True
                for conn in self.conns:
                    body, _ = self.plan.make_body(1)
                    conn.pending = self.head(len(body)) + body  # type: ignore[attr-defined]
        for conn in self.conns:
            pending = getattr(conn, "pending", b"")
            if conn.open and pending:
                conn.pending = pending[conn.send_some(pending):]  # type: ignore[attr-defined]

    def on_data(self, conn: RawConnection) -> None:
        if conn.response_complete():
            self.count_status(conn)
            conn.counted = True  # type: ignore[attr-defined]
            self._forget(conn)
            conn.close()
            self.finished += 1

    def read_ready(self, timeout: float) -> None:
        super().read_ready(timeout)
        for conn in self.conns:  # closed by the server before a whole answer
            if conn.closed_at is not None and not getattr(conn, "counted", False):
                conn.counted = True  # type: ignore[attr-defined]
                self.count_status(conn)
                self.finished += 1

    def done(self, now: float) -> bool:
        return self.fired and self.finished >= len(self.conns)

    def close_all(self) -> None:
        for conn in self.conns:
            if conn.open and not getattr(conn, "counted", False):  # no answer by the deadline
                self.statuses["no answer"] = self.statuses.get("no answer", 0) + 1
        super().close_all()


class Aborted(Attack):
    """Uploads cut off halfway through the body, plain and base64-gzip, half of them
    with a reset and half with a clean close."""

    name, kinds = "aborted", ("aborted",)

    def __init__(self, plan: Plan, sockets: int) -> None:
        super().__init__(plan, min(sockets, ABORTED_UPLOADS))

    def on_open(self, conn: RawConnection, n: int, now: float) -> None:
        body, events = self.plan.make_body(20)
        encoding = "base64-gzip" if n % 2 else "plain"
        extra: tuple[tuple[str, str], ...] = ()
        if encoding == "base64-gzip":
            body = base64.b64encode(gzip.compress(body))
        head = self.head(len(body), extra) if encoding == "plain" else \
            request_head("POST", f"{_endpoint_path(self.plan.endpoint)}?{self.plan.query}&compression=gzip",
                         self._netloc(), self.plan.headers, len(body))
        half = len(body) // 2
        sent = conn.send_some(head + body[:half]) - len(head)
        how = "reset" if n % 4 < 2 else "close"
        self.uploads.append(Upload(events, max(0, sent), len(body), encoding, how))
        self._forget(conn)
        conn.abort() if how == "reset" else conn.close()

    def on_tick(self, now: float) -> None:
        self.open_more(now, per_tick=4)
        if self.resolved() and not hasattr(self, "all_cut_at"):
            self.all_cut_at = now

    def done(self, now: float) -> bool:
        # A moment more of canary after the last cut: a collector that chokes on one shows it.
        return now - getattr(self, "all_cut_at", now) >= ABORT_SETTLE


ATTACKS: dict[str, type[Attack]] = {a.name: a for a in (SlowHeaders, SlowBody, Idle, Flood, Aborted)}


# --- running one attack ------------------------------------------------------------------

def run_attack(kind: str, plan: Plan, recover: Callable[[float], float | None],
               on_tick: Callable[[], None] | None = None) -> AttackReport:
    """Run one attack with the canary beside it; afterwards wait (bounded) until the
    collector serves again. ``recover(grace)`` returns the seconds it took, or None."""
    allowed = allowed_sockets(plan.sockets)
    attack = ATTACKS[kind](plan, allowed)
    report = AttackReport(kind, plan.seconds, plan.sockets, attack.sockets)
    started = time.monotonic()
    end = started + plan.seconds
    canary = Canary(plan, started, end)
    canary.start()
    next_sample = started
    try:
        while (now := time.monotonic()) < end and not attack.done(now):
            attack.on_tick(now)
            attack.read_ready(TICK)
            if now >= next_sample:
                open_now = attack.open_count()
                report.series.append((now - started, open_now))
                report.peak_open = max(report.peak_open, open_now)
                next_sample = now + SAMPLE_EVERY
            if on_tick is not None:
                on_tick()
        report.series.append((time.monotonic() - started, attack.open_count()))
        report.held, report.kept_open = attack.held(), attack.kept_open()
    finally:
        attack.close_all()
        report.closed_at = time.monotonic()
        canary.stop.set()
    report.series.append((time.monotonic() - started, 0))
    report.opened, report.connect_failures = len(attack.conns), attack.connect_failures
    report.connects, report.connected_at_once = dict(attack.connects), attack.at_once
    report.statuses, report.uploads = attack.statuses, attack.uploads
    report.recovered_after = recover(RECOVERY_GRACE)
    report.shots = canary.finish()
    report.duration = time.monotonic() - started
    return report


def recovery(send_good: Callable[[float], int | None]) -> Callable[[float], float | None]:
    """A ``recover`` for run_attack: a known-good request every 0.2 s until one gets
    200, for at most ``grace`` seconds."""
    def recover(grace: float) -> float | None:
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < grace:
            if send_good(max(0.5, grace - elapsed)) == 200:
                return time.monotonic() - started
            time.sleep(0.2)
        return None
    return recover


def make_events_body(event: Callable[..., dict[str, Any]]) -> Callable[[int], tuple[bytes, list[dict[str, Any]]]]:
    """A ``make_body`` from a target's event factory: tagged events, compact JSON."""
    def make(count: int) -> tuple[bytes, list[dict[str, Any]]]:
        events = [event(attributes={"network": "hostile", "k": k}) for k in range(count)]
        return json.dumps(events, separators=(",", ":")).encode(), events
    return make


def _endpoint_path(endpoint: str) -> str:
    from urllib.parse import urlsplit
    return urlsplit(endpoint).path or "/"


def _endpoint_netloc(endpoint: str) -> str:
    from urllib.parse import urlsplit
    return urlsplit(endpoint).netloc.rpartition("@")[2]


def spread(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "min": _round(min(values)), "median": _round(statistics.median(values)),
            "max": _round(max(values))} if values else {"count": 0}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
