"""The authentication cookie (API document: Request headers, cookie; HttpCode 403).
Profile auth: runs when --auth-cookie NAME=VALUE is given.
"""
from __future__ import annotations

import pytest

from conformance.checks import describe
from conformance.wire.exchange import Exchange
from conformance.failures import IgnoredAuth, WrongAuthStatus
from conformance.target import Target

REFUSALS = (401, 403)  # the deployed login answers 401; the document names 403


def expect_auth_refused(target: Target, ex: Exchange) -> None:
    if ex.status not in REFUSALS:
        raise IgnoredAuth("CS-AUTH-COOKIE", "403 (401 tolerated)", describe(ex), ex)
    if ex.status != 403:
        target.soft(_raise_wrong_status, ex)


def _raise_wrong_status(ex: Exchange) -> None:
    raise WrongAuthStatus("CS-AUTH-403", "403", describe(ex), ex)


def _cookie_variants(target: Target) -> dict[str, list[tuple[str, str]]]:
    name, value = target.settings.auth_cookie or ("", "")
    return {
        "no-cookie": [],
        "wrong-value": [("Cookie", f"{name}=not-{value[:2]}-the-right-value")],
        "empty-value": [("Cookie", f"{name}=")],
        "other-name": [("Cookie", f"x{name}={value}")],
    }


@pytest.mark.requirement("CS-AUTH-COOKIE", "CS-AUTH-403")
@pytest.mark.parametrize("variant", ["no-cookie", "wrong-value", "empty-value", "other-name"])
def test_request_without_the_right_cookie_is_refused(target: Target, variant: str) -> None:
    """A valid request lacking the right cookie is refused, with 403 exactly (SHOULD)."""
    headers = target.headers(cookie=False, extra=_cookie_variants(target)[variant])
    expect_auth_refused(target, target.post(target.good_body(), headers=headers))


@pytest.mark.requirement("CS-AUTH-COOKIE")
@pytest.mark.parametrize("placement", ["alone", "among-others"])
def test_request_with_the_cookie_is_accepted(target: Target, placement: str) -> None:
    """With the right cookie (alone, or among other cookies as a browser sends it) -> 200."""
    name, value = target.settings.auth_cookie or ("", "")
    cookie = f"{name}={value}" if placement == "alone" else f"_ga=GA1.1.5; {name}={value}; theme=dark"
    headers = target.headers(cookie=False, extra=[("Cookie", cookie)])
    target.post_valid(target.good_body(), "CS-AUTH-COOKIE", headers=headers, soft_checks=False)
