"""The load command's parts that need no network and no Locust: the body pool and its
event_id stamps, the tally and ledger, the loss account, the verdict and the report."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conformance.load.account import account
from conformance.load.options import LoadOptions, OptionError, parse_duration, parse_mix, parse_rate
from conformance.load.pool import WEB_BATCH_MAX, BodyPool, Prepared, id_prefix, parse_event_id
from conformance.load.report import build_results, verdict
from conformance.load.tally import RunLedger, Tally, latency_bucket, percentile
from conformance.engines.sinks import open_sink
from conformance.engines.sinks.records import RecordShape
from conformance.reports.bundle import verify_bundle
from conformance.reports.load import downsample, write_load_bundle
from conformance.strategies import decode_body, hash_code, validate_body

TAG = "c0ffee00"


@pytest.fixture(scope="module")
def pool() -> BodyPool:
    return BodyPool.build("shop_dev", {"single": 5, "batch": 3, "gzip": 2}, seed=3, pool_events=15, batches=4)


def decoded(sent: Prepared) -> list[dict]:
    query = parse_qs(urlsplit(sent.path).query)
    return decode_body(sent.body, query.get("compression", [None])[0])


def test_every_event_of_every_send_has_its_own_id_that_names_its_request(pool: BodyPool) -> None:
    stamper = pool.stamper(TAG, 7, "shop_dev", "/collect")
    seen = set()
    for _ in range(60):
        sent = stamper.next()
        events = decoded(sent)
        assert len(events) == sent.events
        for index, event in enumerate(events):
            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}", event["event_id"])
            assert parse_event_id(event["event_id"], TAG) == (7, sent.seq, index)
            assert event["event_id"] not in seen
            seen.add(event["event_id"])
    assert parse_event_id(id_prefix("deadbeef", 7, 1).decode() + "00000000", TAG) is None  # another run's


def test_bodies_are_valid_and_sent_as_real_clients_send_them(pool: BodyPool) -> None:
    stamper = pool.stamper(TAG, 0, "shop dev", "/collect")
    kinds = set()
    for _ in range(80):
        sent = stamper.next()
        kinds.add(sent.kind)
        query = parse_qs(urlsplit(sent.path).query)
        assert query["appId"] == ["shop dev"] and query["event_bundle_sequence_id"] == [str(sent.seq)]
        assert not [f for f in validate_body(decoded(sent)) if f.kind == "error"]
        if sent.kind == "gzip":
            assert query["compression"] == ["gzip"] and query["platform"] == ["Android"]
        else:
            assert query["platform"] == ["Web"] and query["hashCode"] == [hash_code(sent.body)]
            assert sent.kind == "batch" or sent.events == 1
            assert len(sent.body) <= WEB_BATCH_MAX
    assert kinds == {"single", "batch", "gzip"}


def test_the_ledger_merges_drains_and_knows_when_an_account_is_whole() -> None:
    tallies = [Tally(worker=w) for w in (0, 1)]
    for seq in range(4):
        for tally in tallies:
            tally.record(Prepared("single", "/c", b"[]", 1, seq), 200 if seq != 2 else 503, None if seq != 2 else "HTTP 503", 3.0)
    ledger = RunLedger()
    ledger.merge(tallies[0].drain())
    ledger.merge(tallies[0].drain(), final=True)
    ledger.merge(tallies[1].drain())  # its final account never came
    assert ledger.incomplete_senders() == [1]
    assert ledger.statuses == {"200": 6, "503": 2} and ledger.errors == {"HTTP 503": 2}
    assert [(w, s) for w, s, _, _ in ledger.acked_requests()] == [(0, 0), (0, 1), (0, 3), (1, 0), (1, 1), (1, 3)]


def test_latency_histograms_keep_three_digits() -> None:
    assert latency_bucket(0.123) == 123 and latency_bucket(12.345) == 12300 and latency_bucket(1234.5) == 1230000
    histogram = {1000: 98, 5000: 1, 90000: 1}
    assert percentile(histogram, 0.5) == 1.0 and percentile(histogram, 0.99) == 5.0 and percentile({}, 0.5) is None


def test_the_account_finds_lost_and_duplicated_events(tmp_path: Path) -> None:
    tally = Tally(worker=0)
    sends = [Prepared("batch", "/c", b"[]", 3, seq) for seq in range(3)]
    for sent in sends:
        tally.record(sent, 200, None, 1.0)
    tally.record(Prepared("single", "/c", b"[]", 1, 3), 0, "timeout", 10000.0, timeout=True)
    ledger = RunLedger()
    ledger.merge(tally.drain(), final=True)
    ids = [id_prefix(TAG, 0, seq).decode() + f"{i:08x}" for seq in range(3) for i in range(3)]
    stored = ids[:4] + ids[5:] + [ids[0], id_prefix(TAG, 0, 3).decode() + "00000000",
                                  id_prefix("0badbeef", 0, 0).decode() + "00000000"]
    sink_file = tmp_path / "sink.jsonl"
    sink_file.write_text("".join(json.dumps({"event_id": i}) + "\n" for i in stored))
    result = account(ledger, open_sink(f"jsonl:{sink_file}"), RecordShape(), TAG, wait=0.2)
    assert (result.acked, result.found, result.lost, result.duplicated) == (9, 8, 1, 1)
    assert (result.unacked_sent, result.unacked_stored) == (1, 1)
    assert [e["event_id"] for e in result.lost_events] == [ids[4]]
    assert result.catch_up_s is None


def test_options_parse_durations_mixes_and_rates() -> None:
    assert [parse_duration(d) for d in ("90", "90s", "10m", "1h30m", "2m30s")] == [90, 90, 600, 5400, 150]
    assert parse_mix("batch=1") == {"single": 0, "batch": 1, "gzip": 0}
    assert parse_rate("0.1%") == pytest.approx(0.001)
    for bad in ("", "0", "10x"):
        with pytest.raises(OptionError):
            parse_duration(bad)


def sample_results(**run: object) -> dict:
    tally = Tally(worker=0)
    for seq in range(200):
        tally.record(Prepared("single", "/c", b"[1]", 1, seq), 200 if seq % 50 else 503,
                     None if seq % 50 else "HTTP 503", 5.0 + seq)
    ledger = RunLedger()
    ledger.merge(tally.drain(), final=True)
    started = min(ledger.seconds) - 0.5
    options = LoadOptions(endpoint="http://127.0.0.1:9/collect", app_id="shop_dev", auth_cookie=("s", "t0p-s3cret"),
                          max_p99_ms=100.0)
    defaults = dict(tag=TAG, started_at=started, finished_at=started + 3, interrupted=False, hard_stopped=False,
                    pool={}, senders=1, sink=None, sink_error=None, sink_polls_during_run=0,
                    generator_exceptions=[], cpu_warning=False)
    return build_results(options, ledger, None, **{**defaults, **run})


def test_each_breach_is_a_reason_and_an_interruption_too() -> None:
    results = sample_results(interrupted=True)
    reasons = results["verdict"]["reasons"]
    assert results["verdict"]["text"] == "FAIL" and len(reasons) == 3, reasons
    assert "interrupted" in reasons[0] and "error rate 2.000% (4 of 200" in reasons[1] and "HTTP 503 x4" in reasons[1]
    assert "p99 latency" in reasons[2] and "--max-p99-ms 100" in reasons[2]
    results["thresholds"].update(max_error_rate=0.05, max_p99_ms=1000)
    results["run"]["interrupted"] = False
    assert verdict(results) == {"passed": True, "text": "PASS", "reasons": []}


def test_the_report_is_self_contained_verifiable_and_keeps_the_cookie_out(tmp_path: Path) -> None:
    results = sample_results()
    write_load_bundle(tmp_path, results, secrets=("t0p-s3cret",))
    html = (tmp_path / "report.html").read_text()
    assert html.count("<svg") == 3 and "<script" not in html
    assert not re.search(r"""(src|href)=["']?https?:""", html)
    assert "t0p-s3cret" not in html and "t0p-s3cret" not in (tmp_path / "results.json").read_text()
    assert verify_bundle(tmp_path) == []
    (tmp_path / "report.html").write_text(html + " ")
    assert verify_bundle(tmp_path)


def test_a_long_soak_is_drawn_with_a_bounded_number_of_points() -> None:
    rows = [{"t": s, "requests": 10, "failures": s % 2, "timeouts": 0, "p50": 1.0, "p95": 2.0, "p99": float(s), "max": 9.0}
            for s in range(3600)]
    points = downsample(rows)
    assert len(points) <= 600 and points[0]["requests/s"] == 10 and points[-1]["p99"] == 3599.0
