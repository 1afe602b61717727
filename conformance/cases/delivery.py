"""Delivery (profile ``delivery``, on with ``--sink``): a 200 means stored, intact.

The API document says a 200 means the data was received (Request response), and the
SDKs drop an event from their retry store on a 200. These cases read back what the
collector stored and account for every event the run sent, after Jepsen: every
request is a line of history (``conformance/engines/ledger.py``), and a checker judges the
history against the sink afterwards (``conformance/engines/readback.py``).

Order: the cases that send edge values, a large gzip batch and concurrent batches come
first, each judging its own events at once; the account of the whole run comes last
(the plugin runs this module after every other one).
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

import pytest

from conformance.checks import describe
from conformance.wire.exchange import Exchange
from conformance.engines.keytable import Records
from conformance.engines.readback import (
    Problem, ReadBack, SinkError, acked_problems, describe_shape, duplicates, lag_ms, lag_summary, memo_for,
    read_until, refused_problems,
)
from conformance.failures import CorruptEvents, CouldNotJudge, LostEvents, RejectedValidData, StoredRefusedEvents
from conformance.target import Target
from conformance.strategies import encode_base64_gzip, event_at_limits
from conformance.strategies.rules import OPTIONAL_INT_FIELDS, OPTIONAL_STRING_FIELDS

LOSS, INTACT = "CS-DELIVERY-NO-LOSS", "CS-DELIVERY-INTACT"
REFUSED_403, REFUSED_4XX = "CS-DELIVERY-REFUSED-403", "CS-DELIVERY-REFUSED-4XX"
CONCURRENT = "CS-DELIVERY-CONCURRENT"
SHOWN = 5  # problems spelled out in a failure message; the report has up to 20


# --- reading back and judging ----------------------------------------------------------
def read_back(target: Target, wanted: Iterable[str] | Records) -> ReadBack:
    """Poll the sink until ``wanted`` is visible or --sink-wait is over."""
    s = target.settings
    try:
        return read_until(s.sink, s.record_shape, target.ledger.is_ours, wanted, s.sink_wait,
                          memo_for(s.sink, s.record_shape))
    except SinkError as exc:
        raise CouldNotJudge(f"could not read the sink {s.sink.description}: {exc}") from None


def loss_hints(target: Target, found: ReadBack, expected: int) -> list[str]:
    """What may explain lost events: the wrong sink, undecodable records, or stored
    events whose event_id the store changed."""
    hints = []
    if not found.copies and expected:
        hints.append(f"the sink holds none of this run's {expected} acknowledged events ({found.records} records "
                     f"read): it may be the wrong sink, or the wrong --sink-record")
    if found.undecodable:
        hints.append(f"{found.undecodable} records could not be decoded, e.g. {found.undecodable_samples[0]}")
    strangers = target.ledger.unknown(found.copies)
    if strangers:
        hints.append(f"{len(strangers)} stored events carry this run's tag but an event_id it never sent "
                     f"(re-encoded?), e.g. {strangers[0]!r}")
    return hints


def fail_on(target: Target, problems: list[Problem], kind: str, expected: str, found: ReadBack, total: int) -> None:
    """Raise the failure for the problems of one kind, with the first few as evidence."""
    mine = [p for p in problems if p.kind == kind]
    if not mine:
        return
    failure = {"lost": LostEvents, "corrupt": CorruptEvents}.get(kind, StoredRefusedEvents)
    lines = loss_hints(target, found, total) if kind == "lost" else []
    lines += [p.line() for p in mine[:SHOWN]]
    if len(mine) > SHOWN:
        lines.append(f"... and {len(mine) - SHOWN} more")
    actual = f"{len(mine)} of {total} events {kind.replace('-', ' ')}"
    raise failure(mine[0].requirement, expected, actual, mine[0].send.exchange,
                  detail="\n  ".join(line for line in lines if line))


def judge_sent(target: Target, ids: set[str], lost_as: str = LOSS, corrupt_as: str = INTACT) -> None:
    """The events of ``ids`` (all acknowledged) are in the sink, each equal to what was sent."""
    found = read_back(target, ids)
    problems = acked_problems(target.ledger, found, ids, lost_as, corrupt_as)
    fail_on(target, problems, "lost", f"all {len(ids)} events in the sink", found, len(ids))
    target.judged(lost_as)
    fail_on(target, problems, "corrupt", "each stored event equal to the one sent (JSON value, integers kept)",
            found, len(ids))
    target.judged(corrupt_as)


def send_and_judge(target: Target, events: list[dict[str, Any]], body: bytes | None = None,
                   requirement: str = "CS-VALID-200", **params: Any) -> None:
    body = body if body is not None else json.dumps(events, ensure_ascii=False).encode()
    target.post_valid(body, requirement, **params)
    judge_sent(target, {e["event_id"] for e in events})


# --- edge values, stored as sent --------------------------------------------------------
def _unicode(t: Target) -> list[dict[str, Any]]:
    texts = {"astral": "😀🎉 𝄞 𠜎", "rtl": "مرحبا بالعالم שלום", "combining": "e\u0301 A\u030a n\u0303 "
             "(decomposed, must not be normalised)", "mixed": "Schöne Grüße, 你好, Привет, 👋🏽",
             "controls": "tab\there\nnewline \"quoted\" back\\slash", "bom-zwj": "\ufeff👩\u200d💻"}
    return [t.event(attributes=texts), t.event(attributes={"escaped": "é 😀 \u2028"}, platform="Web")]


def _unicode_body(events: list[dict[str, Any]]) -> bytes:
    """The first event written raw (UTF-8), the second with \\u escapes: both must come back equal."""
    raw = json.dumps(events[0], ensure_ascii=False)
    escaped = json.dumps(events[1], ensure_ascii=True)
    return f"[{raw},{escaped}]".encode()


def _integers(t: Target) -> list[dict[str, Any]]:
    edges = {"int32_max": 2**31 - 1, "int32_min": -(2**31), "safe_max": 2**53 - 1, "safe_min": -(2**53 - 1),
             "zero": 0, "minus_one": -1, "long_ms": 1795692822035}
    return [t.event(timestamp=1795692822035, attributes=edges, zone_offset=-2**31, screen_width=2**31 - 1)]


def _floats(t: Target) -> list[dict[str, Any]]:
    values = {"tenth": 0.1, "tiny": -2.5e-7, "huge": 1.7976931348623157e308, "pi": 3.141592653589793,
              "price": 99.9, "negative": -0.5, "exp": 6.02214076e23}
    return [t.event(attributes=values, items=[{"id": "p1", "price": 0.1, "quantity": 3}])]


def _empty_strings(t: Target) -> list[dict[str, Any]]:
    return [t.event(attributes={"empty": "", "space": " "}, platform="", locale="",
                    user={"_user_id": {"value": "", "set_timestamp": 1795692822035}})]


def _long_values(t: Target) -> list[dict[str, Any]]:
    return [t.event(attributes={"ascii": "d" * 1024, "latin": "é" * 1024, "emoji": "😀" * 512,
                                "cjk": "测" * 1024})]


def _every_field(t: Target) -> list[dict[str, Any]]:
    event = t.event(**{name: f"{name} value" for name in OPTIONAL_STRING_FIELDS},
                    **{name: 1000 + i for i, name in enumerate(OPTIONAL_INT_FIELDS)})
    event.update(host_name="shop.example", items=[{"id": "i1", "name": "Item", "price": 9, "quantity": 1}],
                 user={"_user_id": {"value": "u-1", "set_timestamp": 1795692822035}},
                 attributes={"flag": True, "off": False, "count": 3, "ratio": 0.25, "label": "x"})
    return [event]


def _at_limits(t: Target) -> list[dict[str, Any]]:
    """100 items, 100 user attributes, 500 attributes, 50-character names, 1024-character values."""
    return [event_at_limits(app_id=t.app_id, event_id=t.new_event_id())]


EDGES: dict[str, Callable[[Target], list[dict[str, Any]]]] = {
    "unicode": _unicode, "integers": _integers, "floats": _floats, "empty-strings": _empty_strings,
    "1024-character-values": _long_values, "every-documented-field": _every_field,
    "every-limit": _at_limits,
}


@pytest.mark.requirement(INTACT, LOSS)
@pytest.mark.parametrize("label", list(EDGES))
def test_edge_values_are_stored_as_sent(target: Target, label: str) -> None:
    """A batch of edge values gets 200, then each event is in the sink, equal to what was sent."""
    events = EDGES[label](target)
    send_and_judge(target, events, _unicode_body(events) if label == "unicode" else None)


# --- a large gzip batch ---------------------------------------------------------------
def datagen_batch(target: Target, count: int) -> list[dict[str, Any]]:
    """Events like the data generator's: about 1.3 KB each, repetitive enough for gzip."""
    description = "Premium cotton t-shirt, relaxed fit, organic dye; ships in 2-3 days. " * 15
    return [target.event(event_type="_page_view", platform="Android", device_id=f"device-{i % 97}",
                         attributes={"_page_url": f"https://shop.example/p/{i}", "index": i,
                                     "description": description[:1000], "price": i + 0.5})
            for i in range(count)]


@pytest.mark.requirement(INTACT, LOSS)
def test_large_base64_gzip_batch_is_stored_whole(target: Target) -> None:
    """10,000 events in one base64(gzip) body of under 1,000,000 bytes (about 13 MB decoded),
    as the data generator sends: every one of them is stored, intact."""
    events = datagen_batch(target, 10_000)
    body = encode_base64_gzip(events)
    assert len(body) <= 1_000_000, f"suite bug: {len(body)} bytes as sent"
    send_and_judge(target, events, body, "CS-GZIP-200", compression="gzip", platform="Android")


# --- concurrent connections ---------------------------------------------------------------
CONNECTIONS, BATCHES_PER_CONNECTION, EVENTS_PER_BATCH = 8, 50, 3


@pytest.mark.requirement(CONCURRENT)
def test_concurrent_batches_are_all_stored(target: Target) -> None:
    """8 connections send 50 batches each at the same time: every event is stored, intact
    (interleaved appends are a classic way to lose or mangle them)."""
    lock, refused, acked = threading.Lock(), [], set()

    def connection(worker: int) -> None:
        with target.connection(str(worker)) as conn:
            for n in range(BATCHES_PER_CONNECTION):
                events = [target.event(attributes={"worker": worker, "batch": n, "slot": k, "pad": "c" * (50 * k)})
                          for k in range(EVENTS_PER_BATCH)]
                body, query = json.dumps(events).encode(), target.query(event_bundle_sequence_id=n + 1)
                ex = conn.send("POST", query, body, valid=True)
                with lock:
                    if ex.status == 200:
                        acked.update(e["event_id"] for e in events)
                    else:
                        refused.append(ex)
                if ex.status is None:
                    return  # the connection is gone; the rest of this worker's batches are not sent

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(connection, range(CONNECTIONS)))
    expect_all_accepted(refused)
    judge_sent(target, acked, CONCURRENT, CONCURRENT)


def expect_all_accepted(refused: list[Exchange]) -> None:
    if refused:
        raise RejectedValidData("CS-VALID-200", "200 to every concurrent batch",
                                f"{len(refused)} not answered 200, first: {describe(refused[0])}", refused[0])


# --- delivery lag (INFO) -----------------------------------------------------------------------
LAG_SAMPLES = 5


@pytest.mark.requirement("CS-DELIVERY-LAG")
def test_delivery_lag_is_observed(target: Target, delivery_notes: dict[str, Any]) -> None:
    """From the 200 to the event being visible in the sink: p50 and max of a few sends.
    The samples are sent one after another and then polled for together: each lag runs
    from its own 200 to the first poll that shows it (one read of the sink, not five)."""
    ids = []
    for _ in range(LAG_SAMPLES):
        event = target.event()
        target.post_valid(json.dumps([event]).encode(), "CS-VALID-200")
        ids.append(event["event_id"])
    lags = lag_ms(target.ledger, read_back(target, set(ids)), ids)
    delivery_notes["lag"] = lags
    summary = lag_summary(lags)
    value = f"p50 {summary['p50']:.0f} ms, max {summary['max']:.0f} ms" if summary else "not visible in time"
    target.observe(f"delivery lag over {len(lags)} of {LAG_SAMPLES} events: {value}", key="delivery lag", value=value)


# --- the account of the whole run -----------------------------------------------------------------
@pytest.fixture(scope="session")
def delivery_notes() -> dict[str, Any]:
    """What the delivery cases learn for the account (the lag samples)."""
    return {}


@pytest.fixture(scope="session")
def account(target: Target, results_section: Any, delivery_notes: dict[str, Any]) -> dict[str, Any]:
    """One read-back for every event the run sent, judged once; also the report's Delivery section."""
    ledger = target.ledger
    found = read_back(target, ledger.acked)  # the book itself: no set of 10^5 strings
    problems = acked_problems(ledger, found) + refused_problems(ledger, found)
    dups = duplicates(ledger, found)
    summary = delivery_summary(target, found, problems, dups, delivery_notes.get("lag", []))
    results_section("delivery", summary)
    return {"found": found, "problems": problems, "duplicates": dups, "summary": summary}


def delivery_summary(target: Target, found: ReadBack, problems: list[Problem], dups: Any,
                     lags: list[float]) -> dict[str, Any]:
    ledger, s = target.ledger, target.settings
    kinds = {k: {p.event_id for p in problems if p.kind == k} for k in ("lost", "corrupt")}
    refused = ledger.refused_only()
    return {
        "sink": s.sink.description, "record_shape": describe_shape(s.record_shape), "wait_s": s.sink_wait,
        "run_tag": ledger.tag, "read": found.summary(),
        "events": {"sent": ledger.sent_count(), "acked": len(ledger.acked),
                   # lost and corrupt are acknowledged ids, and no id is both
                   "found": len(ledger.acked) - len(kinds["lost"] | kinds["corrupt"]),
                   "lost": len(kinds["lost"]), "corrupt": len(kinds["corrupt"]), "duplicated": dups.extra_copies,
                   "refused": len(refused), "refused_stored": sum(p.kind.startswith("stored") for p in problems)},
        "lag_ms": lag_summary(lags), "dedup": dups.text(), "metadata": sorted(found.metadata),
        "problems": [p.to_dict() for p in problems[:20]],
    }


@pytest.mark.requirement(LOSS)
def test_every_acknowledged_event_is_stored(target: Target, account: dict[str, Any]) -> None:
    """Every valid event of every request answered 200, in any case of the run, is in the sink."""
    acked = len(target.ledger.acked)
    target.observe(f"{acked} acknowledged events; read {account['found'].records} records in "
                   f"{account['found'].polls} polls")
    fail_on(target, account["problems"], "lost", f"all {acked} acknowledged events in the sink", account["found"], acked)


@pytest.mark.requirement(INTACT)
def test_every_stored_event_is_intact(target: Target, account: dict[str, Any]) -> None:
    """Each stored event equals the event sent, as a JSON value; integers stay integers."""
    fail_on(target, account["problems"], "corrupt", "each stored event equal to the one sent",
            account["found"], len(target.ledger.acked))


@pytest.mark.requirement(REFUSED_403)
def test_events_refused_with_403_are_not_stored(target: Target, account: dict[str, Any]) -> None:
    """Events of requests refused for their appId or authentication never reach the store."""
    fail_on(target, account["problems"], "stored-after-403", "no event of a 401/403 request in the sink",
            account["found"], len(target.ledger.refused_only()))


@pytest.mark.requirement(REFUSED_4XX)
def test_events_refused_with_another_4xx_are_not_stored(target: Target, account: dict[str, Any]) -> None:
    """Events of requests refused with 413 or another 4xx are not stored (SHOULD)."""
    fail_on(target, account["problems"], "stored-after-4xx", "no event of a refused request in the sink",
            account["found"], len(target.ledger.refused_only()))


@pytest.mark.requirement("CS-DELIVERY-DUPLICATES")
def test_repeated_sends_are_observed(target: Target, account: dict[str, Any]) -> None:
    """Retries and repeated event_ids: stored once (deduplicating) or once per send."""
    text = account["duplicates"].text()
    target.observe(text, key="repeated sends", value=text.split(":")[0])


@pytest.mark.requirement("CS-DELIVERY-METADATA")
def test_record_metadata_is_observed(target: Target, account: dict[str, Any]) -> None:
    """Which request metadata the sink keeps with the events."""
    fields = ", ".join(sorted(account["found"].metadata)) or "none (events only)"
    target.observe(f"metadata kept per record: {fields}", key="metadata per record", value=fields)
