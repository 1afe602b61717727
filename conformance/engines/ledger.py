"""The run's history of events sent, for the delivery profile (after Jepsen's history).

Every request the suite sends is a line of history: which events it carried, which
case sent it, and how it was answered. The checker (``conformance/engines/readback.py``)
judges the history afterwards against what the sink holds. Two kinds of entry:

* valid sends: requests the suite demands a 200 for (``Target.post_valid``, the canary,
  the delivery cases). Their events, when answered 200, must be stored intact.
* every other POST: the tagged event_ids it carried are noted by answer, so that events
  of refused requests (403, 413, other 4xx) can be looked for in the sink, and events
  that some request got a 200 for are never counted as refused.

Each run tags its event_ids (``strategies.tag_uuid``), so the events of earlier runs
and other traffic in the same sink are never taken for this run's. Requests replayed
from real clients' captures carry fixed event_ids instead: a shared sink may already
hold them from an earlier run. A copy found of such an id still shows the event was
stored, but it cannot show that this run's request was (or was not) stored, nor how
many times: such ids are left out of the refusal and duplicate accounts (``is_fresh``).
"""
from __future__ import annotations

import hashlib
import json
import pickle
import re
import secrets
import struct
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator
from urllib.parse import parse_qsl

from conformance.engines.keytable import IdSlots, Records, uuid_key, uuid_text
from conformance.wire.exchange import Exchange
from conformance.wire.spool import Spool
from conformance.strategies import BodyDecodeError, decode_body

# A compressed valid body decodes to at most 16 MiB (CS-GZIP-200); bombs stop here.
MAX_DECODED = 20 * 1024 * 1024


def new_tag() -> str:
    """A fresh run tag: 8 lower-case hex digits."""
    return secrets.token_hex(4)


class Send:
    """One request of the history, with the evidence to show for it. The exchange itself
    waits on disk (a run books tens of thousands): only what judging reads stays here."""

    __slots__ = ("case", "status", "_spool", "_packed")
    # started_at, elapsed, and where the exchange and the events went in the spool: one
    # bytes object, since a run books a Send per request, tens of thousands of them.
    _LAYOUT = struct.Struct("<ddQII")

    def __init__(self, case: str, exchange: Exchange, spool: Spool, events: Iterable[Any] = ()) -> None:
        self.case, self.status, self._spool = case, exchange.status, spool
        # The events apart from the exchange: a line of evidence should not unpickle a
        # 10,000-event batch.
        events = list(events)
        ex_data = pickle.dumps(exchange, protocol=pickle.HIGHEST_PROTOCOL)
        ev_data = pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL) if events else b""
        offset, _ = spool.put(ex_data + ev_data)  # one write: another thread's cannot come between
        ex_len, ev_len = len(ex_data), len(ev_data)
        self._packed = self._LAYOUT.pack(exchange.started_at, exchange.elapsed, offset, ex_len, ev_len)

    @property
    def started_at(self) -> float:
        return self._LAYOUT.unpack(self._packed)[0]

    @property
    def elapsed(self) -> float:
        return self._LAYOUT.unpack(self._packed)[1]

    @property
    def exchange(self) -> Exchange:
        """The exchange as it was booked, read back from the spool."""
        offset, ex_len = self._LAYOUT.unpack(self._packed)[2:4]
        return self._spool.get_object((offset, ex_len))

    @property
    def events(self) -> list[Any]:
        """The events booked with it (a valid send's), read back from the spool."""
        offset, ex_len, ev_len = self._LAYOUT.unpack(self._packed)[2:]
        return self._spool.get_object((offset + ex_len, ev_len)) if ev_len else []

    def to_dict(self) -> dict[str, Any]:
        ex = self.exchange
        return {"method": ex.method, "url": ex.url, "status": ex.status,
                "sent_at": ex.started_at, "case": self.case}


class SentEvent:
    """One version of an event as sent: its fingerprint, and the request that carried it.
    The event itself is read back from the spool when a failure shows it."""

    __slots__ = ("fingerprint", "send")

    def __init__(self, fingerprint: bytes, send: Send) -> None:
        self.fingerprint, self.send = fingerprint, send

    @property
    def event(self) -> dict[str, Any]:
        return as_sent([self])[0]


# What the ledger books per version of an event: its fingerprint, then the index of its
# Send (4 bytes), a record of a keytable.Records: with the id's 16 bytes and its index
# cells, an acknowledged event costs some 60 bytes, not a dict entry and a str.
FINGERPRINT_BYTES, SEND_INDEX = 16, struct.Struct("<I")
BOOKED_BYTES = FINGERPRINT_BYTES + SEND_INDEX.size


def as_sent(sent: Iterable[SentEvent]) -> list[dict[str, Any]]:
    """The events as sent, read back once per request: a failure may name thousands of
    events of one 10,000-event batch."""
    by_send: dict[int, dict[bytes, dict[str, Any]]] = {}
    out = []
    for one in sent:
        events = by_send.get(id(one.send))
        if events is None:
            events = by_send[id(one.send)] = {fingerprint(e): e for e in one.send.events if isinstance(e, dict)}
        out.append(events[one.fingerprint])
    return out


@dataclass
class Ledger:
    """What the run sent, by event_id. Thread-safe: the concurrency case sends from threads."""

    tag: str = field(default_factory=new_tag)
    # valid, answered 200 / not answered 200: per event_id, its versions (``sent``)
    acked: Records = field(default_factory=lambda: Records(BOOKED_BYTES), repr=False)
    unacked: Records = field(default_factory=lambda: Records(BOOKED_BYTES), repr=False)
    sends: list[Send] = field(default_factory=list, repr=False)  # the valid sends, by index
    answered_200: IdSlots = field(default_factory=IdSlots, repr=False)  # in any request answered 200
    refused: dict[str, Send] = field(default_factory=dict)              # in a request answered 4xx
    seen: IdSlots = field(default_factory=IdSlots, repr=False)          # tagged, in any other request sent
    spool: Spool = field(default_factory=Spool, repr=False)              # the exchanges of the sends
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # The tag as the first 4 bytes of a key, when it can be (a run's own tag always is).
        self._tag_key = bytes.fromhex(self.tag) if uuid_key(self.tag + "-0000-0000-0000-000000000000") else None

    # --- recording ----------------------------------------------------------------
    def valid_send(self, events: Iterable[dict[str, Any]], exchange: Exchange, case: str) -> None:
        """A request the suite demands 200 for, carrying these (valid) events: booked as
        acknowledged or not, and noted by answer like any other request."""
        events = list(events)
        send = Send(case, exchange, self.spool, events)
        book = self.acked if exchange.status == 200 else self.unacked
        ids = []
        with self._lock:
            index = SEND_INDEX.pack(len(self.sends))
            self.sends.append(send)
            for event in events:
                event_id = event.get("event_id") if isinstance(event, dict) else None
                if isinstance(event_id, str):
                    book.add(event_id, fingerprint(event) + index)
                    ids.append(event_id)
        # Booked ids count as seen and, when acked, as answered 200 (see unknown and
        # refused_only): only a refusal is still to note.
        if send.status is not None and 400 <= send.status < 500:
            self._note(ids, send, judged=True)

    def any_send(self, body: bytes, query: str | None, exchange: Exchange, case: str,
                 judged: bool = True) -> None:
        """Any other request: its event_ids, noted by answer when it is a POST to the
        endpoint (``judged``)."""
        if body:
            self._note(event_ids_in(body, query), Send(case, exchange, self.spool), judged)

    def _note(self, ids: Iterable[str], send: Send, judged: bool) -> None:
        """Note the tagged ids as sent and, when judged, by answer (200, or a refusal).
        Only this run's tagged ids: a fixed id (a generated "0", a replayed capture) may
        have been stored by an earlier run, and must not count as stored after a refusal."""
        ids = [i for i in ids if self.is_fresh(i)]
        status = send.status
        with self._lock:
            for event_id in ids:
                self.seen.add(event_id)
            if not judged or status is None:
                return
            if status == 200:
                for event_id in ids:
                    self.answered_200.add(event_id)
            elif 400 <= status < 500:
                for event_id in ids:
                    self.refused.setdefault(event_id, send)

    # --- reading --------------------------------------------------------------------
    def is_ours(self, event_id: Any) -> bool:
        """Whether an event_id read from the sink belongs to this run."""
        if not isinstance(event_id, str):
            return False
        return self.is_fresh(event_id) or event_id in self.acked or event_id in self.refused

    def is_ours_key(self, key: bytes) -> bool:
        """``is_ours`` for the event_id whose ``uuid_key`` this is (no text is made).
        Refused ids are all fresh (see ``_note``)."""
        if self._tag_key is not None:
            if key[:4] == self._tag_key:
                return True
        elif self.is_fresh(uuid_text(key)):
            return True
        return self.acked.ids.find_key(key) >= 0

    @property
    def fresh_key_prefix(self) -> bytes | None:
        """The first 4 bytes of every fresh id's key (None when the tag cannot be that)."""
        return self._tag_key

    def is_fresh_token(self, token: bytes | str) -> bool:
        """``is_fresh`` for a token of an ``IdSlots``: a key, or an id's text."""
        if type(token) is bytes and self._tag_key is not None:
            return token[:4] == self._tag_key
        return self.is_fresh(uuid_text(token) if type(token) is bytes else token)

    def is_fresh(self, event_id: str) -> bool:
        """Whether only this run can have stored this event_id: it carries the run's tag.
        A fixed id (a replayed capture) may have been stored by any earlier run."""
        return event_id.startswith(self.tag)

    def refused_only(self) -> dict[str, Send]:
        """Events refused and never answered 200 in any request: they must not be stored.
        Only fresh ids: a copy of a fixed one may come from an earlier run's 200."""
        with self._lock:
            return {i: s for i, s in self.refused.items() if i not in self.answered_200 and i not in self.acked and self.is_fresh(i)}

    def unknown(self, event_ids: Iterable[str]) -> list[str]:
        """Tagged ids the run never sent: a store that re-encodes event_ids makes them."""
        with self._lock:
            return [i for i in event_ids if self.is_fresh(i) and i not in self.seen
                    and i not in self.acked and i not in self.unacked]

    def sent(self, event_id: str, book: Records | None = None) -> list[SentEvent]:
        """The versions of an acknowledged event (of ``book``: acked by default), in the order sent."""
        return self._versions((self.acked if book is None else book).of(event_id))

    def sent_at(self, slot: int) -> list[SentEvent]:
        """``sent`` for the acknowledged event in this slot of ``acked.ids``."""
        return self._versions(self.acked.at(slot))

    def _versions(self, records: list[bytes]) -> list[SentEvent]:
        return [SentEvent(r[:FINGERPRINT_BYTES], self.sends[SEND_INDEX.unpack_from(r, FINGERPRINT_BYTES)[0]])
                for r in records]

    def times_acked(self, event_id: str) -> int:
        return self.acked.count(event_id)

    def acked_ids(self) -> set[str]:
        """The acknowledged ids as text (a set of strings: for a few, or for tests; the
        judges walk ``acked.ids.tokens()``)."""
        with self._lock:
            return set(self.acked)

    def acked_tokens(self) -> Iterator[tuple[int, bytes | str]]:
        """(slot, token) of every acknowledged id so far: its ``uuid_key``, else its text."""
        with self._lock:
            count = len(self.acked)
        return zip(range(count), self.acked.ids.tokens())

    def sent_count(self) -> int:
        """Distinct event_ids of valid sends, answered 200 or not."""
        with self._lock:
            find = self.acked.ids.find_token
            return len(self.acked) + sum(1 for token in self.unacked.ids.tokens() if find(token) < 0)


def event_ids_in(body: bytes, query: str | None) -> list[str]:
    """The event_ids a request body carries, decoded as the collector would (plain
    JSON, or base64(gzip) when the query says compression=gzip). Bodies that do not
    decode carry none the sink could hold as events."""
    try:
        batch = decoded_batch(body, query)
    except (BodyDecodeError, RecursionError):
        return _ids_by_pattern(body)
    items = batch if isinstance(batch, list) else [batch]
    return [e["event_id"] for e in items if isinstance(e, dict) and isinstance(e.get("event_id"), str)]


_UUID_ID = re.compile(rb'"event_id"\s*:\s*"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"')


def _ids_by_pattern(body: bytes) -> list[str]:
    """UUID event_ids in a body that is not JSON as a whole (a lenient store may still
    keep the parts it can read)."""
    return [m.decode() for m in _UUID_ID.findall(body[:MAX_DECODED])]


def decoded_batch(body: bytes, query: str | None) -> Any:
    """The body as the collector decodes it: base64(gzip) when the query says
    compression=gzip, plain JSON otherwise. Raises BodyDecodeError."""
    compression = dict(parse_qsl(query or "", keep_blank_values=True)).get("compression")
    return decode_body(body, "gzip" if compression == "gzip" else None, max_decoded_bytes=MAX_DECODED)


def events_of(body: bytes, query: str | None) -> list[dict[str, Any]]:
    """The events of a valid body the suite built itself (it always decodes)."""
    batch = decoded_batch(body, query)
    return [e for e in batch if isinstance(e, dict)] if isinstance(batch, list) else []


def fingerprint(value: Any) -> bytes:
    """Equal for two decoded JSON values exactly when they are the same value with the
    same kinds and key order: repr tells 1, 1.0 and True apart, and is about twice as
    fast as ``canonical``; 16 bytes of its digest are what the run keeps per event.
    Different fingerprints prove nothing (keys may be in another order): then the values
    are compared field by field."""
    return hashlib.blake2b(repr(value).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def canonical(value: Any) -> str:
    """One text per JSON value, to tell sent versions of an event apart."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
