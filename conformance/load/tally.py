"""What a load run sent and got back, kept small enough for a soak.

Each process (the single process, or each Locust worker) keeps a ``Tally``: one
compact row per request (sequence number, events, status, kind, time of the answer)
and per-second buckets of counts and latencies. ``drain`` hands over what was
recorded since the last drain as plain lists and bytes, which is what Locust's
messages carry (msgpack). The master, or the single process, merges the drains of
every sender into one ``RunLedger``: the history the checker judges.

An event_id names its sender and sequence number (``pool.parse_event_id``), so the
ledger needs no per-event memory: about 25 bytes a request.
"""
from __future__ import annotations

import math
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from conformance.load.pool import KINDS, Prepared

UNANSWERED = -1       # status of a sequence number never recorded (a send cut off at a hard stop)
NO_STATUS = 0         # no HTTP answer: a timeout or a connection error


def latency_bucket(ms: float) -> int:
    """Latency in microseconds, rounded to 3 significant digits (at most 1% off), so a
    histogram stays small whatever the run's length."""
    us = int(ms * 1000)
    if us < 1000:
        return us
    step = 10 ** (int(math.log10(us)) - 2)
    return us - us % step


def percentile(histogram: dict[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a latency histogram, in milliseconds."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, math.ceil(total * q))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket / 1000
    return max(histogram) / 1000


@dataclass
class Bucket:
    """One second (or one kind) of traffic."""

    requests: int = 0
    failures: int = 0
    timeouts: int = 0
    bytes: int = 0
    events: int = 0
    latency: Counter = field(default_factory=Counter)

    def add(self, failed: bool, timeout: bool, size: int, events: int, bucket: int) -> None:
        self.requests += 1
        self.failures += failed
        self.timeouts += timeout
        self.bytes += size
        self.events += events
        self.latency[bucket] += 1

    def merge(self, other: "Bucket") -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.timeouts += other.timeouts
        self.bytes += other.bytes
        self.events += other.events
        self.latency.update(other.latency)

    def to_wire(self) -> list[Any]:
        return [self.requests, self.failures, self.timeouts, self.bytes, self.events,
                [[k, v] for k, v in self.latency.items()]]

    @classmethod
    def from_wire(cls, data: list[Any]) -> "Bucket":
        requests, failures, timeouts, size, events, latency = data
        return cls(requests, failures, timeouts, size, events, Counter({int(k): v for k, v in latency}))


class Tally:
    """One process's record of its sends (greenlets share it: gevent switches only on I/O)."""

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self.recorded = 0  # rows ever recorded, so the master can tell when it has them all
        self._reset()

    def _reset(self) -> None:
        self.seq, self.events, self.status = array("q"), array("i"), array("h")
        self.kind, self.answered_at = array("b"), array("d")
        self.seconds: dict[int, Bucket] = {}
        self.kinds: dict[str, Bucket] = {}
        self.statuses: Counter = Counter()
        self.errors: Counter = Counter()

    def record(self, sent: Prepared, status: int, error: str | None, elapsed_ms: float, timeout: bool = False) -> None:
        now = time.time()
        failed = status != 200
        bucket = latency_bucket(elapsed_ms)
        self.seq.append(sent.seq)
        self.events.append(sent.events)
        self.status.append(status)
        self.kind.append(KINDS.index(sent.kind))
        self.answered_at.append(now)
        second = int(now)
        if second not in self.seconds:
            self.seconds[second] = Bucket()
        self.seconds[second].add(failed, timeout, len(sent.body), sent.events, bucket)
        if sent.kind not in self.kinds:
            self.kinds[sent.kind] = Bucket()
        self.kinds[sent.kind].add(failed, timeout, len(sent.body), sent.events, bucket)
        self.statuses[str(status)] += 1
        if error:
            self.errors[error] += 1
        self.recorded += 1

    def drain(self) -> dict[str, Any]:
        """Everything since the last drain, as msgpack-friendly data; starts afresh."""
        data = {"worker": self.worker, "recorded": self.recorded,
                "rows": [self.seq.tobytes(), self.events.tobytes(), self.status.tobytes(),
                         self.kind.tobytes(), self.answered_at.tobytes()],
                "seconds": [[s, b.to_wire()] for s, b in self.seconds.items()],
                "kinds": [[k, b.to_wire()] for k, b in self.kinds.items()],
                "statuses": dict(self.statuses), "errors": dict(self.errors)}
        self._reset()
        return data


class Sender:
    """One sender's requests in the ledger, indexed by sequence number."""

    def __init__(self) -> None:
        self.events, self.status = array("i"), array("h")
        self.kind, self.answered_at = array("b"), array("d")
        self.received = 0    # rows merged
        self.recorded: int | None = None  # rows the sender says it recorded (its final drain)

    def grow(self, size: int) -> None:
        missing = size - len(self.events)
        if missing > 0:
            self.events.extend([0] * missing)
            self.status.extend([UNANSWERED] * missing)
            self.kind.extend([0] * missing)
            self.answered_at.extend([0.0] * missing)

    def acked(self, seq: int) -> bool:
        return 0 <= seq < len(self.status) and self.status[seq] == 200


class RunLedger:
    """The merged history of a run: every sender's rows, per-second and per-kind
    buckets, status and error counts."""

    def __init__(self) -> None:
        self.senders: dict[int, Sender] = {}
        self.seconds: dict[int, Bucket] = {}
        self.kinds: dict[str, Bucket] = {}
        self.statuses: Counter = Counter()
        self.errors: Counter = Counter()

    def merge(self, data: dict[str, Any], final: bool = False) -> None:
        sender = self.senders.setdefault(int(data["worker"]), Sender())
        seq, events, status, kind, answered = (array(code) for code in "qihbd")
        for column, raw in zip((seq, events, status, kind, answered), data["rows"]):
            column.frombytes(raw)
        if len(seq):
            sender.grow(max(seq) + 1)
        for i, s in enumerate(seq):
            sender.events[s], sender.status[s] = events[i], status[i]
            sender.kind[s], sender.answered_at[s] = kind[i], answered[i]
        sender.received += len(seq)
        if final:
            sender.recorded = int(data["recorded"])
        for target, pairs in ((self.seconds, data["seconds"]), (self.kinds, data["kinds"])):
            for key, wire in pairs:
                target.setdefault(key, Bucket()).merge(Bucket.from_wire(wire))
        self.statuses.update(data["statuses"])
        self.errors.update(data["errors"])

    def incomplete_senders(self) -> list[int]:
        """Senders whose final account never arrived, or arrived short."""
        return sorted(w for w, s in self.senders.items() if s.recorded is None or s.recorded != s.received)

    def total(self) -> Bucket:
        out = Bucket()
        for bucket in self.seconds.values():
            out.merge(bucket)
        return out

    def acked_requests(self) -> Iterable[tuple[int, int, int, float]]:
        """(worker, seq, events, answered_at) of every request answered 200."""
        for worker, sender in self.senders.items():
            for seq, status in enumerate(sender.status):
                if status == 200:
                    yield worker, seq, sender.events[seq], sender.answered_at[seq]


__all__ = ["Tally", "RunLedger", "Bucket", "Sender", "latency_bucket", "percentile", "UNANSWERED", "NO_STATUS"]
