"""Browser CORS with credentials (real-world.md: the Web SDK posts with fetch, mode cors,
credentials included). Profile web: runs when --origin ORIGIN is given.

A browser refuses the answer unless Access-Control-Allow-Origin echoes the origin
(a * is not allowed with credentials) and Access-Control-Allow-Credentials is true.
"""
from __future__ import annotations

import pytest

from conformance.checks import describe
from conformance.wire.exchange import Exchange
from conformance.failures import BadCors
from conformance.target import Target

REQ = "CS-CORS-CREDENTIALS"


def _tokens(value: str | None) -> set[str]:
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


def expect_credentialed_cors(ex: Exchange, origin: str) -> None:
    allow_origin = ex.header("Access-Control-Allow-Origin")
    if allow_origin != origin:
        raise BadCors(REQ, f"Access-Control-Allow-Origin: {origin}", f"{allow_origin!r} ({describe(ex)})", ex)
    credentials = ex.header("Access-Control-Allow-Credentials")
    if (credentials or "").strip() != "true":
        raise BadCors(REQ, "Access-Control-Allow-Credentials: true", f"{credentials!r}", ex)


def preflight(target: Target, origin: str) -> Exchange:
    # Browsers send no cookie and no Content-Type on a preflight.
    headers = [("Origin", origin), ("Access-Control-Request-Method", "POST"),
               ("Access-Control-Request-Headers", "content-type")]
    return target.send("OPTIONS", target.query(platform="Web"), b"", headers)


@pytest.mark.requirement(REQ)
def test_preflight_allows_credentialed_post(target: Target) -> None:
    """OPTIONS from the origin -> 2xx, origin echoed, credentials true, POST and content-type allowed."""
    origin = target.settings.origin or ""
    ex = preflight(target, origin)
    if ex.status is None or not 200 <= ex.status < 300:
        raise BadCors(REQ, "a 2xx answer to the preflight", describe(ex), ex)
    expect_credentialed_cors(ex, origin)
    methods = _tokens(ex.header("Access-Control-Allow-Methods"))
    if "post" not in methods:
        raise BadCors(REQ, "POST in Access-Control-Allow-Methods", repr(ex.header("Access-Control-Allow-Methods")), ex)
    allowed = _tokens(ex.header("Access-Control-Allow-Headers"))
    if "content-type" not in allowed:
        raise BadCors(REQ, "content-type in Access-Control-Allow-Headers",
                      repr(ex.header("Access-Control-Allow-Headers")), ex)


@pytest.mark.requirement(REQ)
def test_post_answer_carries_cors_headers(target: Target) -> None:
    """The POST itself (with the Origin and, if configured, the cookie) -> 200 with both headers."""
    origin = target.settings.origin or ""
    ex = target.post_valid(target.good_body(), REQ, headers=target.headers(extra=[("Origin", origin)]),
                           soft_checks=False, platform="Web")
    expect_credentialed_cors(ex, origin)
