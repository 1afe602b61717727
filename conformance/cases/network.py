"""Hostile network (profile ``network``): slow, idle, flooding and aborting clients.

Phones on 2G upload a few bytes a second, connections are left open, and a collector on
the internet meets slowloris too. The document's Request response section promises the
client an answer; the suite's request timeout (10 s by default, the Web SDK's) is how long
a real client waits. While each attack runs (``conformance/engines/attacks.py``), a canary sends
valid batches at a steady pace on fresh connections: the collector must keep answering
them without a 5xx (CS-NET-CANARY), serve again within 5 s once the attack ends
(CS-NET-RECOVER), and should keep the canary's p99 latency within the request timeout
(CS-NET-LATENCY). An upload cut short is stored whole or not at all (CS-NET-ABORT, with
``--sink``). How long the collector holds each kind of connection is recorded (INFO).
"""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conformance.engines import attacks
from conformance.checks import describe
from conformance.engines.readback import memo_for, read_until
from conformance.failures import ConformanceFailure, CouldNotJudge
from conformance.engines.ledger import canonical, fingerprint
from conformance.engines.sinks import SinkError
from conformance.target import Target
from conformance.wire.exchange import Exchange

CANARY, RECOVER, LATENCY, TIMEOUTS, ABORT = (
    "CS-NET-CANARY", "CS-NET-RECOVER", "CS-NET-LATENCY", "CS-NET-TIMEOUTS", "CS-NET-ABORT")
ABORT_READ_WAIT = 3.0  # without a barrier: seconds to let a pipeline show what it kept of the cut uploads
# The first read waits until this long after the cut: a server that salvages a cut body
# on another thread may store it just after the barrier.
ABORT_SETTLE = 1.0


class CanaryStarved(ConformanceFailure):
    title = "The collector stopped answering valid requests while hostile clients were connected"


class NotRecovered(ConformanceFailure):
    title = "The collector was not serving again soon after the hostile clients left"


class SlowCanary(ConformanceFailure):
    title = "Valid requests were slowed past the request timeout while hostile clients were connected"


class PartialUpload(ConformanceFailure):
    title = "An upload cut short was stored in part or changed"


@pytest.fixture(scope="session")
def network_notes(results_section: Any, target: Target) -> dict[str, Any]:
    """The Network section of results.json, filled in by the cases."""
    s = target.settings
    notes = {"seconds": s.network_seconds, "sockets": s.network_sockets,
             "sockets_allowed": attacks.allowed_sockets(s.network_sockets),
             "request_timeout_s": s.timeout, "recovery_grace_s": attacks.RECOVERY_GRACE, "attacks": []}
    return results_section("network", notes)


def plan_for(target: Target) -> attacks.Plan:
    s = target.settings
    return attacks.Plan(endpoint=s.endpoint, query=target.query(), headers=target.headers(),
                        request_timeout=s.timeout, seconds=s.network_seconds, sockets=s.network_sockets,
                        secrets=s.secrets, make_body=attacks.make_events_body(target.event),
                        case=target.case.name, tls=s.tls, ssl_context=_ssl_context(s),
                        send=_canary_sender(target))


def _canary_sender(target: Target) -> Any:
    """The canary's requests go through the target, which books each one in the case and
    the history: a 200 to the canary is an acknowledgement like any other."""
    def send(body: bytes, headers: list[tuple[str, str]], timeout: float, label: str) -> Exchange:
        with target.connection(label, timeout=timeout) as conn:
            return conn.send("POST", target.query(), body, headers, valid=True)
    return send


def _ssl_context(settings: Any) -> Any:
    if settings.tls is None:
        return None
    from conformance.wire import tls
    return tls.client_context(settings.tls)


def attack(target: Target, notes: dict[str, Any], kind: str) -> attacks.AttackReport:
    """Run one attack with the canary, book the canary's 200s in the history, and judge
    the MUSTs and the SHOULD every attack shares."""
    def send_good(timeout: float) -> int | None:
        return target.send_known_good("after", timeout=min(timeout, target.settings.timeout)).status

    plan = plan_for(target)
    if attacks.allowed_sockets(plan.sockets) < plan.sockets:
        target.observe(f"ulimit -n leaves room for {attacks.allowed_sockets(plan.sockets)} of the "
                       f"{plan.sockets} sockets asked for (--network-sockets); the attack uses that many")
    report = attacks.run_attack(kind, plan, attacks.recovery(send_good))
    notes["attacks"].append(report.to_dict())
    _observe(target, report)
    target.judged(TIMEOUTS)  # observed: what the collector's timeouts are (INFO)
    _judge_canary(target, report)
    return report


def _observe(target: Target, report: attacks.AttackReport) -> None:
    for kind, held in sorted(report.held.items()):
        if held:
            spread = attacks.spread(held)
            target.observe(f"{report.name}: the collector closed {len(held)} {kind} connections after "
                           f"{spread['min']}..{spread['max']} s (median {spread['median']} s)",
                           key=f"{kind} connection timeout", value=f"{spread['median']} s")
    for kind, count in sorted(report.kept_open.items()):
        if count and not report.held.get(kind):
            target.observe(f"{report.name}: the collector kept all {count} {kind} connections open for the "
                           f"attack's {report.seconds:g} s", key=f"{kind} connection timeout",
                           value=f"over {report.seconds:g} s")
    _observe_connects(target, report)
    if report.name == "flood":
        target.observe(f"flood: {report.peak_open} connections open at once, answers {report.statuses}",
                       key="most concurrent connections served", value=str(report.statuses.get("200", 0)))
    p99 = report.canary_p99()
    target.observe(f"{report.name}: canary p99 {p99 if p99 is None else round(p99, 3)} s over "
                   f"{len(report.shots)} requests; serving again after "
                   f"{'-' if report.recovered_after is None else round(report.recovered_after, 3)} s")


def _observe_connects(target: Target, report: attacks.AttackReport) -> None:
    """What the listen queue did with the attack's connects (INFO): a short queue makes
    connects wait for SYN retries or fail, which the attack counts and does not wait out."""
    wanted, at_once = report.sockets_allowed, report.connected_at_once
    if at_once >= wanted:
        return
    failed = ", ".join(f"{n} {why}" for why, n in sorted(report.connects.items()))
    target.observe(f"{report.name}: the listen queue took {at_once} of {wanted} connections at once; "
                   f"{report.opened - at_once} more connected after a SYN retry"
                   + (f"; not connected: {failed}" if failed else ""),
                   key="connections the listen queue took at once", value=f"{at_once} of {wanted}")


def _judge_canary(target: Target, report: attacks.AttackReport) -> None:
    bad = report.bad_shots()
    if not report.shots:
        raise CouldNotJudge(f"no canary request completed during the {report.name} attack")
    if bad:
        first = bad[0]
        raise CanaryStarved(CANARY, "every canary request answered, none with a 5xx, by 5 s after the attack",
                            f"{len(bad)} of {len(report.shots)} canary requests failed; the first, at "
                            f"{first.at:.1f} s into the attack: {describe(first.exchange)}", first.exchange,
                            detail=f"attack {report.name}: {report.peak_open} hostile connections open at the peak")
    target.judged(CANARY)
    if report.recovered_after is None:
        raise NotRecovered(RECOVER, f"a 200 within {attacks.RECOVERY_GRACE:g} s after the attack's sockets closed",
                           "no 200 to a known-good request in that time", detail=f"attack {report.name}")
    target.judged(RECOVER)
    p99 = report.canary_p99()
    if p99 is not None and p99 > target.settings.timeout:
        target.warn(SlowCanary(
            LATENCY, f"canary p99 latency within the request timeout ({target.settings.timeout:g} s)",
            f"p99 {p99:.2f} s during the {report.name} attack ({report.peak_open} hostile connections)",
            max(report.shots, key=lambda s: s.latency or 0).exchange))
    else:
        target.judged(LATENCY)


def judge_uploads(target: Target, report: attacks.AttackReport) -> None:
    """With a sink: each cut upload's events are all stored, intact, or none is."""
    s = target.settings
    if s.sink is None:
        target.observe(f"{report.name}: what the collector stored of {len(report.uploads)} cut uploads was "
                       "not checked (no --sink)")
        return
    barrier = send_barrier(target)
    # With a barrier, the sink has caught up past the cut uploads once it shows the
    # barrier; without one (not answered 200), the cut uploads' own events are waited for
    # a short while: they are not expected, so that wait is usually spent in full.
    wanted = {barrier} if barrier else {e["event_id"] for u in report.uploads for e in u.events}
    wait = s.sink_wait if barrier else min(s.sink_wait, ABORT_READ_WAIT)
    time.sleep(max(0.0, report.closed_at + ABORT_SETTLE - time.monotonic()))
    try:
        found = read_until(s.sink, s.record_shape, target.ledger.is_ours, wanted, wait,
                           memo_for(s.sink, s.record_shape))
    except SinkError as exc:
        raise CouldNotJudge(f"could not read the sink {s.sink.description}: {exc}") from None
    problems, stored_whole = [], 0
    # A copy with the sent fingerprint is the event as sent; the others are read again.
    suspects = found.events(e["event_id"] for u in report.uploads for e in u.events
                            if e["event_id"] in found.copies and fingerprint(e) not in found.copies[e["event_id"]])
    for upload in report.uploads:
        ids = [e["event_id"] for e in upload.events]
        present = [i for i in ids if i in found.copies]
        changed = [e["event_id"] for e in upload.events if e["event_id"] in suspects
                   and all(canonical(c) != canonical(e) for c in suspects[e["event_id"]])]
        if present and not changed and len(present) == len(ids):
            stored_whole += 1
        elif present:
            problems.append(f"{upload.encoding} upload cut after {upload.sent_bytes} of {upload.body_bytes} "
                            f"bytes ({upload.how}): {len(present)} of {len(ids)} events stored"
                            + (f", {len(changed)} changed, e.g. {changed[0]}" if changed else ""))
    target.observe(f"{report.name}: of {len(report.uploads)} cut uploads, {stored_whole} stored whole, "
                   f"{len(problems)} in part, the rest not at all")
    if problems:
        raise PartialUpload(ABORT, "each cut upload stored whole or not at all, each event as sent",
                            f"{len(problems)} of {len(report.uploads)} cut uploads stored in part or changed",
                            detail="\n  ".join(problems[:5]))


def send_barrier(target: Target) -> str | None:
    """A valid event sent after the cut uploads ended; its event_id once answered 200.
    A store that shows it has written what it received before it (the uploads' bytes
    arrived first), so the read needs no fixed wait for events that should not appear."""
    event = target.event(attributes={"network": "barrier after the cut uploads"})
    ex = target.send_known_good("barrier", body=json.dumps([event], separators=(",", ":")).encode())
    return event["event_id"] if ex.status == 200 else None


@pytest.mark.requirement(CANARY, RECOVER, LATENCY, TIMEOUTS)
def test_slow_headers_do_not_starve_real_clients(target: Target, network_notes: dict[str, Any]) -> None:
    """Slowloris: many connections each dripping a header byte every 2 s."""
    attack(target, network_notes, "slow-headers")


@pytest.mark.requirement(CANARY, RECOVER, LATENCY, TIMEOUTS, ABORT)
def test_slow_bodies_do_not_starve_real_clients(target: Target, network_notes: dict[str, Any]) -> None:
    """Valid requests whose bodies arrive 4 bytes a second, cut off when the attack ends."""
    judge_uploads(target, attack(target, network_notes, "slow-body"))


@pytest.mark.requirement(CANARY, RECOVER, LATENCY, TIMEOUTS)
def test_idle_connections_do_not_starve_real_clients(target: Target, network_notes: dict[str, Any]) -> None:
    """Connections opened and left silent, and kept-alive connections left idle after a request."""
    attack(target, network_notes, "idle")


@pytest.mark.requirement(CANARY, RECOVER, LATENCY, TIMEOUTS)
def test_a_connection_flood_does_not_starve_real_clients(target: Target, network_notes: dict[str, Any]) -> None:
    """As many connections at once as allowed, each sending one valid batch."""
    attack(target, network_notes, "flood")


@pytest.mark.requirement(CANARY, RECOVER, LATENCY, ABORT)
def test_aborted_uploads_are_stored_whole_or_not_at_all(target: Target, network_notes: dict[str, Any]) -> None:
    """Uploads cut off halfway through the body (plain and base64-gzip; reset or closed)."""
    judge_uploads(target, attack(target, network_notes, "aborted"))

