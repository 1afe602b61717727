"""Client retries and repeated events (API document: Request response; Event attributes,
event_id). SDKs re-send a failed request unchanged, and the data generator repeats
event objects within and across requests.
"""
from __future__ import annotations

import json

import pytest

from conformance.target import Target
from conformance.strategies import hash_code

REQ = "CS-RETRY-200"


@pytest.mark.requirement(REQ)
def test_identical_request_twice_gets_200_both_times(target: Target) -> None:
    """Same URL (sequence id, upload_timestamp, hashCode) and same body, sent twice."""
    body = target.good_body(3)
    query = target.query(platform="Web", event_bundle_sequence_id=4,
                         upload_timestamp=1795693001262, hashCode=hash_code(body))
    for _ in range(2):
        target.post_valid(body, REQ, query=query)


@pytest.mark.requirement(REQ)
def test_repeated_event_id_within_a_batch_is_accepted(target: Target) -> None:
    """The same event object twice in one batch."""
    event = target.event()
    target.post_valid(json.dumps([event, event]).encode(), REQ)


@pytest.mark.requirement(REQ)
def test_repeated_event_id_across_batches_is_accepted(target: Target) -> None:
    """An event_id already delivered, in a new request with another sequence id."""
    event = target.event()
    target.post_valid(json.dumps([event]).encode(), REQ, event_bundle_sequence_id=1)
    target.post_valid(json.dumps([target.event(), event]).encode(), REQ, event_bundle_sequence_id=2)
