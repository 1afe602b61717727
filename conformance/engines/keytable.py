"""Compact tables keyed by event_id, for the run's per-event books (issue 27).

A run books tens of thousands of acknowledged events, and the ledger, the read-back
memo and each read of the sink keep something per event. A dict keyed by the id's text
costs a str object and a dict entry per event (well over 100 bytes) before any value.
Here an event_id that is UUID text (as every id the suite makes is) is kept as its 16
bytes in one bytearray, found through an open-addressing index in an ``array``: about
30 bytes per id, and the values sit in arrays beside it, by the id's dense slot number.

Ids that are not canonical UUID text (the Hypothesis strategies make some, replayed
captures may carry any text) go to an ordinary dict with the same slot numbers, so the
tables are exact for every id: two different ids never share a key.
"""
from __future__ import annotations

import re
from array import array
from typing import Iterator

KEY_BYTES = 16
_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EMPTY = -1
_FIRST_CELLS = 1 << 10


def uuid_key(event_id: str) -> bytes | None:
    """The 16 bytes of a canonical (lower-case, dashed) UUID text, else None. Only one
    text maps to each key: upper-case or undashed forms are other ids, kept as text."""
    if len(event_id) == 36 and _UUID_TEXT.fullmatch(event_id):
        return bytes.fromhex(event_id.replace("-", ""))
    return None


def uuid_text(key: bytes) -> str:
    """The event_id text of a key made by ``uuid_key``."""
    h = key.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class KeyIndex:
    """16-byte keys -> dense slot numbers 0, 1, 2, ... in the order first added.
    Open addressing with linear probing, kept at most half full."""

    __slots__ = ("_keys", "_cells", "_mask", "_count")

    def __init__(self, expected: int = 0) -> None:
        cells = _FIRST_CELLS
        while cells < 2 * expected:  # sized for the keys expected: no growth on the way
            cells *= 2
        self._keys = bytearray()                 # slot * 16 -> key
        self._cells = array("i", [_EMPTY]) * cells  # cell -> slot, or -1
        self._mask = cells - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def find(self, key: bytes) -> int:
        """The key's slot, or -1. Safe beside one writer (the ledger adds under its lock):
        the mask is taken from the cells read, and a key is stored before its cell."""
        if len(key) != KEY_BYTES:
            return -1
        cells, keys = self._cells, self._keys
        mask = len(cells) - 1
        cell = hash(key) & mask
        while True:
            slot = cells[cell]
            if slot < 0:
                return -1
            if keys.startswith(key, slot << 4):  # no slice made
                return slot
            cell = (cell + 1) & mask

    def add(self, key: bytes) -> tuple[int, bool]:
        """The key's slot, and whether it was added now."""
        cells, keys, mask = self._cells, self._keys, self._mask
        cell = hash(key) & mask
        while True:
            slot = cells[cell]
            if slot < 0:
                break
            if keys.startswith(key, slot << 4):
                return slot, False
            cell = (cell + 1) & mask
        if len(key) != KEY_BYTES:
            raise ValueError(f"a key is {KEY_BYTES} bytes, not {len(key)}")
        slot = self._count
        keys += key          # before the cell: a reader never finds a slot without its key
        cells[cell] = slot
        self._count += 1
        if self._count * 2 > len(cells):
            self._grow()
        return slot, True

    def key(self, slot: int) -> bytes:
        return bytes(self._keys[slot << 4:(slot << 4) + KEY_BYTES])

    def keys(self) -> Iterator[bytes]:
        """Every key, by slot."""
        data = bytes(self._keys)
        return (data[at:at + KEY_BYTES] for at in range(0, self._count * KEY_BYTES, KEY_BYTES))

    def _grow(self) -> None:
        size = len(self._cells) * 2
        cells, mask, keys = array("i", [_EMPTY]) * size, size - 1, self._keys
        for slot in range(self._count):
            cell = hash(bytes(keys[slot << 4:(slot << 4) + KEY_BYTES])) & mask
            while cells[cell] >= 0:
                cell = (cell + 1) & mask
            cells[cell] = slot
        self._mask = mask
        self._cells = cells


class IdSlots:
    """event_id text -> dense slot numbers: UUID texts in a ``KeyIndex``, other texts in
    a dict. Slots are shared between the two, in the order ids were first added. While
    every id is UUID text (the usual case) a slot is its index slot, and the two maps
    between them are not kept: they are built when the first other id comes."""

    __slots__ = ("_index", "_uuid_slots", "_other", "_texts")

    def __init__(self, expected: int = 0) -> None:
        self._index = KeyIndex(expected)
        self._uuid_slots = array("i")    # index slot -> slot (only once _other has an id)
        self._other: dict[str, int] = {}
        self._texts = array("i")         # slot -> index slot, or -1 for an id in _other (likewise)

    def __len__(self) -> int:
        return len(self._index) + len(self._other)

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, str) and self.find(event_id) >= 0

    def find(self, event_id: str) -> int:
        key = uuid_key(event_id)
        if key is None:
            return self._other.get(event_id, -1)
        return self.find_key(key)

    def find_token(self, token: bytes | str) -> int:
        """``find`` for a token of ``tokens``."""
        return self.find_key(token) if type(token) is bytes else self._other.get(token, -1)

    def find_key(self, key: bytes) -> int:
        """The slot of the id whose ``uuid_key`` this is, or -1."""
        at = self._index.find(key)
        return at if at < 0 or not self._other else self._uuid_slots[at]

    def add_key(self, key: bytes) -> tuple[int, bool]:
        """``add`` for an id given by its ``uuid_key``."""
        if not self._other:
            return self._index.add(key)
        at, new = self._index.add(key)
        if not new:
            return self._uuid_slots[at], False
        slot = len(self._texts)
        self._uuid_slots.append(slot)
        self._texts.append(at)
        return slot, True

    def add_token(self, token: bytes | str) -> tuple[int, bool]:
        """``add`` for a token of ``tokens``: a key, or the text of an id that is not UUID text."""
        return self.add_key(token) if type(token) is bytes else self._add_other(token)

    def tokens(self) -> Iterator[bytes | str]:
        """Every id by slot, as its key when it has one, else as its text (no text is made)."""
        if not self._other:
            yield from self._index.keys()  # slots and index slots agree when every id is a key
            return
        others = {slot: text for text, slot in self._other.items()}
        index = self._index
        for slot, at in enumerate(self._texts):
            yield others[slot] if at < 0 else index.key(at)

    def covers(self, other: "IdSlots") -> bool:
        """Whether every id of ``other`` is here."""
        find = self._index.find
        if any(find(key) < 0 for key in other._index.keys()):
            return False
        return all(text in self._other for text in other._other)

    def add(self, event_id: str) -> tuple[int, bool]:
        """The id's slot, and whether it was added now."""
        key = uuid_key(event_id)
        return self._add_other(event_id) if key is None else self.add_key(key)

    def _add_other(self, event_id: str) -> tuple[int, bool]:
        slot = self._other.get(event_id)
        if slot is not None:
            return slot, False
        if not self._other:  # the first id that is not UUID text: map slots from now on
            self._uuid_slots = array("i", range(len(self._index)))
            self._texts = array("i", range(len(self._index)))
        slot = self._other[event_id] = len(self._texts)
        self._texts.append(-1)
        return slot, True

    def ids(self) -> Iterator[str]:
        """Every id, by slot. The texts are made afresh: the table keeps none."""
        for token in self.tokens():
            yield uuid_text(token) if type(token) is bytes else token

    def __iter__(self) -> Iterator[str]:
        return self.ids()


class Records:
    """event_id -> the fixed-width records added for it, in the order added: an id's
    first record sits in one bytearray by slot (most ids have one), later ones in a dict.
    The ledger books a fingerprint and a send's index per version of each event here,
    the read-back a fingerprint per stored copy."""

    __slots__ = ("ids", "width", "_first", "_more")

    def __init__(self, width: int, expected: int = 0) -> None:
        self.ids, self.width = IdSlots(expected), width
        self._first = bytearray()
        self._more: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self.ids

    def __iter__(self) -> Iterator[str]:
        return self.ids.ids()

    def add(self, event_id: str, record: bytes) -> None:
        self._put(self.ids.add(event_id), record)

    def add_key(self, key: bytes, record: bytes) -> None:
        self._put(self.ids.add_key(key), record)

    def _put(self, added: tuple[int, bool], record: bytes) -> None:
        if len(record) != self.width:
            raise ValueError(f"a record here is {self.width} bytes, not {len(record)}")
        slot, new = added
        if new:
            self._first += record
        else:
            self._more[slot] = self._more.get(slot, b"") + record

    def at(self, slot: int) -> list[bytes]:
        """The records of the id in this slot, in the order added."""
        w = self.width
        first = bytes(self._first[slot * w:slot * w + w])
        more = self._more.get(slot)
        return [first] if more is None else [first] + [more[at:at + w] for at in range(0, len(more), w)]

    def count_at(self, slot: int) -> int:
        return 1 + len(self._more.get(slot, b"")) // self.width

    def of(self, event_id: str) -> list[bytes]:
        """The id's records, or [] for an id never added."""
        slot = self.ids.find(event_id)
        return self.at(slot) if slot >= 0 else []

    def count(self, event_id: str) -> int:
        slot = self.ids.find(event_id)
        return self.count_at(slot) if slot >= 0 else 0


class Stamps:
    """event_id -> the first time noted for it (a float): 8 bytes per id of an index
    kept elsewhere (the read-back stamps the ids it waits for, in the ledger's own book)."""

    __slots__ = ("ids", "_times")

    def __init__(self, ids: IdSlots | None = None) -> None:
        self.ids, self._times = (IdSlots() if ids is None else ids), array("d")

    def note(self, slot: int, when: float) -> None:
        """Keep ``when`` for the id in this slot of ``ids`` unless it has a time already."""
        times = self._times
        if slot >= len(times):
            times.extend([_UNSET] * (slot + 1 - len(times)))
        if times[slot] != times[slot]:  # NaN: not noted yet
            times[slot] = when

    def get(self, event_id: str, default: float | None = None) -> float | None:
        slot = self.ids.find(event_id)
        if 0 <= slot < len(self._times) and self._times[slot] == self._times[slot]:
            return self._times[slot]
        return default

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, str) and self.get(event_id) is not None

    def __getitem__(self, event_id: str) -> float:
        when = self.get(event_id)
        if when is None:
            raise KeyError(event_id)
        return when

    def __len__(self) -> int:
        return sum(1 for t in self._times if t == t)


_UNSET = float("nan")


__all__ = ["KEY_BYTES", "KeyIndex", "IdSlots", "Records", "Stamps", "uuid_key", "uuid_text"]
