"""hashCode (API document: Request query parameters, hashCode): the first 8 lower-case
hex digits of sha256 of the body as sent. A correct one and none at all must be
accepted; whether a wrong one is refused is observed.
"""
from __future__ import annotations

import json

import pytest

from conformance.checks import expect_no_server_error, status_class
from conformance.target import Target
from conformance.strategies import hash_code

REQ = "CS-HASH-200"


@pytest.mark.requirement(REQ)
@pytest.mark.parametrize("text", ["ascii", "unicode"])
def test_correct_hash_code_gets_200(target: Target, text: str) -> None:
    """A correct hashCode over the UTF-8 bytes as sent -> 200."""
    attrs = {"title": "Schöne Grüße, 你好, مرحبا 👋"} if text == "unicode" else {"title": "plain"}
    body = json.dumps([target.event(attributes=attrs)], ensure_ascii=False).encode()
    target.post_valid(body, REQ, platform="Web", hashCode=hash_code(body))


@pytest.mark.requirement(REQ)
def test_no_hash_code_gets_200(target: Target) -> None:
    target.post_valid(target.good_body(), REQ, platform="Android")


@pytest.mark.requirement("CS-HASH-VERIFY", "CS-ROBUST")
@pytest.mark.parametrize("variant", ["wrong", "upper-case", "too-short", "not-hex"])
def test_hash_code_verification_is_observed(target: Target, variant: str) -> None:
    """Does the collector verify hashCode? Observed, never a 5xx."""
    body = target.good_body()
    right = hash_code(body)
    value = {"wrong": "0" * 8 if right != "0" * 8 else "1" * 8, "upper-case": right.upper(),
             "too-short": right[:4], "not-hex": "zzzzzzzz"}[variant]
    ex = target.post(body, hashCode=value)
    expect_no_server_error(ex)
    keys = {"wrong": ("verifies hashCode", "yes" if ex.status != 200 else "no"),
            "upper-case": ("upper-case hashCode", "accepted" if ex.status == 200 else "refused")}
    key, answer = keys.get(variant, (None, None))
    target.observe(f"{variant} hashCode: {status_class(ex)}", key=key,
                   value=f"{answer} ({status_class(ex)})" if key else None)
    target.expect_alive(after=f"{variant} hashCode")
