"""Status codes and the appId check (API document: API Specification (1), HttpCode).

A registered appId with a valid batch gets exactly 200; an unknown, empty or missing
appId gets 403 whatever the body.
"""
from __future__ import annotations

import pytest

from conformance.checks import expect_app_refused, expect_empty_success_body
from conformance.target import Target


@pytest.mark.requirement("CS-VALID-200")
@pytest.mark.parametrize("events", [1, 2, 20], ids=["1-event", "2-events", "20-events"])
def test_valid_batch_gets_200(target: Target, events: int) -> None:
    """A minimal valid batch for the registered appId is answered with exactly 200."""
    target.post_valid(target.good_body(events), "CS-VALID-200")


BAD_APP_QUERIES = {
    "unknown": lambda t: t.query(app_id=f"{t.app_id}_not_registered_7f3a"),
    "empty": lambda t: t.query(app_id=""),
    "missing": lambda t: t.query(app_id=None, platform="Web"),
    "missing-no-query": lambda t: None,
}


@pytest.mark.requirement("CS-APPID-403")
@pytest.mark.parametrize("kind", list(BAD_APP_QUERIES))
def test_bad_app_id_gets_403(target: Target, kind: str) -> None:
    """A valid body for an unknown, empty or missing appId is refused with 403."""
    query = BAD_APP_QUERIES[kind](target)
    ex = target.send("POST", query, target.good_body())
    expect_app_refused(ex)


@pytest.mark.requirement("CS-APPID-403")
@pytest.mark.parametrize("body", [b"", b"not json", b"{}"], ids=["empty", "garbage", "object"])
def test_unknown_app_id_gets_403_whatever_the_body(target: Target, body: bytes) -> None:
    """The appId check does not depend on the body."""
    ex = target.send("POST", target.query(app_id=f"{target.app_id}_unknown_x"), body)
    expect_app_refused(ex)


@pytest.mark.requirement("CS-OK-EMPTY")
def test_success_answer_has_empty_body(target: Target) -> None:
    """The document says nothing else is returned on success (SHOULD: a warning otherwise)."""
    ex = target.post_valid(target.good_body(), "CS-VALID-200", soft_checks=False)
    expect_empty_success_body(ex)
