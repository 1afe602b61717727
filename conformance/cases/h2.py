"""HTTP/2 (profile h2, on with ``--profile h2``; ``certify`` chooses it when the
endpoint offers h2 by ALPN).

The Android SDK's OkHttp, iOS URLSession and Chromium all speak HTTP/2 to a server that
offers it, so a collector that terminates TLS itself serves most real traffic over h2.
These cases send the core requests that matter on the wire again, over HTTP/2, through
the h2 evidence client (``conformance/wire/h2.py``: every frame under the case's
control), and judge them under the core requirement IDs with the same checks. On top:
what only HTTP/2 has: a 413 sent before the upload ends and followed by RST_STREAM
(RFC 9113 section 8.1), the cookie split into several fields as browsers send it
(section 8.2.3), many concurrent streams on one connection, and more streams than the
server's limit, queued by the client as OkHttp queues them.

An endpoint that offers no HTTP/2 is no failure: CS-H2-ALPN says "h2 not offered" and
every other case here SKIPs with that reason. One that selects h2 by ALPN and then does
not speak it fails each case on its requirement, with the connection's first bytes as
evidence.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import pytest

from conformance import catalog
from conformance.catalog import requirement_ids
from conformance.cases.auth import expect_auth_refused
from conformance.checks import describe, expect_app_refused, expect_too_large
from conformance.wire.exchange import Exchange
from conformance.failures import ConformanceFailure, CouldNotJudge, RejectedValidData, TooSlow
from conformance.target import Target
from conformance.strategies import batch_of_size, encode_base64_gzip, event_at_limits, hash_code

if TYPE_CHECKING:  # pragma: no cover
    from conformance.wire.h2 import H2Client, H2Facts, Queueing

PROFILE = "h2"
NOT_OFFERED = "h2 not offered"
STREAMS_CAP = 100  # concurrent streams asked of a server that allows more (or sets no limit)
BEYOND_MARGIN = 8  # streams past the server's limit, at least (a tenth of the limit when more)
BEYOND_CAP = 600   # streams in all, at most, in the case that goes past the limit
LIMIT = 1_048_576


class NotHttp2(ConformanceFailure):
    title = "The endpoint selected h2 by ALPN, then did not speak HTTP/2"


@dataclass
class H2Link:
    """What the run's first HTTP/2 connection showed: the h2 target, or why there is none."""

    target: Target | None = None     # the run's target over this connection's client
    client: "H2Client | None" = None  # that client, for what only HTTP/2 can do (concurrent streams)
    facts: "H2Facts | None" = None
    not_offered: str = ""            # no h2 here: the cases skip with this (not a failure)
    not_spoken: Exchange | None = None  # ALPN said h2, the connection said otherwise
    error: str = ""                  # could not connect at all (the HTTP/1.1 cases say more)


# --- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def h2_link(target: Target) -> Iterator[H2Link]:
    """One HTTP/2 connection for the run, opened once; closed when the run ends."""
    settings = target.settings
    if PROFILE not in settings.profiles:
        yield H2Link()
        return
    from conformance.wire.h2 import H2Client, H2NotOffered, H2NotSpoken
    client = H2Client(settings.endpoint, settings.timeout, settings.secrets, tls=settings.tls)
    try:
        yield _connect(client, target, H2NotOffered, H2NotSpoken)
    finally:
        client.close()


def _connect(client: "H2Client", target: Target, not_offered: type[Exception],
             not_spoken: type[Exception]) -> H2Link:
    try:
        facts = client.connect()
    except not_offered as exc:
        text = str(exc)
        return H2Link(not_offered=text if text.startswith(NOT_OFFERED) else f"{NOT_OFFERED}: {text}")
    except not_spoken:
        # The first request of any case meets the same connection: its evidence (with
        # the --http2 curl line) is shown by every case.
        ex = client.send("POST", target.query(), target.good_body(), target.headers(), case="h2 connection")
        return H2Link(not_spoken=ex)
    except OSError as exc:
        return H2Link(error=f"could not open an HTTP/2 connection to {target.settings.endpoint}: {exc}")
    return H2Link(target=target.over(client), client=client, facts=facts)


@pytest.fixture
def h2(request: pytest.FixtureRequest, target: Target, h2_link: H2Link) -> Target:
    """The collector as seen over HTTP/2: a Target whose client is the h2 evidence client,
    recording into the current case and the run's history."""
    if PROFILE not in target.settings.profiles:
        pytest.skip("profile not selected: h2 (give --profile h2)")
    if h2_link.not_offered:
        pytest.skip(h2_link.not_offered)
    if h2_link.error:
        raise CouldNotJudge(h2_link.error)
    if h2_link.not_spoken is not None:
        ex = h2_link.not_spoken
        target.keep(ex)
        raise NotHttp2(_first_must(request.node), "HTTP/2 frames (the server's SETTINGS) after ALPN selected h2",
                       describe(ex), ex)
    assert h2_link.target is not None
    return h2_link.target


def _first_must(item: pytest.Item) -> str:
    ids = requirement_ids(item)
    return next((i for i in ids if catalog.get(i).level == catalog.MUST), ids[0])


# --- the core requests again, over HTTP/2 ------------------------------------------------
@pytest.mark.requirement("CS-VALID-200")
@pytest.mark.parametrize("events", [1, 20], ids=["1-event", "20-events"])
def test_valid_batch_over_h2_gets_200(h2: Target, events: int) -> None:
    """A valid batch sent as one HTTP/2 stream is answered with exactly 200."""
    h2.post_valid(h2.good_body(events), "CS-VALID-200")


@pytest.mark.requirement("CS-GZIP-200")
def test_base64_gzip_batch_over_h2_gets_200(h2: Target) -> None:
    """compression=gzip with base64(gzip(JSON)), as the Android SDK sends it over h2 -> 200."""
    batch = [h2.event(platform="Android") for _ in range(25)]
    h2.post_valid(encode_base64_gzip(batch), "CS-GZIP-200", compression="gzip", platform="Android")


@pytest.mark.requirement("CS-HASH-200")
def test_correct_hash_code_over_h2_gets_200(h2: Target) -> None:
    """A correct hashCode over the UTF-8 bytes as sent, over h2 -> 200."""
    body = json.dumps([h2.event(attributes={"title": "Schöne Grüße, 你好 👋"})], ensure_ascii=False).encode()
    h2.post_valid(body, "CS-HASH-200", platform="Web", hashCode=hash_code(body))


@pytest.mark.requirement("CS-LIMITS-200")
def test_event_at_every_limit_over_h2_gets_200(h2: Target) -> None:
    """100 items, 100 user attributes, 500 attributes, long names and values, over h2 -> 200."""
    event = event_at_limits(app_id=h2.app_id, event_id=h2.new_event_id())
    h2.post_valid(json.dumps([event], ensure_ascii=False).encode(), "CS-LIMITS-200")


@pytest.mark.requirement("CS-APPID-403")
@pytest.mark.parametrize("kind", ["unknown", "missing"])
def test_bad_app_id_over_h2_gets_403(h2: Target, kind: str) -> None:
    """A valid body for an unknown or missing appId, over h2 -> 403."""
    query = h2.query(app_id=f"{h2.app_id}_not_registered_h2") if kind == "unknown" else h2.query(app_id=None,
                                                                                                   platform="Web")
    expect_app_refused(h2.send("POST", query, h2.good_body()))


@pytest.mark.requirement("CS-SIZE-413")
@pytest.mark.parametrize("size", [LIMIT + 1, 8 * LIMIT], ids=["1048577", "8MiB"])
def test_oversized_body_over_h2_gets_413(h2: Target, size: int) -> None:
    """Past 1,048,576 bytes -> a 413 the client reads, also when it comes before the upload
    ends and the stream is then reset with NO_ERROR (RFC 9113 section 8.1); a reset with no
    answer at all is a failure."""
    _, body = batch_of_size(size, app_id=h2.app_id, tag=h2.tag)
    ex = h2.post(body)
    expect_too_large(ex)
    how = "before the upload ended" if ex.early_answer else "after the whole upload"
    h2.observe(f"{size:,} bytes: 413 {how}" + (f" ({ex.detail})" if ex.detail else ""))


# --- the cookie as browsers send it over HTTP/2 ------------------------------------------------
def _split_cookies(h2: Target, variant: str) -> list[tuple[str, str]]:
    """The cookie in several ``cookie`` fields, one pair each (RFC 9113 section 8.2.3)."""
    name, value = h2.settings.auth_cookie or ("", "")
    middle = {"right-value": [("cookie", f"{name}={value}")], "without": [],
              "wrong-value": [("cookie", f"{name}=not-{value[:2]}-the-right-value")]}[variant]
    return [("cookie", "_ga=GA1.1.5"), *middle, ("cookie", "theme=dark")]


@pytest.mark.requirement("CS-AUTH-COOKIE", "CS-AUTH-403")
@pytest.mark.parametrize("variant", ["right-value", "without", "wrong-value"])
def test_cookie_split_into_several_fields_over_h2(h2: Target, variant: str) -> None:
    """The auth cookie as the second of three ``cookie`` fields -> 200; the same fields
    without it, or with a wrong value -> refused (403; 401 warns)."""
    headers = h2.headers(cookie=False, extra=_split_cookies(h2, variant))
    if variant == "right-value":
        h2.post_valid(h2.good_body(), "CS-AUTH-COOKIE", headers=headers, soft_checks=False)
    else:
        expect_auth_refused(h2, h2.post(h2.good_body(), headers=headers))


# --- many streams on one connection -----------------------------------------------------------
def stream_count(facts: "H2Facts | None") -> int:
    """As many streams as the server lets one connection open at once, at most 100."""
    allowed = facts.max_concurrent_streams if facts is not None else None
    return STREAMS_CAP if allowed is None else max(1, min(allowed, STREAMS_CAP))


@pytest.mark.requirement("CS-VALID-200", "CS-DELIVERY-CONCURRENT")
def test_many_concurrent_streams_are_all_answered(h2: Target, h2_link: H2Link) -> None:
    """As many concurrent streams as the server allows (at most 100) on one connection,
    each a valid batch: every one is answered 200 and, with --sink, every event is stored."""
    count = stream_count(h2_link.facts)
    exchanges = _send_streams(h2, h2_link, count, h2.settings.timeout)
    fresh = sum(ex.retried for ex in exchanges)
    assert h2_link.client is not None
    h2.observe(f"{count} concurrent streams on one connection (server's limit: "
               f"{_limit_text(h2_link.facts)}), all answered 200" + _refused_note(h2_link.client.queueing)
               + (f"; {fresh} sent again on a fresh connection" if fresh else ""))


def beyond_count(limit: int | None) -> int | None:
    """More streams than the server's limit (a tenth more, at least 8), or None when
    that is past the suite's bound (no limit set, or a very high one)."""
    if limit is None:
        return None
    count = limit + max(BEYOND_MARGIN, limit // 10)
    return count if count <= BEYOND_CAP else None


@pytest.mark.requirement("CS-VALID-200", "CS-DELIVERY-CONCURRENT")
def test_streams_beyond_the_server_limit_are_queued_and_answered(h2: Target, h2_link: H2Link) -> None:
    """More streams than the server's SETTINGS_MAX_CONCURRENT_STREAMS on one connection:
    the client opens as many as allowed and queues the rest, each opened as another
    closes (as OkHttp does); every one is answered 200 and, with --sink, stored. A stream
    refused unprocessed (REFUSED_STREAM, as after a limit lowered mid-connection) goes again."""
    limit = h2_link.facts.max_concurrent_streams if h2_link.facts is not None else None
    count = beyond_count(limit)
    if count is None:
        pytest.skip(f"the server's limit ({_limit_text(h2_link.facts)}) leaves no room to go past it "
                    f"within {BEYOND_CAP} streams")
    assert limit is not None and h2_link.client is not None
    rounds = -(-count // max(limit, 1))
    exchanges = _send_streams(h2, h2_link, count, h2.settings.timeout * rounds)
    q = h2_link.client.queueing
    h2.observe(f"{count} streams on one connection, server's limit {limit} (at the end: "
               f"{'none' if q.limit is None else q.limit}): {q.queued} queued, at most {q.peak_open} "
               f"open at once, all answered 200{_refused_note(q)}",
               key="h2 streams queued past the limit", value=f"{q.queued} of {count} (limit {limit})")
    if any(ex.retried for ex in exchanges):
        h2.observe(f"{sum(ex.retried for ex in exchanges)} sent again on a fresh connection")


def _refused_note(q: "Queueing") -> str:
    return f"; {q.refused} refused (REFUSED_STREAM) and sent again" if q.refused else ""


def _send_streams(h2: Target, h2_link: H2Link, count: int, timeout: float) -> list[Exchange]:
    """``count`` valid batches as streams of the kept connection; each 200 or a failure;
    with --sink, every acknowledged event is read back."""
    from conformance.wire.h2 import H2Request
    sends = []
    for n in range(count):
        events = [h2.event(attributes={"stream": n, "slot": k}) for k in range(2)]
        query = h2.query(event_bundle_sequence_id=n + 1)
        sends.append((events, query, json.dumps(events).encode()))
    requests = [H2Request("POST", query, body, tuple(h2.headers()), f"{h2.case.name} [{n}]")
                for n, (_, query, body) in enumerate(sends)]
    assert h2_link.client is not None
    exchanges = h2_link.client.send_many(requests, timeout=timeout)
    acked: set[str] = set()
    for (events, query, body), ex in zip(sends, exchanges):
        h2.book(ex, body, query, valid=True)
        if ex.status == 200:
            acked.update(e["event_id"] for e in events)
    _judge_streams(h2, exchanges, count, timeout)
    if h2.active("CS-DELIVERY-CONCURRENT"):
        from conformance.cases.delivery import judge_sent
        judge_sent(h2, acked, "CS-DELIVERY-CONCURRENT", "CS-DELIVERY-CONCURRENT")
    return exchanges


def _judge_streams(h2: Target, exchanges: list[Exchange], count: int, timeout: float) -> None:
    refused = [ex for ex in exchanges if ex.outcome == "refused"]
    if len(refused) == len(exchanges):
        raise CouldNotJudge(f"connection refused: {refused[0].detail}", refused[0])
    slow = [ex for ex in exchanges if ex.outcome == "timeout"]
    if slow:
        raise TooSlow("CS-TIMELY", f"an answer to each of {count} streams of one connection within "
                                   f"{timeout:g} s", f"{len(slow)} timed out, first: {describe(slow[0])}",
                      slow[0])
    bad = [ex for ex in exchanges if ex.status != 200]
    if bad:
        raise RejectedValidData("CS-VALID-200", f"200 on every one of {count} streams of one connection",
                                f"{len(bad)} not answered 200, first: {describe(bad[0])}", bad[0])


def _limit_text(facts: "H2Facts | None") -> str:
    allowed = facts.max_concurrent_streams if facts is not None else None
    return "none set" if allowed is None else str(allowed)


# --- observations (INFO) ----------------------------------------------------------------------------
@pytest.mark.requirement("CS-H2-ALPN")
def test_alpn_offer_is_observed(target: Target, h2_link: H2Link) -> None:
    """Which protocol the endpoint selects from the offer h2, http/1.1 (as OkHttp, URLSession
    and Chromium offer), and whether it accepts http/1.1 offered alone."""
    from conformance.wire.h2 import alpn_selected
    settings = target.settings
    if not settings.endpoint.startswith("https:"):
        h2c = "h2c spoken" if h2_link.target is not None else h2_link.not_offered or h2_link.error
        target.observe(f"plain http:// endpoint, no TLS and so no ALPN; {h2c}", key="h2",
                       value="h2c" if h2_link.target is not None else "not offered")
        return
    chosen = alpn_selected(settings.endpoint, ("h2", "http/1.1"), settings.timeout, settings.tls)
    alone = alpn_selected(settings.endpoint, ("http/1.1",), settings.timeout, settings.tls)
    target.observe(f"offered h2, http/1.1: selected {chosen}; offered http/1.1 alone: selected {alone}")
    if h2_link.target is not None:
        target.observe("h2 offered and spoken", key="h2", value="offered (ALPN)")
    elif h2_link.not_spoken is not None:
        target.observe(f"h2 selected by ALPN but not spoken: {h2_link.not_spoken.detail}", key="h2",
                       value="claimed by ALPN, not spoken")
    else:
        target.observe(h2_link.not_offered or h2_link.error, key="h2", value="not offered")


@pytest.mark.requirement("CS-H2-SETTINGS")
def test_server_settings_are_observed(target: Target, h2_link: H2Link) -> None:
    """The SETTINGS the server sent first on the HTTP/2 connection."""
    if h2_link.not_offered:
        pytest.skip(h2_link.not_offered)
    if h2_link.facts is None:
        target.observe("no SETTINGS: " + (h2_link.not_spoken.detail if h2_link.not_spoken else h2_link.error))
        return
    shown = ", ".join(f"{name} {value}" for name, value in sorted(h2_link.facts.settings.items())) or "none (defaults)"
    target.observe(f"server SETTINGS: {shown}", key="h2 SETTINGS_MAX_CONCURRENT_STREAMS",
                   value=_limit_text(h2_link.facts))


@pytest.mark.requirement("CS-H2C")
def test_h2c_prior_knowledge_is_observed(target: Target, h2_link: H2Link) -> None:
    """Whether a plain http:// endpoint speaks HTTP/2 with prior knowledge (h2c)."""
    if target.settings.endpoint.startswith("https:"):
        pytest.skip("the endpoint is https: h2c (prior knowledge) applies to a plain http:// endpoint")
    spoken = h2_link.target is not None
    detail = "" if spoken else f" ({h2_link.not_offered or h2_link.error or 'not spoken'})"
    target.observe(f"h2c with prior knowledge: {'yes' if spoken else 'no'}{detail}", key="h2c (prior knowledge)",
                   value="yes" if spoken else "no")
