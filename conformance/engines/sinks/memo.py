"""What earlier read-backs learned about a sink's records, so a later one skips the work.

The delivery cases read the whole sink many times in one run (each case judges its own
events at once, the account reads it again, the durability cases twice more), and the
sink grows with every case: by the last reads it holds tens of thousands of records
that earlier reads already decoded. Decoding a record (``json.loads``, then finding
the events in it, a request record's base64 and gzip included) costs 10 to 50 times
more than hashing its raw bytes. So the readers of raw text (JSON lines, SQL rows of
JSON text) first look the record's digest up here: a record read before, byte for
byte, gives what the first decoding found, without decoding it again.

This is exact: the same bytes always decode to the same record, and the caller keys
the memo by the only other thing the decoding depends on (the record shape). Which
events are this run's is not memoised: the ledger learns acked ids as the run goes.
Every pass still reads every record from the sink afresh, so a record stored since, or
one gone since, shows as it is now; a record stored twice is yielded twice. Only records
that parsed as JSON are remembered (a bad record's message names its line or row, which
may move), and only those the caller found to hold events of this run (the caller says
``forget_pending`` for the others): the rows a sink held before the run cost no memory.
Memory stays bounded: at most ``MEMO_RECORDS`` records; past that, records are decoded
as before. A record costs little: its digest sits in a keytable (16 bytes and its index
cells), and a result given as bytes (the read-back's packed pairs) is appended to one
bytearray; any other result is kept as the object.
"""
from __future__ import annotations

import hashlib
from array import array
from typing import Any

from conformance.engines.keytable import KeyIndex

MEMO_RECORDS = 500_000


class Seen:
    """Yielded by a reader in place of a record read before: what the caller remembered of it.
    (A plain class with slots: one is made per known record on every pass.)"""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result


class RecordMemo:
    """Digest of a record's raw bytes -> what the caller made of it.

    A reader calls ``recall(raw)`` for each record; on a miss it parses and yields the
    record, and the caller, having judged it, calls ``remember(result)`` before it asks
    the reader for the next record (readers are generators, so that order holds)."""

    def __init__(self, limit: int = MEMO_RECORDS) -> None:
        self.limit = limit
        self._index = KeyIndex()           # record digest -> slot
        self._ends = array("Q")            # slot -> end of its bytes result in _data
        self._data = bytearray()
        self._objects: dict[int, Any] = {}  # slot -> a result that is not bytes
        self._pending: bytes | None = None
        self.hits = 0

    def __len__(self) -> int:
        return len(self._index)

    def recall(self, raw: bytes | str) -> Seen | None:
        data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        key = hashlib.blake2b(data, digest_size=16).digest()
        slot = self._index.find(key)
        if slot >= 0:
            self._pending = None
            self.hits += 1
            return Seen(self._result(slot))
        self._pending = key
        return None

    def _result(self, slot: int) -> Any:
        if slot in self._objects:
            return self._objects[slot]
        start = self._ends[slot - 1] if slot else 0
        return bytes(self._data[start:self._ends[slot]])

    def forget_pending(self) -> None:
        """The record just recalled did not parse: it is not to be remembered."""
        self._pending = None

    def remember(self, result: Any) -> None:
        if self._pending is not None and len(self._index) < self.limit:
            slot, new = self._index.add(self._pending)
            if new:
                if type(result) is bytes:
                    self._data += result
                else:
                    self._objects[slot] = result
                self._ends.append(len(self._data))
        self._pending = None
