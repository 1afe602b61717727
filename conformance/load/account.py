"""Loss accounting for a load run: read the sink back and judge the ledger.

Every event of a request answered 200 must be in the sink (``lost`` counts those that
are not); an event stored more than once is ``duplicated`` (at-least-once stores
do that on retries, but a load run never retries, so a copy is the collector's own).
Events of requests not answered 200 may or may not be there (a timeout may have been
stored); they are counted, not judged.

The sink is read with ``conformance.engines.sinks`` (streamed, read-only) and polled with
``conformance.engines.readback.poll_until``: a batching pipeline's lag is waited out for up
to ``--sink-wait`` seconds, never counted as loss. Memory is one byte per event sent
(a copy counter) and one float per request (when it was first seen); ids are parsed,
never kept.
"""
from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

from conformance.engines.readback import poll_until
from conformance.load.pool import KINDS, id_prefix, parse_event_id
from conformance.load.tally import RunLedger
from conformance.engines.sinks import Sink, SinkError
from conformance.engines.sinks.records import RecordShape, events_in

MAX_LOST_SHOWN = 20


class SeenLog:
    """When each request's events were first seen in the sink, per sender."""

    def __init__(self) -> None:
        self.by_sender: dict[int, array] = {}

    def mark(self, worker: int, seq: int, at: float) -> None:
        seen = self.by_sender.get(worker)
        if seen is None:
            seen = self.by_sender[worker] = array("d")
        if seq >= len(seen):
            seen.extend([0.0] * (seq + 1 - len(seen)))
        if not seen[seq]:
            seen[seq] = at

    def first_seen(self, worker: int, seq: int) -> float:
        seen = self.by_sender.get(worker)
        return seen[seq] if seen is not None and seq < len(seen) else 0.0


@dataclass
class Pass:
    """One full read of the sink."""

    copies: dict[int, bytearray]      # per sender, one counter per event slot (saturates at 255)
    records: int = 0
    records_with_run_events: int = 0
    undecodable: int = 0
    unknown: int = 0                  # ids with the run's tag that no recorded request carried
    started_at: float = 0.0


@dataclass
class Account:
    """The verdict's facts about delivery."""

    acked_requests: int = 0
    acked: int = 0
    found: int = 0
    lost: int = 0
    duplicated: int = 0               # acknowledged events stored more than once
    extra_copies: int = 0
    unacked_sent: int = 0             # events of requests not answered 200 (timeouts, errors)
    unacked_stored: int = 0
    unknown: int = 0
    lost_events: list[dict[str, Any]] = field(default_factory=list)
    lag_ms: dict[str, float] | None = None
    catch_up_s: float | None = None   # from the last 200 to the poll that found every event
    read: dict[str, Any] = field(default_factory=dict)
    incomplete_senders: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"events": {"acked": self.acked, "found": self.found, "lost": self.lost,
                           "duplicated": self.duplicated, "extra_copies": self.extra_copies,
                           "unacked_sent": self.unacked_sent, "unacked_stored": self.unacked_stored,
                           "unknown": self.unknown},
                "acked_requests": self.acked_requests, "lost_events": self.lost_events,
                "lag_ms": self.lag_ms, "catch_up_s": self.catch_up_s, "read": self.read,
                "incomplete_senders": self.incomplete_senders}


class Layout:
    """Where each event of each recorded request has its copy counter."""

    def __init__(self, ledger: RunLedger) -> None:
        self.ledger = ledger
        self.offsets: dict[int, array] = {}
        self.sizes: dict[int, int] = {}
        for worker, sender in ledger.senders.items():
            offsets, total = array("q"), 0
            for count in sender.events:
                offsets.append(total)
                total += count
            self.offsets[worker], self.sizes[worker] = offsets, total

    def slot(self, worker: int, seq: int, index: int) -> int | None:
        sender = self.ledger.senders.get(worker)
        if sender is None or seq >= len(sender.events) or index >= sender.events[seq]:
            return None
        return self.offsets[worker][seq] + index


def scan(sink: Sink, shape: RecordShape, tag: str, seen: SeenLog, layout: Layout | None,
         poll_started: float) -> Pass:
    """Read the whole sink once: count copies of the run's events (with a layout) and
    note when each request was first seen."""
    result = Pass({w: bytearray(n) for w, n in (layout.sizes.items() if layout else ())}, started_at=poll_started)
    for record in sink.records():
        result.records += 1
        held = events_in(record, shape)
        if held.problem is not None:
            result.undecodable += 1
        ours = False
        for event in held.events:
            parsed = parse_event_id(event.get("event_id"), tag)
            if parsed is None:
                continue
            ours = True
            worker, seq, index = parsed
            seen.mark(worker, seq, poll_started)
            if layout is None:
                continue
            slot = layout.slot(worker, seq, index)
            if slot is None:
                result.unknown += 1
            elif result.copies[worker][slot] < 255:
                result.copies[worker][slot] += 1
        result.records_with_run_events += ours
    return result


def lost_in(result: Pass, layout: Layout) -> int:
    """Acknowledged events the pass did not find."""
    lost = 0
    for worker, seq, events, _ in layout.ledger.acked_requests():
        start = layout.offsets[worker][seq]
        lost += result.copies[worker][start:start + events].count(0)
    return lost


def account(ledger: RunLedger, sink: Sink, shape: RecordShape, tag: str, wait: float,
            seen: SeenLog | None = None) -> Account:
    """Poll the sink until every acknowledged event is visible or ``wait`` is over, then
    count. Raises SinkError when the sink cannot be read."""
    seen = seen if seen is not None else SeenLog()
    layout = Layout(ledger)
    result, polls, seconds = poll_until(lambda at: scan(sink, shape, tag, seen, layout, at),
                                        lambda r: lost_in(r, layout) == 0, wait)
    out = Account(unknown=result.unknown, incomplete_senders=ledger.incomplete_senders())
    out.read = {"records": result.records, "records_with_run_events": result.records_with_run_events,
                "undecodable": result.undecodable, "polls": polls, "seconds": round(seconds, 3)}
    lags, last_ack = [], 0.0
    for worker, sender in ledger.senders.items():
        copies, offsets = result.copies[worker], layout.offsets[worker]
        for seq, status in enumerate(sender.status):
            events = sender.events[seq]
            counts = copies[offsets[seq]:offsets[seq] + events]
            stored = events - counts.count(0)
            if status != 200:
                out.unacked_sent += events
                out.unacked_stored += stored
                continue
            out.acked_requests += 1
            out.acked += events
            out.found += stored
            out.duplicated += stored - counts.count(1)
            out.extra_copies += sum(counts) - stored
            last_ack = max(last_ack, sender.answered_at[seq])
            first = seen.first_seen(worker, seq)
            if first:
                lags.append(max(0.0, (first - sender.answered_at[seq]) * 1000))
            if stored < events:
                _note_lost(out, tag, worker, seq, counts, sender)
    out.lost = out.acked - out.found
    out.lag_ms = lag_summary(lags)
    if out.acked and not out.lost:
        out.catch_up_s = round(max(0.0, result.started_at - last_ack), 3)
    return out


def _note_lost(out: Account, tag: str, worker: int, seq: int, counts: bytearray, sender: Any) -> None:
    for index, count in enumerate(counts):
        if len(out.lost_events) >= MAX_LOST_SHOWN:
            return
        if not count:
            answered = dt.datetime.fromtimestamp(sender.answered_at[seq], dt.timezone.utc)
            out.lost_events.append({
                "event_id": id_prefix(tag, worker, seq).decode() + f"{index:08x}",
                "worker": worker, "seq": seq, "kind": KINDS[sender.kind[seq]],
                "answered_at": answered.isoformat(timespec="milliseconds")})


def lag_summary(lags: list[float]) -> dict[str, float] | None:
    """p50, p95 and max of the per-request lags, in milliseconds."""
    if not lags:
        return None
    lags.sort()
    return {"p50": round(statistics.median(lags), 1), "p95": round(lags[int(0.95 * (len(lags) - 1))], 1),
            "max": round(lags[-1], 1), "samples": len(lags)}


class SinkPoller:
    """Reads the sink every ``interval`` seconds while the load runs, so that lag is
    measured as the run goes (its resolution is the interval). ``run`` belongs in a
    native thread; ``stop`` asks it to end after the pass under way."""

    def __init__(self, sink: Sink, shape: RecordShape, tag: str, interval: float,
                 sleep: Any = time.sleep) -> None:
        self.sink, self.shape, self.tag, self.interval = sink, shape, tag, interval
        self.seen = SeenLog()
        self.polls = 0
        self.error: str | None = None
        self._sleep = sleep
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            try:
                scan(self.sink, self.shape, self.tag, self.seen, None, started)
            except SinkError as exc:
                self.error = str(exc)
                return
            self.polls += 1
            while not self._stop.is_set() and time.time() < started + self.interval:
                self._sleep(0.1)

    def stop(self) -> None:
        self._stop.set()


__all__ = ["Account", "account", "SeenLog", "SinkPoller", "scan", "lag_summary"]
