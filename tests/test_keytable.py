"""The compact per-event tables (conformance/engines/keytable.py): exact for every id,
whatever its text, through growth; and the ledger's key-based answers agree with its text ones."""
from __future__ import annotations

import random
import uuid

import pytest

from conformance.engines.keytable import KeyIndex, IdSlots, Records, Stamps, uuid_key, uuid_text
from conformance.engines.ledger import Ledger
from conformance.engines.sinks.memo import RecordMemo

CANONICAL = "0b7c3a1e-5f1d-4c55-9a51-2f0c4d0c9e11"


@pytest.mark.parametrize("text", [
    CANONICAL.upper(), CANONICAL.replace("-", ""), " " + CANONICAL[1:], CANONICAL[:-1] + "g",
    CANONICAL[:8] + "-" + CANONICAL[9:] + "0", "{" + CANONICAL[1:-1] + "}", "0", "", "é" * 36,
    CANONICAL[:8] + " " + CANONICAL[9:],
])
def test_only_canonical_uuid_text_has_a_key(text: str) -> None:
    assert uuid_key(text) is None
    assert uuid_key(CANONICAL) is not None and uuid_text(uuid_key(CANONICAL)) == CANONICAL


def test_ids_that_share_16_bytes_stay_apart() -> None:
    """Upper-case, undashed and canonical forms of one UUID are three different ids."""
    slots = IdSlots()
    forms = [CANONICAL, CANONICAL.upper(), CANONICAL.replace("-", ""), "7", CANONICAL]
    assert [slots.add(f) for f in forms] == [(0, True), (1, True), (2, True), (3, True), (0, False)]
    assert len(slots) == 4 and list(slots) == forms[:4]
    assert slots.find(CANONICAL.upper()) == 1 and slots.find(CANONICAL[:-1] + "0") == -1
    assert CANONICAL in slots and 42 not in slots and "8" not in slots
    assert [slots.find_token(t) for t in slots.tokens()] == [0, 1, 2, 3]


def test_index_stays_exact_and_half_full_through_growth() -> None:
    rng = random.Random(27)
    keys = [rng.randbytes(16) for _ in range(20_000)]
    index = KeyIndex()
    for n, key in enumerate(keys):
        assert index.add(key) == (n, True)
        assert len(index._cells) >= 2 * len(index)  # an empty cell always ends a probe
    assert [index.find(k) for k in keys] == list(range(len(keys)))
    assert all(index.add(k) == (n, False) for n, k in enumerate(keys[:500]))
    assert all(index.find(rng.randbytes(16)) == -1 for _ in range(2_000))
    assert list(index.keys()) == keys and len(index) == len(keys)
    with pytest.raises(ValueError):
        index.add(b"short")


def test_slots_match_a_dict_for_mixed_ids() -> None:
    rng = random.Random(5)
    ids = [str(uuid.UUID(bytes=rng.randbytes(16))) if rng.random() < 0.8 else f"id-{rng.randrange(3000)}"
           for _ in range(6_000)]
    slots, expected = IdSlots(), {}
    for event_id in ids:
        new = event_id not in expected
        slot = expected.setdefault(event_id, len(expected))
        assert slots.add(event_id) == (slot, new) and slots.find(event_id) == slot
    assert list(slots) == list(expected) and len(slots) == len(expected)
    other = IdSlots()
    for event_id in list(expected)[::3]:
        other.add(event_id)
    assert slots.covers(other) and not other.covers(slots)
    other.add("not-in-slots")
    assert not slots.covers(other)


def test_records_keep_every_version_in_order() -> None:
    book = Records(4)
    book.add(CANONICAL, b"v1.a")
    book.add("fixed", b"f1..")
    book.add(CANONICAL, b"v2.a")
    book.add_key(uuid_key(CANONICAL), b"v3.a")
    assert book.of(CANONICAL) == [b"v1.a", b"v2.a", b"v3.a"] and book.count(CANONICAL) == 3
    assert book.of("fixed") == [b"f1.."] and book.of("never") == [] and book.count("never") == 0
    assert len(book) == 2 and list(book) == [CANONICAL, "fixed"]
    with pytest.raises(ValueError):
        book.add("x", b"toolong")


def test_stamps_keep_the_first_time_beside_an_index() -> None:
    ids = IdSlots()
    for event_id in (CANONICAL, "fixed", "later"):
        ids.add(event_id)
    stamps = Stamps(ids)
    stamps.note(0, 1.0)
    stamps.note(1, 2.0)
    stamps.note(0, 3.0)
    assert stamps[CANONICAL] == 1.0 and stamps.get("fixed") == 2.0 and len(stamps) == 2
    assert stamps.get("later") is None and "later" not in stamps and stamps.get("never") is None
    stamps.note(2, 0.0)
    assert stamps["later"] == 0.0 and len(ids) == 3  # the index is not grown by stamping
    with pytest.raises(KeyError):
        stamps["never"]


@pytest.mark.parametrize("tag", ["0a1b2c3d", "RUN"])
def test_the_ledger_answers_the_same_by_key_and_by_text(tag: str) -> None:
    """A tag that cannot be a key's first 4 bytes still works, through the id's text."""
    ledger = Ledger(tag=tag)
    fixed = "0b7c3a1e-5f1d-4c55-9a51-2f0c4d0c9e11"
    ledger.acked.add(fixed, bytes(20))
    ids = [fixed, "0a1b2c3d-0000-4000-8000-000000000001", str(uuid.uuid4()), "0a1b2c3e-0000-4000-8000-0000000000aa"]
    for event_id in ids:
        key = uuid_key(event_id)
        assert ledger.is_ours_key(key) == ledger.is_ours(event_id)
        assert ledger.is_fresh_token(key) == ledger.is_fresh(event_id)


def test_the_memo_packs_bytes_results_and_keeps_others() -> None:
    memo = RecordMemo(limit=3)
    for raw, result in [("a", b"\x01" * 32), ("b", ("x", b"f")), ("c", b"")]:
        assert memo.recall(raw) is None
        memo.remember(result)
    assert memo.recall("a").result == b"\x01" * 32 and memo.recall("b").result == ("x", b"f")
    assert memo.recall("c").result == b"" and memo.hits == 3
    assert memo.recall("d") is None
    memo.remember(b"over the limit")
    assert memo.recall("d") is None and len(memo) == 3


def test_slots_survive_the_first_id_that_is_not_uuid_text() -> None:
    """Slots are index slots until a text id comes; then the maps are built, unchanged."""
    keys = [str(uuid.UUID(int=n)) for n in range(3_000)]
    slots = IdSlots()
    for event_id in keys:
        slots.add(event_id)
    assert slots.add("plain") == (3_000, True) and slots.add(keys[7]) == (7, False)
    assert slots.add(str(uuid.UUID(int=99_999))) == (3_001, True)
    assert [slots.find(k) for k in keys[:50]] == list(range(50)) and slots.find("plain") == 3_000
    assert list(slots)[2_999:] == [keys[-1], "plain", str(uuid.UUID(int=99_999))] and len(slots) == 3_002
