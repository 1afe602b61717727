"""Optional query parameters and headers (API document: Request headers, Request query
parameters). None of them may cause a rejection, present or absent.
"""
from __future__ import annotations

import pytest

from conformance.target import JSON_CONTENT_TYPE, Target
from conformance.strategies import hash_code

REQ = "CS-OPTIONAL-200"

# Query parameter sets as real clients send them (shared/spec/real-world.md).
PARAM_SETS = {
    "platform-Android": {"platform": "Android"},
    "platform-iOS": {"platform": "iOS"},
    "platform-Web": {"platform": "Web"},
    "platform-MiniProgram": {"platform": "MiniProgram"},
    "platform-unlisted": {"platform": "HarmonyOS Next"},
    "sequence-1": {"event_bundle_sequence_id": 1},
    "sequence-large": {"event_bundle_sequence_id": 2**31 + 7},
    "upload_timestamp": {"upload_timestamp": 1795693001262},
    "compression-empty": {"compression": ""},
    "unnamed-fakeIp": {"fakeIp": "104.102.1.208"},
    "unnamed-several": {"utm": "x", "debug": "1", "_": "2"},
    "datagen-order": {"platform": "Android", "compression": "", "fakeIp": "10.1.2.3", "event_bundle_sequence_id": 5},
}


@pytest.mark.requirement(REQ)
@pytest.mark.parametrize("params", list(PARAM_SETS.values()), ids=list(PARAM_SETS))
def test_optional_query_parameters_are_accepted(target: Target, params: dict) -> None:
    """Each optional or unnamed query parameter leaves a valid request acceptable."""
    target.post_valid(target.good_body(), REQ, **params)


@pytest.mark.requirement(REQ)
def test_web_sdk_parameter_order_is_accepted(target: Target) -> None:
    """The Web SDK puts platform before appId and adds upload_timestamp and hashCode."""
    body = target.good_body()
    query = (f"platform=Web&{target.query()}&event_bundle_sequence_id=3"
             f"&upload_timestamp=1795693001262&hashCode={hash_code(body)}")
    target.post_valid(body, REQ, query=query)


@pytest.mark.requirement(REQ)
def test_sequence_ids_out_of_order_are_accepted(target: Target) -> None:
    """Parallel sends deliver sequence ids out of order, and page loads repeat them."""
    for sequence in (7, 3, 9, 1, 3):
        target.post_valid(target.good_body(), REQ, event_bundle_sequence_id=sequence)


HEADER_SETS = {
    "x-forwarded-for": [("X-Forwarded-For", "101.188.67.134")],
    "x-forwarded-for-chain": [("X-Forwarded-For", "101.188.67.134, 10.0.0.1, 172.16.0.9")],
    # IPv6 clients are common; a load balancer appends its own (IPv4) hop to their address.
    "x-forwarded-for-ipv6": [("X-Forwarded-For", "2001:db8::7")],
    "x-forwarded-for-ipv6-chain": [("X-Forwarded-For", "2001:db8::7, 10.0.0.1, 2001:db8:0:1::5")],
    "user-agent-android": [("User-Agent", "Mozilla/5.0 (Linux; Android 6.0; Nexus 5 Build/MRA58N) "
                                          "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Mobile Safari/537.36")],
    "user-agent-sdk": [("User-Agent", "python-requests/2.34.2")],
    "both": [("X-Forwarded-For", "203.0.113.9"), ("User-Agent", "ClickstreamSDK/1.2.3")],
}


@pytest.mark.requirement(REQ)
@pytest.mark.parametrize("extra", list(HEADER_SETS.values()), ids=list(HEADER_SETS))
def test_optional_headers_are_accepted(target: Target, extra: list) -> None:
    """X-Forwarded-For (IPv4, IPv6, chains) and User-Agent, as clients and forwarding servers send them."""
    target.post_valid(target.good_body(), REQ, headers=target.headers(extra=extra))


@pytest.mark.requirement(REQ)
def test_documented_content_type_is_accepted(target: Target) -> None:
    """The documented Content-Type with its charset, spelled as the SDKs spell it."""
    target.post_valid(target.good_body(), REQ, headers=target.headers(content_type=JSON_CONTENT_TYPE))


@pytest.mark.requirement(REQ)
def test_no_optional_parameter_at_all_is_accepted(target: Target) -> None:
    """Only appId in the query, only Content-Type (and the cookie, if any) as headers."""
    target.post_valid(target.good_body(), REQ, query=target.query())
