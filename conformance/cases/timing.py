"""Answers arrive within the request timeout (verdicts: MUST 10; the Web SDK gives up
after 10 s). Every case fails CS-TIMELY on a timeout; this one makes it explicit for
a mix of ordinary requests, so the requirement always has a case of its own.
"""
from __future__ import annotations

import pytest

from conformance.checks import describe
from conformance.failures import TooSlow
from conformance.target import Target

REQ = "CS-TIMELY"


@pytest.mark.requirement(REQ)
def test_ordinary_requests_are_answered_in_time(target: Target) -> None:
    """A valid batch, a bad appId and a larger batch are each answered in time."""
    requests = [
        ("POST", target.query(), target.good_body(5)),
        ("POST", target.query(app_id=f"{target.app_id}_unknown"), target.good_body()),
        ("POST", target.query(platform="Web", event_bundle_sequence_id=1), target.good_body(50)),
    ]
    for method, query, body in requests:
        ex = target.send(method, query, body)
        if ex.status is None or ex.elapsed > target.settings.timeout:
            raise TooSlow(REQ, f"an answer within {target.settings.timeout:g} s", describe(ex), ex)
