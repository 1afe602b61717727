"""Invalid events inside a well-formed array (API document: API Specification (2),
Event attributes). Whether a collector refuses them at ingestion or passes them on is
observed (INFO); under --profile strict, events with errors must get a 4xx. Limit
and naming deviations stay observations even under strict: real SDKs send them.

The generated counterpart is properties.py; these are the named, fixed examples
that give the report one line per rule.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from conformance.checks import expect_no_server_error, expect_status, status_class
from conformance.failures import AcceptedInvalidData
from conformance.target import Target

Event = dict[str, Any]


def _without(field: str) -> Callable[[Target], Event]:
    def build(t: Target) -> Event:
        event = t.event()
        del event[field]
        return event
    return build


ERRORS: dict[str, Callable[[Target], Event]] = {
    "missing-event_type": _without("event_type"),
    "missing-event_id": _without("event_id"),
    "missing-timestamp": _without("timestamp"),
    "missing-app_id": _without("app_id"),
    "timestamp-as-string": lambda t: t.event(timestamp="1667877566697"),
    "timestamp-as-float": lambda t: t.event(timestamp=1667877566697.5),
    "event_id-as-number": lambda t: t.event(event_id=460),
    "screen_width-as-string": lambda t: t.event(screen_width="1080"),
    "items-not-a-list": lambda t: t.event(items={"id": "1"}),
    "user-attribute-without-value": lambda t: t.event(user={"username": {"set_timestamp": 1695006816345}}),
    "attributes-not-an-object": lambda t: t.event(attributes=["productName", "book"]),
}

DEVIATIONS: dict[str, Callable[[Target], Event]] = {
    "101-items": lambda t: t.event(items=[{"id": str(i), "name": "n"} for i in range(101)]),
    "101-user-attributes": lambda t: t.event(user={f"u{i}": {"value": i, "set_timestamp": 1} for i in range(101)}),
    "501-attributes": lambda t: t.event(attributes={f"a{i}": i for i in range(501)}),
    "name-starting-with-digit": lambda t: t.event(attributes={"1price": 9.9}),
    "name-with-dash": lambda t: t.event(attributes={"product-name": "book"}),
    "51-character-name": lambda t: t.event(attributes={"n" * 51: 1}),
    "1025-character-value": lambda t: t.event(attributes={"v": "v" * 1025}),
    "app_id-unlike-query": lambda t: t.event(app_id=f"{t.app_id}_other"),
}


@pytest.mark.requirement("CS-VALIDATES-EVENTS", "CS-ROBUST", "CS-STRICT-EVENTS-4XX")
@pytest.mark.parametrize("rule", list(ERRORS) + list(DEVIATIONS))
def test_invalid_event_is_observed(target: Target, rule: str) -> None:
    """One event breaking one rule, beside a valid one: never a 5xx; 4xx under strict for errors."""
    broken = (ERRORS.get(rule) or DEVIATIONS[rule])(target)
    ex = target.post(json.dumps([target.event(), broken], ensure_ascii=False).encode())
    expect_no_server_error(ex)
    refused = ex.status is not None and 400 <= ex.status < 500
    target.observe(f"{rule}: {status_class(ex)}",
                   key="validates events at ingestion" if rule == "missing-event_id" else
                   ("refuses over-limit events" if rule == "501-attributes" else None),
                   value=("yes" if refused else "no: pass-through") + f" ({status_class(ex)})")
    target.expect_alive(after=f"invalid event {rule}")
    if target.active("CS-STRICT-EVENTS-4XX") and rule in ERRORS:
        expect_status(ex, range(400, 500), "CS-STRICT-EVENTS-4XX", AcceptedInvalidData)
