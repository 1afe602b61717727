"""Events at the documented limits (API document: Event attributes, items, user,
attributes; the SDKs' limits in real-world.md): all of them must be accepted.
"""
from __future__ import annotations

import json

import pytest

from conformance.target import Target
from conformance.strategies import event_at_limits

REQ = "CS-LIMITS-200"


def post_event(target: Target, event: dict) -> None:
    target.post_valid(json.dumps([event], ensure_ascii=False).encode(), REQ)


@pytest.mark.requirement(REQ)
def test_event_at_every_limit_at_once_gets_200(target: Target) -> None:
    """100 items, 100 user attributes, 500 custom attributes, 50-character names, long values."""
    post_event(target, event_at_limits(app_id=target.app_id, event_id=target.new_event_id()))


def _items(n: int) -> list[dict]:
    return [{"id": f"item-{i}", "name": f"Item {i}", "category": "housewares", "price": i + 0.5} for i in range(n)]


def _user(n: int) -> dict:
    users = {f"user_attr_{i}": {"value": f"v{i}", "set_timestamp": 1695006816345} for i in range(n - 1)}
    users["_user_id"] = {"value": "0202d0e1", "set_timestamp": 1695006816345}
    return users


LIMITS = {
    "100-items": lambda t: t.event(items=_items(100)),
    "100-user-attributes": lambda t: t.event(user=_user(100)),
    "500-attributes": lambda t: t.event(attributes={f"attr_{i}": i for i in range(500)}),
    "50-character-name": lambda t: t.event(attributes={"a" * 50: "long name"}),
    "1024-character-value": lambda t: t.event(attributes={"description": "d" * 1024}),
    "1024-non-ascii-value": lambda t: t.event(attributes={"description": "é" * 1024}),
    "1024-emoji-value": lambda t: t.event(attributes={"description": "😀" * 512}),
}


@pytest.mark.requirement(REQ)
@pytest.mark.parametrize("label", list(LIMITS))
def test_each_limit_on_its_own_gets_200(target: Target, label: str) -> None:
    """One limit reached at a time, so a failure names the limit the collector gets wrong."""
    post_event(target, LIMITS[label](target))
