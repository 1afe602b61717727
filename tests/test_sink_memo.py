"""The read-back memo (conformance/engines/sinks/memo.py) saves decoding only: every pass still
shows the sink as it is now, and which events are this run's is asked afresh."""
from __future__ import annotations

import json

from conformance.engines.readback import memo_for, read_once
from conformance.engines.sinks import open_sink
from conformance.engines.sinks.records import RecordShape


def _line(event_id: str) -> str:
    return json.dumps({"event_id": event_id, "event_type": "page_view"}) + "\n"


def test_memo_shows_later_stored_gone_and_newly_ours_events(tmp_path):
    path = tmp_path / "sink.jsonl"
    path.write_text(_line("a") + _line("fixed"))
    sink, shape = open_sink(f"jsonl:{path}"), RecordShape()
    memo = memo_for(sink, shape)
    ours = {"a"}
    first = read_once(sink, shape, ours.__contains__, memo)
    assert set(first.copies) == {"a"} and memo.hits == 0
    # "fixed" becomes ours (acked later in the run), "b" is stored twice, "a" vanishes.
    ours |= {"fixed", "b"}
    path.write_text(_line("fixed") + _line("b") + _line("b"))
    second = read_once(sink, shape, ours.__contains__, memo)
    # Only the second "b", from the first: "fixed" was no event of the run's when first
    # read, so it was not remembered (a sink's other rows cost no memory), only decoded again.
    assert memo.hits == 1
    assert set(second.copies) == {"fixed", "b"} and len(second.copies["b"]) == 2
    assert second.records == 3


def test_memo_result_matches_a_plain_read(tmp_path):
    path = tmp_path / "sink.jsonl"
    path.write_text(_line("a") + "not json\n" + _line("a") + _line("c"))
    sink, shape = open_sink(f"jsonl:{path}"), RecordShape()
    plain = read_once(sink, shape, {"a", "c"}.__contains__)
    memo = memo_for(sink, shape)
    for _ in range(2):
        memoised = read_once(sink, shape, {"a", "c"}.__contains__, memo)
        assert memoised.copies.keys() == plain.copies.keys()
        assert {k: len(v) for k, v in memoised.copies.items()} == {k: len(v) for k, v in plain.copies.items()}
        assert (memoised.records, memoised.undecodable) == (plain.records, plain.undecodable)


def test_memo_remembers_only_records_of_the_run(tmp_path):
    path = tmp_path / "sink.jsonl"
    path.write_text("".join(_line(f"other-{n}") for n in range(50)) + _line("a"))
    sink, shape = open_sink(f"jsonl:{path}"), RecordShape()
    memo = memo_for(sink, shape)
    for _ in range(2):
        found = read_once(sink, shape, {"a"}.__contains__, memo)
        assert set(found.copies) == {"a"} and found.records == 51
    assert len(memo) == 1 and memo.hits == 1
