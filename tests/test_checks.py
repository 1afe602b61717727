"""The small checks on one exchange, judged without a network."""
from __future__ import annotations

import pytest

from conformance.checks import expect_no_server_error
from conformance.wire.exchange import Exchange
from conformance.failures import ServerError


def answered(method: str, status: int) -> Exchange:
    return Exchange(case="t", method=method, url="http://127.0.0.1:1/collect", request_headers=[],
                    body_size=0, body_sha256="", body_excerpt="", status=status, reason="")


@pytest.mark.parametrize("method", ["BREW", "PROPFIND", "TRACE", "GET", "brew"])
def test_501_to_a_method_a_collector_need_not_implement_is_no_fault(method: str) -> None:
    expect_no_server_error(answered(method, 501))


@pytest.mark.parametrize("method, status", [("POST", 501), ("OPTIONS", 501), ("BREW", 500),
                                            ("BREW", 503), ("POST", 500)])
def test_501_to_post_or_options_and_every_other_5xx_fail(method: str, status: int) -> None:
    with pytest.raises(ServerError):
        expect_no_server_error(answered(method, status))
