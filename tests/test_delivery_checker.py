"""The delivery checker and the history it judges (no collector needed: the sink is a
real JSON-lines file the test writes, the history is built from real exchanges)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.wire.exchange import Exchange
from conformance.engines.readback import acked_problems, duplicates, json_diff, read_until, refused_problems, same_scalar
from conformance.engines.ledger import Ledger, event_ids_in
from conformance.engines.sinks import open_sink
from conformance.engines.sinks.records import RecordShape
from conformance.strategies import encode_base64_gzip, tag_uuid

TAG = "c0ffee00"


def exchange(status: int | None, url: str = "http://127.0.0.1:9/collect?appId=shop_dev") -> Exchange:
    return Exchange(case="t", method="POST", url=url, request_headers=[], body_size=0, body_sha256="",
                    body_excerpt="", status=status, started_at=1.8e9)


def event(n: int, **fields: object) -> dict:
    return {"event_type": "e", "event_id": tag_uuid(f"00000000-0000-4000-8000-{n:012d}", TAG),
            "timestamp": 1795692822035, "app_id": "shop_dev", **fields}


def write_sink(path: Path, records: list) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


# --- comparing values --------------------------------------------------------------------
def test_an_integer_stored_as_a_float_is_a_difference() -> None:
    assert json_diff({"timestamp": 1795692822035}, {"timestamp": 1795692822035.0}) == [
        "/timestamp: sent 1795692822035 (integer), found 1795692822035.0 (float)"]
    assert not same_scalar(True, 1) and not same_scalar(1, True)


def test_an_integral_float_may_come_back_without_its_fraction() -> None:
    assert same_scalar(1.0, 1) and json_diff({"a": [1.0, 2.5]}, {"a": [1, 2.5]}) == []


def test_text_must_come_back_exactly() -> None:
    composed, decomposed = "\u00e9", "e\u0301"
    assert json_diff({"t": decomposed}, {"t": composed}) != []
    assert json_diff({"a": {"v": "x" * 1024}}, {"a": {"v": "x" * 255}})[0].startswith("/a/v: sent")


def test_top_level_fields_a_store_adds_are_not_differences_but_nested_ones_are() -> None:
    assert json_diff({"a": 1}, {"a": 1, "ingest_time": 5}) == []
    assert json_diff({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == ["/a/c: not sent, found 2 (integer)"]
    assert json_diff({"a": 1, "b": 2}, {"a": 1}) == ["/b: sent 2 (integer), missing"]
    assert json_diff({"l": [1, 2]}, {"l": [1]}) == ["/l: sent 2 elements, found 1"]


# --- the history ---------------------------------------------------------------------------
def test_event_ids_are_read_from_plain_and_base64_gzip_bodies() -> None:
    batch = [event(1), event(2)]
    assert event_ids_in(json.dumps(batch).encode(), "appId=x") == [batch[0]["event_id"], batch[1]["event_id"]]
    assert event_ids_in(encode_base64_gzip(batch), "appId=x&compression=gzip") == \
        [batch[0]["event_id"], batch[1]["event_id"]]
    assert event_ids_in(b"not json", "appId=x") == []


def test_refused_events_that_a_later_request_got_a_200_for_are_not_refused() -> None:
    ledger = Ledger(tag=TAG)
    a, b = event(1), event(2)
    ledger.any_send(json.dumps([a, b]).encode(), "appId=x", exchange(403), "status")
    ledger.any_send(json.dumps([a]).encode(), "appId=x", exchange(200), "auth")
    assert set(ledger.refused_only()) == {b["event_id"]}


# --- judging a real sink file ----------------------------------------------------------------
def history(sent: list[dict]) -> Ledger:
    ledger = Ledger(tag=TAG)
    ledger.valid_send(sent, exchange(200), "delivery::case")
    return ledger


def judge(tmp_path: Path, ledger: Ledger, records: list, wait: float = 0.0):
    write_sink(tmp_path / "sink.jsonl", records)
    sink = open_sink(f"jsonl:{tmp_path / 'sink.jsonl'}")
    found = read_until(sink, RecordShape(), ledger.is_ours, ledger.acked_ids(), wait)
    return found, acked_problems(ledger, found)


def test_a_complete_intact_sink_has_no_problems(tmp_path: Path) -> None:
    sent = [event(1), event(2, attributes={"v": 2**53 - 1})]
    other_run = {**event(3), "event_id": "11111111-0000-4000-8000-000000000003"}
    found, problems = judge(tmp_path, history(sent), [*sent, other_run])
    assert problems == [] and found.records == 3 and set(found.copies) == {e["event_id"] for e in sent}


def test_lost_and_corrupt_events_are_named_with_their_request(tmp_path: Path) -> None:
    sent = [event(1), event(2, attributes={"n": 2147483647})]
    corrupt = {**sent[1], "attributes": {"n": 2147483647.0}}
    _, problems = judge(tmp_path, history(sent), [corrupt])
    assert [(p.kind, p.event_id) for p in problems] == [("lost", sent[0]["event_id"]),
                                                       ("corrupt", sent[1]["event_id"])]
    assert problems[1].diff == ["/attributes/n: sent 2147483647 (integer), found 2147483647.0 (float)"]
    assert "delivery::case" in problems[0].line() and "-> 200" in problems[0].line()
    # Kept as fingerprints while judging, shown as sent and as found for the failure.
    assert problems[0].sent == sent[0] and problems[0].found is None
    assert (problems[1].sent, problems[1].found) == (sent[1], corrupt)


def test_a_stored_copy_in_another_key_order_is_intact(tmp_path: Path) -> None:
    sent = [event(1, attributes={"a": 1, "b": [1.5, "x"]})]
    reordered = dict(reversed(list({**sent[0], "attributes": {"b": [1.5, "x"], "a": 1}}.items())))
    found, problems = judge(tmp_path, history(sent), [reordered])
    assert problems == [] and len(found.copies[sent[0]["event_id"]]) == 1


def test_a_repeated_send_books_each_version_in_order(tmp_path: Path) -> None:
    first, second = event(1), event(1, attributes={"v": 2})
    ledger = Ledger(tag=TAG)
    ledger.valid_send([first], exchange(200), "delivery::one")
    ledger.valid_send([second], exchange(200), "delivery::two")
    versions = ledger.sent(first["event_id"])
    assert [(v.send.case, v.event) for v in versions] == [("delivery::one", first), ("delivery::two", second)]
    assert ledger.times_acked(first["event_id"]) == 2


def test_a_deployed_request_record_with_a_gzip_body_is_decoded(tmp_path: Path) -> None:
    sent = [event(1), event(2)]
    record = {"data": encode_base64_gzip(sent).decode(), "compression": "gzip",
              "uri": "/collect?appId=shop_dev&compression=gzip", "appId": "shop_dev", "ip": "127.0.0.1"}
    found, problems = judge(tmp_path, history(sent), [record])
    assert problems == [] and "ip" in found.metadata


def test_the_poll_waits_for_a_late_event_and_stops_at_the_wait(tmp_path: Path) -> None:
    import threading
    import time
    sent = [event(1)]
    path = tmp_path / "sink.jsonl"
    write_sink(path, [])
    threading.Timer(0.3, write_sink, (path, sent)).start()
    ledger = history(sent)
    started = time.monotonic()
    found = read_until(open_sink(f"jsonl:{path}"), RecordShape(), ledger.is_ours, ledger.acked_ids(), 5.0)
    assert found.copies and found.polls >= 2 and time.monotonic() - started < 4
    started = time.monotonic()
    missing = read_until(open_sink(f"jsonl:{path}"), RecordShape(), ledger.is_ours, {"never-sent"}, 0.5)
    assert 0.4 < time.monotonic() - started < 3 and "never-sent" not in missing.copies


def test_stored_refusals_and_duplicates_are_counted(tmp_path: Path) -> None:
    ledger = history([event(1)])
    ledger.valid_send([event(1)], exchange(200), "retries::case")  # sent twice, acked twice
    refused = event(9)
    ledger.any_send(json.dumps([refused]).encode(), "appId=nope", exchange(403), "status::case")
    found, _ = judge(tmp_path, ledger, [event(1), refused])
    stored = refused_problems(ledger, found)
    assert [(p.kind, p.requirement) for p in stored] == [("stored-after-403", "CS-DELIVERY-REFUSED-403")]
    dups = duplicates(ledger, found)
    assert (dups.repeated, dups.stored_once, dups.extra_copies) == (1, 1, 0)
    assert dups.text().startswith("deduplicating")


@pytest.mark.parametrize("status, kind", [(413, "stored-after-4xx"), (401, "stored-after-403")])
def test_refusal_kinds(tmp_path: Path, status: int, kind: str) -> None:
    ledger = Ledger(tag=TAG)
    refused = event(4)
    ledger.any_send(json.dumps([refused]).encode(), "appId=shop_dev", exchange(status), "size::case")
    found, _ = judge(tmp_path, ledger, [refused])
    assert [p.kind for p in refused_problems(ledger, found)] == [kind]


def test_only_this_runs_tagged_ids_count_as_refused() -> None:
    """A fixed id (a generated "0", a replayed capture) may be in the sink from an earlier
    run: refusing it now must not make its old copy a stored refusal."""
    ledger = Ledger(tag=TAG)
    fixed = {**event(5), "event_id": "0"}
    ledger.any_send(json.dumps([fixed, event(6)]).encode(), "appId=x", exchange(400), "validation::case")
    assert set(ledger.refused_only()) == {event(6)["event_id"]}


def test_a_replayed_capture_in_a_shared_sink_is_found_but_not_judged_as_a_repeat_or_refusal(
        tmp_path: Path) -> None:
    """Replayed captures carry fixed event_ids: a second run against the same sink finds
    the first run's copies. They count as found, never as extra copies or stored refusals."""
    fixed = {**event(5), "event_id": "860e1e2f-7c53-4994-8d0d-d30d5cf6d862"}
    refused_fixed = {**event(6), "event_id": "760e1e2f-7c53-4994-8d0d-d30d5cf6d862"}
    ledger = history([fixed])
    ledger.valid_send([fixed], exchange(200), "replay::retry")  # sent twice in this run
    ledger.any_send(json.dumps([refused_fixed]).encode(), "appId=nope", exchange(403), "replay::x")
    earlier_runs = [fixed, fixed, refused_fixed]  # an at-least-once sink, written by two runs before
    found, problems = judge(tmp_path, ledger, [*earlier_runs, fixed, fixed])
    assert problems == [] and len(found.copies[fixed["event_id"]]) == 4
    assert refused_problems(ledger, found) == [] and ledger.refused_only() == {}
    dups = duplicates(ledger, found)
    assert (dups.repeated, dups.extra_copies) == (0, 0)
    assert not ledger.is_fresh(fixed["event_id"]) and ledger.is_fresh(event(1)["event_id"])
