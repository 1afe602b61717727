"""The delivery checker: read back what the sink holds of this run, judge the history.

``read_until`` polls the sink (each poll reads it whole, with bounded memory: only
this run's events are kept) until every event it waits for is visible or the wait is
over, so that a batching pipeline's lag is never counted as loss. The judges compare
the ledger (what was sent, how it was answered) with what was read:

* lost: an event of a request answered 200 that the sink does not hold;
* corrupt: held, but no stored copy equals any version sent, as a JSON value with
  integers kept apart from floats (``1 == 1.0`` must not hide a re-encoding);
* stored after a refusal: an event of a request refused with 4xx, in the sink.
"""
from __future__ import annotations

import datetime as dt
import statistics
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

from conformance.engines.keytable import KEY_BYTES, IdSlots, Records, Stamps, uuid_key, uuid_text
from conformance.engines.ledger import FINGERPRINT_BYTES, Ledger, Send, as_sent, canonical, fingerprint
from conformance.engines.sinks import BadRecord, Sink, SinkError
from conformance.engines.sinks.memo import RecordMemo, Seen
from conformance.engines.sinks.records import RecordShape, events_in

MAX_PROBLEMS_SHOWN = 20
MAX_DIFF_LINES = 6
AUTH_REFUSALS = (401, 403)  # the MUST covers the appId and the auth refusals


class Copies(Records):
    """Per event_id of the run, the fingerprint of each stored copy: a read-only mapping
    of id text -> tuple of fingerprints, kept as a keytable (some 50 bytes an event)."""

    def __init__(self, expected: int = 0) -> None:
        super().__init__(FINGERPRINT_BYTES, expected)

    def __getitem__(self, event_id: str) -> tuple[bytes, ...]:
        slot = self.ids.find(event_id)
        if slot < 0:
            raise KeyError(event_id)
        return tuple(self.at(slot))

    def get(self, event_id: str, default: Any = ()) -> Any:
        slot = self.ids.find(event_id)
        return tuple(self.at(slot)) if slot >= 0 else default

    def add_pairs(self, pairs: bytes, ours: Callable[[bytes], bool], fresh: bytes | None = None) -> bool:
        """Add the copies of a record's packed pairs whose id is ``ours`` (or starts with
        the ``fresh`` tag bytes); whether any was. The hot loop of a pass (once per stored
        event), so written out flat."""
        found, first, more, add = False, self._first, self._more, self.ids.add_key
        for at in range(0, len(pairs), PAIR_BYTES):
            key = pairs[at:at + KEY_BYTES]
            if (fresh is not None and pairs.startswith(fresh, at)) or ours(key):
                found = True
                slot, new = add(key)
                if new:
                    first += pairs[at + KEY_BYTES:at + PAIR_BYTES]
                else:
                    more[slot] = more.get(slot, b"") + pairs[at + KEY_BYTES:at + PAIR_BYTES]
        return found

    def count_token(self, token: bytes | str) -> int:
        """How many copies of the id (a token of ``ids.tokens()``): 0 when none."""
        slot = self.ids.find_token(token)
        return self.count_at(slot) if slot >= 0 else 0

    def keys(self) -> set[str]:
        return set(self)

    def items(self) -> Iterable[tuple[str, tuple[bytes, ...]]]:
        for slot, event_id in enumerate(self.ids.ids()):
            yield event_id, tuple(self.at(slot))


@dataclass
class ReadBack:
    """This run's events as one or more polls of the sink found them: per event_id, the
    fingerprint of each stored copy. The copies themselves are read again (``events``)
    only for the few events a judge must show or compare field by field."""

    copies: Copies = field(default_factory=Copies)
    first_seen: Stamps = field(default_factory=Stamps)  # epoch seconds, per event_id waited for
    records: int = 0
    records_with_run_events: int = 0
    undecodable: int = 0
    undecodable_samples: list[str] = field(default_factory=list)
    metadata: Counter = field(default_factory=Counter)
    polls: int = 0
    seconds: float = 0.0
    source: tuple[Sink, RecordShape] | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        return {"records": self.records, "records_with_run_events": self.records_with_run_events,
                "undecodable": self.undecodable, "undecodable_samples": self.undecodable_samples,
                "polls": self.polls, "seconds": round(self.seconds, 3)}

    def events(self, ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The stored copies of these events, decoded, as this read found them: the sink
        is read once more, and only copies whose fingerprint this read saw are kept (a
        copy stored since is not part of what was judged)."""
        wanted = {i: set(self.copies[i]) for i in ids if i in self.copies}
        out: dict[str, list[dict[str, Any]]] = {i: [] for i in wanted}
        if not wanted or self.source is None:
            return out
        sink, shape = self.source
        for record in sink.records():
            for event in events_in(record, shape).events:
                event_id = event.get("event_id")
                if isinstance(event_id, str) and event_id in wanted and fingerprint(event) in wanted[event_id]:
                    out[event_id].append(event)
        return out


PAIR_BYTES = KEY_BYTES + FINGERPRINT_BYTES


class Decoded:
    """What one record holds, ready for a pass: its events as pairs of event_id and
    fingerprint (none when no event is the run's; events without a string event_id
    cannot be any run's), its metadata fields, and why it could not be decoded. The
    pairs are one bytes object of 32 bytes an event (the id's ``uuid_key``, then the
    fingerprint) when every id is UUID text, as every id the suite makes is; else a flat
    tuple of id text and fingerprint in turn. A memo keeps the bytes, so a record it
    knows costs some 70 bytes however many passes read it."""

    __slots__ = ("pairs", "meta_fields", "problem")

    def __init__(self, pairs: tuple[Any, ...], meta_fields: tuple[str, ...], problem: str | None) -> None:
        self.pairs, self.meta_fields, self.problem = pairs, meta_fields, problem

    @classmethod
    def of(cls, record: Any, shape: RecordShape, is_ours: Callable[[Any], bool]) -> "Decoded":
        """Fingerprints only for a record holding an event of the run: those of the
        other records would be computed, and dropped, on every pass."""
        held = events_in(record, shape)
        mine = [e for e in held.events if isinstance(e.get("event_id"), str)]
        meta = _META_FIELDS.setdefault(tuple(held.meta), tuple(held.meta))  # a few shapes, shared
        if not any(is_ours(e["event_id"]) for e in mine):
            return cls((), meta, held.problem)
        keys = [uuid_key(e["event_id"]) for e in mine]
        if None in keys:
            pairs: Any = tuple(x for e in mine for x in (e["event_id"], fingerprint(e)))
        else:
            pairs = b"".join(k + fingerprint(e) for k, e in zip(keys, mine))
        return cls(pairs, meta, held.problem)

    def kept(self) -> Any:
        """What a memo keeps: the bare pairs for a plain record (most are), else this."""
        return self.pairs if not self.meta_fields and self.problem is None else self

    @classmethod
    def recalled(cls, kept: Any) -> "Decoded":
        return cls(kept, (), None) if type(kept) in (bytes, tuple) else kept


_META_FIELDS: dict[tuple[str, ...], tuple[str, ...]] = {}


def read_once(sink: Sink, shape: RecordShape, is_ours: Callable[[Any], bool],
              memo: RecordMemo | None = None) -> ReadBack:
    """One full pass over the sink, keeping only this run's events. With a memo (one per
    sink and shape: ``memo_for``), records an earlier pass found ours are not decoded again."""
    # Sized for the records the memo found ours (at least an event each): no growth.
    found = ReadBack(copies=Copies(len(memo) if memo is not None else 0), source=(sink, shape))
    started = time.monotonic()
    copies, meta_counts = found.copies, Counter()
    ours_key = key_judge(is_ours)
    fresh = getattr(getattr(is_ours, "__self__", None), "fresh_key_prefix", None)
    for record in sink.records() if memo is None else sink.records(memo):
        found.records += 1
        decoded = Decoded.recalled(record.result) if type(record) is Seen else Decoded.of(record, shape, is_ours)
        if decoded.problem is not None:
            found.undecodable += 1
            if len(found.undecodable_samples) < 3:
                found.undecodable_samples.append(decoded.problem[:200])
        # Asked on every pass: the ledger's acked and refused ids grow during the run,
        # so a record not ours may be ours by the next pass (once ours, always ours).
        ours = False
        pairs = decoded.pairs
        if type(pairs) is bytes:
            ours = copies.add_pairs(pairs, ours_key, fresh) or ours
        else:
            for at in range(0, len(pairs), 2):
                if is_ours(pairs[at]):
                    ours = True
                    copies.add(pairs[at], pairs[at + 1])
        if memo is not None and type(record) is not Seen:
            # Only records of this run are remembered: a sink's earlier rows cost nothing.
            if ours and not isinstance(record, BadRecord):
                memo.remember(decoded.kept())
            else:
                memo.forget_pending()
        if ours:
            found.records_with_run_events += 1
            meta_counts[decoded.meta_fields] += 1
    for fields, count in meta_counts.items():
        for name in fields:
            found.metadata[name] += count
    found.polls, found.seconds = 1, time.monotonic() - started
    return found


def key_judge(is_ours: Callable[[Any], bool]) -> Callable[[bytes], bool]:
    """``is_ours`` for an id given by its ``uuid_key``: a ledger's own (no text made),
    else ``is_ours`` of the id's text."""
    by_key = getattr(getattr(is_ours, "__self__", None), "is_ours_key", None)
    if callable(by_key):
        return by_key
    return lambda key: is_ours(uuid_text(key))


_MEMOS: "weakref.WeakKeyDictionary[Sink, dict[RecordShape, RecordMemo]]" = weakref.WeakKeyDictionary()


def memo_for(sink: Sink, shape: RecordShape) -> RecordMemo:
    """The memo of how this sink's records decode in this shape, shared by every read-back
    of the run (see conformance/engines/sinks/memo.py). It holds decodings only: which events are
    this run's is decided afresh on every pass."""
    per_sink = _MEMOS.setdefault(sink, {})
    return per_sink.setdefault(shape, RecordMemo())


def read_until(sink: Sink, shape: RecordShape, is_ours: Callable[[Any], bool],
               wanted: Iterable[str] | Records, wait: float, memo: RecordMemo | None = None) -> ReadBack:
    """Poll until every wanted event_id is visible, or ``wait`` seconds have passed.
    ``wanted`` may be a ledger's book (``ledger.acked``): its ids are not copied out.
    ``first_seen`` holds the wanted ids' times (the lags measured are theirs), beside
    the index of the wanted ids: 8 bytes each.

    Raises SinkError when the sink cannot be read."""
    if isinstance(wanted, Records):
        wanted_ids = wanted.ids
    else:
        wanted_ids = IdSlots()
        for event_id in wanted:
            wanted_ids.add(event_id)
    first_seen = Stamps(wanted_ids)
    complete = [False]

    def one_pass(poll_started: float) -> ReadBack:
        # One look-up per wanted id: stamps the ones seen, and says whether all are.
        found = read_once(sink, shape, is_ours, memo)
        find, every = found.copies.ids.find_token, True
        for slot, token in enumerate(wanted_ids.tokens()):
            if find(token) >= 0:
                first_seen.note(slot, poll_started)
            else:
                every = False
        complete[0] = every
        return found

    found, polls, seconds = poll_until(one_pass, lambda f: complete[0], wait)
    found.polls, found.first_seen, found.seconds = polls, first_seen, seconds
    return found


T = TypeVar("T")


def poll_until(one_pass: Callable[[float], T], done: Callable[[T], bool], wait: float) -> tuple[T, int, float]:
    """Read the sink afresh until ``done`` holds or ``wait`` seconds have passed; returns
    the last pass, the number of passes and the seconds taken.

    ``one_pass`` is given the wall-clock time its poll began: an event a poll sees was
    there when that poll began (stores read as a snapshot) or appeared during it, so a
    lag is measured to the poll's start. Polls back off from 50 ms to 1 s, so that a
    batching pipeline is not read in a busy loop."""
    started = time.monotonic()
    deadline = started + wait
    interval, polls = 0.05, 0
    while True:
        result = one_pass(time.time())
        polls += 1
        remaining = deadline - time.monotonic()
        if done(result) or remaining <= 0:
            return result, polls, time.monotonic() - started
        del result  # before the next pass: two passes' copies of a large sink never coexist
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, 1.0)


# --- comparing one event ----------------------------------------------------------
def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "float", str: "string", list: "array", dict: "object", type(None): "null"}.get(
        type(value), type(value).__name__)


def json_diff(sent: Any, found: Any, limit: int = MAX_DIFF_LINES) -> list[str]:
    """Where ``found`` differs from ``sent`` as a JSON value, one line per difference
    (at most ``limit``). Fields the store added at the top level of an event are not
    differences: a collector may enrich what it stores."""
    out: list[str] = []
    _diff(sent, found, "", out, limit, top=True)
    return out


def _diff(sent: Any, found: Any, path: str, out: list[str], limit: int, top: bool = False) -> None:
    if len(out) >= limit:
        return
    if isinstance(sent, dict) and isinstance(found, dict):
        for key, value in sent.items():
            if key not in found:
                out.append(f"{path}/{key}: sent {_show(value)}, missing")
            else:
                _diff(value, found[key], f"{path}/{key}", out, limit)
        if not top:
            out.extend(f"{path}/{key}: not sent, found {_show(found[key])}" for key in found if key not in sent)
        del out[limit:]
        return
    if isinstance(sent, list) and isinstance(found, list):
        if len(sent) != len(found):
            out.append(f"{path or '/'}: sent {len(sent)} elements, found {len(found)}")
        for index, (a, b) in enumerate(zip(sent, found)):
            _diff(a, b, f"{path}/{index}", out, limit)
        return
    if not same_scalar(sent, found):
        out.append(f"{path or '/'}: sent {_show(sent)}, found {_show(found)}")


def same_scalar(sent: Any, found: Any) -> bool:
    """Equal as JSON values, integers kept apart from floats. A float sent with an
    integral value may come back without its ".0" (JavaScript prints 1.0 as 1), but an
    integer that comes back as a float was re-encoded: a long timestamp read into a
    double has lost its type, and past 2**53 its value too."""
    sent_kind, found_kind = json_kind(sent), json_kind(found)
    if sent_kind == "float" and found_kind == "integer":
        return sent == found
    return sent_kind == found_kind and sent == found


def _show(value: Any, width: int = 60) -> str:
    text = canonical(value)
    if len(text) > width:
        text = text[:width] + f"... ({len(text):,} characters)"
    kind = json_kind(value)
    return f"{text} ({kind})" if kind in ("integer", "float") else text


# --- judging the history ----------------------------------------------------------------
@dataclass
class Problem:
    kind: str          # lost | corrupt | stored-after-403 | stored-after-4xx | duplicated
    requirement: str
    event_id: str
    send: Send
    sent: dict[str, Any] | None = None
    found: dict[str, Any] | None = None
    diff: list[str] = field(default_factory=list)

    def line(self) -> str:
        ex = self.send.exchange
        when = dt.datetime.fromtimestamp(ex.started_at, dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]
        where = f"sent by {self.send.case} at {when} UTC: {ex.method} {ex.url} -> {self.send.status}"
        return f"{self.kind} {self.event_id} ({where})" + (": " + "; ".join(self.diff) if self.diff else "")

    def to_dict(self) -> dict[str, Any]:
        request = self.send.to_dict()
        return {"kind": self.kind, "requirement": self.requirement, "event_id": self.event_id,
                "case": request.pop("case"), "request": {**request, "sent_at": _iso(request["sent_at"])},
                "sent": self.sent, "found": self.found, "diff": self.diff}


def acked_problems(ledger: Ledger, found: ReadBack, ids: Iterable[str] | None = None,
                   requirement_lost: str = "CS-DELIVERY-NO-LOSS",
                   requirement_corrupt: str = "CS-DELIVERY-INTACT") -> list[Problem]:
    """Lost and corrupt events among the acknowledged ones (``ids``: a subset). The
    whole book is walked by slot and key: an id's text is made only for a problem."""
    problems, suspects, lost = [], {}, []
    for token, sends in _acked(ledger, ids):
        if not sends:
            continue
        slot = found.copies.ids.find_token(token)
        if slot < 0:
            lost.append(sends[0])
            problems.append(Problem("lost", requirement_lost, _text(token), sends[0].send))
            continue
        # The same fingerprint is the same JSON value, kinds and all: no diff to look
        # for. Otherwise a copy may still match (other key order, fields added).
        copies = found.copies.at(slot)
        unmatched = [s for s in {s.fingerprint: s for s in sends}.values() if s.fingerprint not in copies]
        if unmatched:
            suspects[_text(token)] = unmatched
    for problem, event in zip(problems, as_sent(lost)):
        problem.sent = event
    stored_copies = found.events(suspects)
    sent_events = iter(as_sent(s for unmatched in suspects.values() for s in unmatched))
    for event_id, unmatched in suspects.items():
        stored = stored_copies.get(event_id, [])
        for sent, event in zip(unmatched, sent_events):
            if not any(not json_diff(event, c) for c in stored):
                # No copy when the sink dropped it since this read: shown as found nowhere.
                closest = min(stored, key=lambda c: len(json_diff(event, c, limit=50)), default=None)
                problems.append(Problem("corrupt", requirement_corrupt, event_id, sent.send, event, closest,
                                        json_diff(event, closest) if closest is not None else []))
    return sorted(problems, key=lambda p: p.event_id)


def _acked(ledger: Ledger, ids: Iterable[str] | None) -> Iterable[tuple[bytes | str, list[Any]]]:
    """(token, versions sent) per acknowledged id: of ``ids``, or of the whole book."""
    if ids is not None:
        for event_id in ids:
            yield (uuid_key(event_id) or event_id), ledger.sent(event_id)
        return
    for slot, token in ledger.acked_tokens():
        yield token, ledger.sent_at(slot)


def _text(token: bytes | str) -> str:
    return uuid_text(token) if type(token) is bytes else token


def refused_problems(ledger: Ledger, found: ReadBack) -> list[Problem]:
    """Events of refused requests that the sink holds anyway."""
    stored = {i: s for i, s in sorted(ledger.refused_only().items()) if found.copies.get(i)}
    copies = found.events(stored)
    problems = []
    for event_id, send in stored.items():
        auth = send.status in AUTH_REFUSALS
        problems.append(Problem("stored-after-403" if auth else "stored-after-4xx",
                                "CS-DELIVERY-REFUSED-403" if auth else "CS-DELIVERY-REFUSED-4XX",
                                event_id, send, None, next(iter(copies.get(event_id, [])), None)))
    return problems


@dataclass
class Duplicates:
    """How often repeated sends were stored: at-least-once or deduplicating."""

    repeated: int = 0          # event_ids acknowledged more than once
    stored_once: int = 0       # ... of which the sink holds one copy
    stored_per_send: int = 0   # ... of which it holds one copy per send (or more)
    extra_copies: int = 0      # copies beyond the number of acknowledged sends, any event

    def text(self) -> str:
        if not self.repeated:
            kind = "no repeated sends to judge"
        elif self.stored_once == self.repeated:
            kind = "deduplicating"
        elif self.stored_per_send == self.repeated:
            kind = "at-least-once"
        else:
            kind = "mixed"
        extra = f"; {self.extra_copies} copies beyond the sends" if self.extra_copies else ""
        return (f"{kind}: of {self.repeated} event_ids sent more than once, {self.stored_once} stored once, "
                f"{self.stored_per_send} once per send{extra}")


def duplicates(ledger: Ledger, found: ReadBack) -> Duplicates:
    """Only fresh event_ids: a shared sink holds a replayed (fixed) id once per run that
    sent it, which says nothing about how this collector stores repeats."""
    result = Duplicates()
    for slot, token in ledger.acked_tokens():
        if not ledger.is_fresh_token(token):
            continue
        copies, sends = found.copies.count_token(token), ledger.acked.count_at(slot)
        result.extra_copies += max(0, copies - sends)
        if sends > 1:
            result.repeated += 1
            result.stored_once += copies == 1
            result.stored_per_send += copies >= sends
    return result


def lag_ms(ledger: Ledger, found: ReadBack, ids: Iterable[str]) -> list[float]:
    """From the 200 to the first poll that saw the event, per event (milliseconds)."""
    lags = []
    for event_id in ids:
        sends = ledger.sent(event_id)
        if sends and event_id in found.first_seen:
            acked_at = sends[0].send.started_at + sends[0].send.elapsed
            lags.append(max(0.0, (found.first_seen[event_id] - acked_at) * 1000))
    return lags


def lag_summary(lags: list[float]) -> dict[str, float] | None:
    if not lags:
        return None
    return {"p50": round(statistics.median(lags), 1), "max": round(max(lags), 1), "samples": len(lags)}


def describe_shape(shape: RecordShape) -> str:
    """The record shape as the user would write it: auto, or the fields given."""
    given = [f"{name}={value}" for name, value in vars(shape).items()
             if value is not None and not (name == "encoding" and value == "auto")]
    return ",".join(given) or "auto"


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds")


__all__ = ["ReadBack", "read_once", "read_until", "memo_for", "poll_until", "json_diff", "same_scalar", "Problem", "acked_problems",
           "refused_problems", "Duplicates", "duplicates", "lag_ms", "lag_summary", "SinkError"]
