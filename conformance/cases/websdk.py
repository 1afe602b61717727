"""The real Web SDK (profile ``websdk``: ``--profile websdk`` with ``--origin``).

``@aws/clickstream-web`` (0.12.6 unless ``--websdk-version`` says otherwise, set up by
``clickstream-conformance setup websdk``) runs in headless Chromium, on a page the suite
serves, and sends to the collector under test. The verdict is the SDK's own: a send it
finds failed (anything but exactly 200, or an answer the browser withholds, as with a
CORS refusal) leaves its events in its failed-event or pending-event store, to be sent
again later. Every send the page recorded is evidence; with ``--sink``, every event of
a send answered 200 must also be in the sink (CS-DELIVERY-NO-LOSS and -INTACT, judged
at once and again in the run's account). The cases name only the websdk requirements,
so they run only when that profile is selected.
"""
from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from conformance.cases.delivery import judge_sent
from conformance.failures import CouldNotJudge, SdkSendsFailed
from conformance.engines.ledger import event_ids_in
from conformance.target import Target
from conformance.wire.exchange import EvidenceBuilder
from conformance.engines.websdk import PACKAGE
from conformance.engines.websdk.driver import Browser, Scenario, ScenarioRun, Step, as_exchange

SENDS, CORS = "CS-WEBSDK-SENDS", "CS-WEBSDK-CORS"
SHOWN = 3

# Events a shop page records, in the SDK's own terms.
SHOP_EVENTS = (
    Step("record", {"name": "button_click", "attributes": {"button": "add_to_cart", "price": 99.9, "in_stock": True}}),
    Step("record", {"name": "product_view", "attributes": {"currency": "EUR"},
                    "items": [{"id": "p-1", "name": "Schöne Schuhe", "price": 89.5, "quantity": 1, "category": "shoes"}]}),
    Step("setUserId", "conformance-user-1"),
    Step("record", {"name": "search", "attributes": {"query": "你好 👋🏽 Привет", "results": 12}}),
)
BATCH = tuple(Step("record", {"name": "batch_event", "attributes": {"index": i, "note": "queued"}}) for i in range(20))

SCENARIOS = {
    "immediate": Scenario("immediate", "Immediate", SHOP_EVENTS),
    # The timer flushes every 2 s; the store holds the events until the flush succeeds.
    "batch-flush": Scenario("batch-flush", "Batch", BATCH, interval_ms=2000),
    # A timer that never fires: only the page going hidden sends the stored events.
    "hidden-flush": Scenario("hidden-flush", "Batch", (*BATCH[:8], Step("hide")), interval_ms=600_000),
    "largest-attribute-set": Scenario("largest-attribute-set", "Immediate", (Step("largest"),)),
}
CROSS_ORIGIN = Scenario("cross-origin-credentials", "Immediate", SHOP_EVENTS, cross_origin=True)


@pytest.fixture(scope="session")
def browser(target: Target) -> Iterator[Browser]:
    """One headless Chromium for the websdk cases, closed when they are done."""
    s = target.settings
    chromium = Browser(s.chromium, s.websdk, s.endpoint, s.app_id, s.auth_cookie, s.tls, origin=s.origin)
    try:
        chromium.start()
    except Exception as exc:  # the driver's errors are its own classes; the message says it all
        raise CouldNotJudge(f"could not start Chromium ({s.chromium}): {exc}") from None
    yield chromium
    chromium.close()


def run_scenario(target: Target, browser: Browser, scenario: Scenario, requirement: str) -> ScenarioRun:
    """Run one scenario in the page, enter its sends as evidence and in the ledger, and
    judge it by the SDK's stores."""
    s = target.settings
    target.observe(f"{PACKAGE} {s.websdk.version} in Chromium {browser.version} (playwright {s.websdk_driver})",
                   key="Web SDK driven", value=f"{s.websdk.version}, Chromium {browser.version}")
    origin = browser.scenario_origin(scenario)
    try:
        run = browser.run(scenario)
    except Exception as exc:
        raise CouldNotJudge(f"the browser could not run scenario {scenario.name}: {exc}") from None
    exchanges, evidence = [], EvidenceBuilder(s.secrets)
    for send in run.sends:
        ex = as_exchange(send, f"{target.case.name} [{scenario.name}]", evidence)
        exchanges.append(ex)
        target.book(ex, ex.sent_body, urlsplit(send.url).query, valid=send.body is not None, judged=False)
    page = f"page at {origin}, {len(run.sends)} sends in {run.seconds:.1f} s"
    if not run.settled:
        page += " (still sending when the wait ended)"
    if not run.sends:
        raise CouldNotJudge(f"the SDK sent nothing ({page}); console: {'; '.join(run.console) or 'empty'}")
    if not run.sdk_content:
        bad = [(send, ex) for send, ex in zip(run.sends, exchanges) if not send.ok]
        lines = [f"{send.method} {send.url[:120]} ({send.event_count()} events) -> {send.outcome()}"
                 for send, _ in bad[:SHOWN]]
        if len(bad) > SHOWN:
            lines.append(f"... and {len(bad) - SHOWN} more")
        lines += [f"console {line}" for line in distinct_console(run.console)]
        first = bad[0][1] if bad else exchanges[0]
        raise SdkSendsFailed(requirement, "every send answered 200, and the SDK's failed-event and pending-event "
                             "stores empty at the end", f"{len(bad)} of {len(run.sends)} sends not answered 200 "
                             f"in the SDK's view; {run.store_summary()}", first,
                             detail=f"{scenario.name} ({page}):\n  " + "\n  ".join(lines))
    target.observe(f"{scenario.name}: {len(run.sends)} sends, "
                   f"{sum(send.event_count() for send in run.sends)} events, all 200 in the SDK's view")
    if target.tracking:
        acked = {event_id for send in run.sends if send.ok
                 for event_id in event_ids_in((send.body or "").encode(), urlsplit(send.url).query)}
        judge_sent(target, acked)
    return run


def distinct_console(lines: list[str], limit: int = 4) -> list[str]:
    """The browser's distinct complaints (a CORS refusal says why), URLs folded away."""
    seen: dict[str, None] = {}
    for line in lines:
        seen.setdefault(re.sub(r"'?https?://\S+?'? ", "<url> ", line)[:600], None)
    return list(seen)[:limit]


def expect_batched(run: ScenarioRun) -> None:
    """A batch scenario must have sent several events in one request, or it did not test a flush."""
    if not any(send.event_count() > 1 for send in run.sends):
        raise CouldNotJudge(f"{run.scenario.name}: the SDK made no batch send ({len(run.sends)} sends of one event)")


@pytest.mark.requirement(SENDS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_web_sdk_finds_every_send_successful(target: Target, browser: Browser, name: str) -> None:
    """The real Web SDK, on a page at the endpoint's origin, sends (immediately, by batch, when
    the page is hidden, its largest event): afterwards it holds nothing to send again."""
    run = run_scenario(target, browser, SCENARIOS[name], SENDS)
    if SCENARIOS[name].send_mode == "Batch":
        expect_batched(run)


@pytest.mark.requirement(CORS)
def test_web_sdk_cross_origin_credentialed_sends_succeed(target: Target, browser: Browser) -> None:
    """The page at --origin: every send is a credentialed cross-origin fetch (after a preflight);
    the browser must let each answer through, and the SDK must find each one successful."""
    run_scenario(target, browser, CROSS_ORIGIN, CORS)
