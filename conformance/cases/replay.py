"""Replay of real clients' traffic (real-world.md, "Captured requests").

Every POST that the real Web SDK (0.12.6, in Chromium) and the solution's data
generator sent, shipped as ``conformance/fixtures/*.jsonl``, is sent again byte for
byte: the captured path's query with only the appId value replaced by the target's,
and the captured body untouched, so its hashCode still holds. One case per captured
scenario, so a failure names the real-world situation it broke.

With a sink, the replayed events are entered in the run's ledger like any valid
send. Their event_ids are fixed by the capture, so a shared sink may hold them from
an earlier run too: the ledger counts such ids as found (the events are there) but
leaves them out of the refusal and duplicate accounts (``Ledger.is_fresh``).
"""
from __future__ import annotations

from urllib.parse import quote

import pytest

from conformance.fixtures import Captured, posts_by_scenario
from conformance.target import Target

REQ = "CS-REPLAY-200"
# Captured headers not replayed: the transport's own (the client sets Host and
# Content-Length; Connection and Accept-Encoding are its business), and those that
# name the capture's page (Origin, Referer, Sec-Fetch-*): the web and websdk profiles
# judge cross-origin sends against the target's own origin instead.
NOT_REPLAYED = {"host", "content-length", "connection", "accept-encoding", "origin", "referer",
                "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "cookie"}
SCENARIOS = posts_by_scenario()


def replay_query(query: str, app_id: str) -> str:
    """The captured query, byte for byte, with only the appId value replaced."""
    parts = query.split("&")
    for i, part in enumerate(parts):
        if part.split("=", 1)[0] == "appId":
            parts[i] = "appId=" + quote(app_id, safe="")
    return "&".join(parts)


def replay_headers(target: Target, row: Captured) -> list[tuple[str, str]]:
    """The captured request headers a client chooses itself, plus the target's auth cookie."""
    kept = [(name, value) for name, value in row.headers if name.lower() not in NOT_REPLAYED]
    return target.headers(content_type=None, extra=kept)


def replay(target: Target, row: Captured, requirement: str = REQ) -> None:
    """Send one captured request again; it must get exactly 200."""
    target.post_valid(row.body_bytes, requirement, query=replay_query(row.query, target.app_id),
                      headers=replay_headers(target, row))


@pytest.mark.requirement(REQ)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_captured_scenario_replayed_gets_200(target: Target, scenario: str) -> None:
    """Each request a real client sent in this scenario, replayed byte for byte (only the
    appId changed to the target's), gets exactly 200."""
    for row in SCENARIOS[scenario]:
        replay(target, row)


@pytest.mark.requirement(REQ, "CS-RETRY-200")
def test_captured_request_resent_as_the_sdk_retries(target: Target) -> None:
    """The Web SDK retries a failed send at once with the identical URL and body; none was
    captured failing, so its first send of a page view is sent twice: both get 200."""
    row = SCENARIOS["S1_immediate_same_origin/39_navigate_new_page_load"][0]
    for _ in range(2):
        replay(target, row)
