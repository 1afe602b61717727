"""Hypothesis strategies for bodies that break exactly one named rule.

Each example is an :class:`InvalidExample`: the bytes to send (``body`` with its
``compression`` query value), the JSON value inside when there is one (``batch``), the
rule it breaks (``rule``, one of :data:`INVALID_RULES`) and, for event-level rules,
which event breaks it. Examples are built from valid events by changing one thing,
never by filtering, and :func:`conformance.strategies.validate.validate_bytes` reports exactly that
rule for them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from hypothesis import strategies as st

from .encoding import encode_plain, encode_raw_gzip, to_json_text
from .events import (
    NAME_CHARS,
    batches,
    bulk_attributes,
    bulk_custom_item_keys,
    bulk_items,
    bulk_user_attributes,
    events,
    names,
    texts,
    timestamps,
)
from .rules import (
    CONTAINER_FIELDS,
    FIELD_KINDS,
    INT32_RANGE,
    INT64_RANGE,
    ITEM_STRING_KEYS,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    MAX_CUSTOM_ATTRIBUTES,
    MAX_CUSTOM_ITEM_KEYS,
    MAX_ITEM_VALUE_LENGTH,
    MAX_ITEMS,
    MAX_NAME_LENGTH,
    MAX_USER_ATTRIBUTES,
    MAX_USER_VALUE_LENGTH,
    REQUIRED_FIELDS,
    RULES,
)


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = _NotJson()
"""The ``batch`` of an example whose body is not JSON at all (malformed, bad encoding)."""


@dataclass(frozen=True)
class InvalidExample:
    """A body that breaks exactly one rule.

    ``batch`` is the JSON value inside ``body`` (or :data:`NOT_JSON`), ``compression`` the
    value of the ``compression`` query parameter to send with it (None: leave it out),
    ``event_index`` the position of the breaking event (None for body-level rules).
    """

    rule: str
    body: bytes
    batch: Any = NOT_JSON
    compression: str | None = None
    event_index: int | None = None


# Rules no example is generated for: a gzip bomb is too costly for a property test.
UNGENERATED_RULES = ("body:decoded-too-large",)
INVALID_RULES: tuple[str, ...] = tuple(rule for rule in RULES if rule not in UNGENERATED_RULES)

Event = dict[str, Any]
EventBreaker = Callable[[Event], st.SearchStrategy[Event]]

# ---------------------------------------------------------------------------
# Wrong values, by the kind of field they replace.

_CONTAINERS = st.one_of(st.lists(st.integers(), max_size=2), st.dictionaries(names(), st.integers(), max_size=2))


def not_strings() -> st.SearchStrategy[Any]:
    """JSON values that are not strings."""
    return st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(), _CONTAINERS)


def not_integers(low: int, high: int) -> st.SearchStrategy[Any]:
    """JSON values that are not integers in ``[low, high]``: text, fractions, out of range..."""
    fractions = st.integers(-(10**9), 10**9).map(lambda n: n + 0.5)
    out_of_range = st.one_of(st.integers(high + 1, high + 10**6), st.integers(low - 10**6, low - 1))
    numeric_text = st.integers(0, 10**13).map(str)
    return st.one_of(numeric_text, texts(), fractions, out_of_range, st.booleans(), st.none(), _CONTAINERS)


def not_objects() -> st.SearchStrategy[Any]:
    """JSON values that are not objects."""
    return st.one_of(texts(), st.integers(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2))


def not_arrays() -> st.SearchStrategy[Any]:
    """JSON values that are not arrays."""
    return st.one_of(texts(), st.integers(), st.booleans(), st.none(), st.dictionaries(names(), st.integers(), max_size=2))


_WRONG_BY_KIND: dict[str, st.SearchStrategy[Any]] = {
    "string": not_strings(),
    "long": not_integers(*INT64_RANGE),
    "int": not_integers(*INT32_RANGE),
}
_WRONG_CONTAINER = {"items": not_arrays(), "user": not_objects(), "attributes": not_objects()}


def bad_names() -> st.SearchStrategy[str]:
    """Names of at most 50 characters that break the naming rule."""
    digit_first = st.builds(str.__add__, st.sampled_from("0123456789"), st.text(NAME_CHARS, max_size=10))
    bad_char = st.sampled_from(list(" -.:/é测$") + ["\u00a0"])
    with_bad_char = st.builds(lambda head, bad, tail: head + bad + tail, names(max_length=20), bad_char, st.text(NAME_CHARS, max_size=10))
    return st.one_of(digit_first, with_bad_char, st.just(""))


def too_long_names() -> st.SearchStrategy[str]:
    """Names that follow the pattern but have 51 to 80 characters."""
    return st.builds(
        lambda head, tail: head + tail,
        st.sampled_from("abcXYZ_"),
        st.text(NAME_CHARS, min_size=MAX_NAME_LENGTH, max_size=79),
    )


def long_texts(min_units: int, max_units: int) -> st.SearchStrategy[str]:
    """Text of ``min_units`` to ``max_units`` characters, built by repeating a short seed."""
    seed = texts(8, min_size=1)
    return st.builds(lambda s, n: (s * (n // len(s) + 1))[:n], seed, st.integers(min_units, max_units))


# ---------------------------------------------------------------------------
# Small helpers that change one part of an event.

_KEEP = 10  # entries of an existing dict kept when one bad entry is added: stays under every count limit


def _replace(event: Event, **changes: Any) -> Event:
    return {**event, **changes}


def _with_entry(event: Event, field: str, name: str, value: Any) -> Event:
    current = event.get(field) or {}
    kept = dict(list(current.items())[:_KEEP])
    kept.pop(name, None)
    kept[name] = value
    return _replace(event, **{field: kept})


def _with_item(event: Event, item: Any) -> Event:
    return _replace(event, items=list(event.get("items") or [])[:_KEEP] + [item])


def _missing(field: str) -> EventBreaker:
    return lambda event: st.just({k: v for k, v in event.items() if k != field})


def _wrong_type(field: str) -> EventBreaker:
    wrong = _WRONG_CONTAINER[field] if field in _WRONG_CONTAINER else _WRONG_BY_KIND[FIELD_KINDS[field]]
    return lambda event: wrong.map(lambda value: _replace(event, **{field: value}))


def _custom_attribute(name: st.SearchStrategy[str], value: st.SearchStrategy[Any]) -> EventBreaker:
    return lambda event: st.builds(lambda n, v: _with_entry(event, "attributes", n, v), name, value)


def _user_entry(name: st.SearchStrategy[str], entry: st.SearchStrategy[Any]) -> EventBreaker:
    return lambda event: st.builds(lambda n, e: _with_entry(event, "user", n, e), name, entry)


def _item(item: st.SearchStrategy[Any]) -> EventBreaker:
    return lambda event: item.map(lambda it: _with_item(event, it))


def _bad_name(event: Event) -> st.SearchStrategy[Event]:
    in_attributes = _custom_attribute(bad_names(), st.integers())(event)
    in_user = _user_entry(bad_names(), st.builds(lambda ts: {"value": 1, "set_timestamp": ts}, timestamps()))(event)
    return st.one_of(in_attributes, in_user)


def _count_over(field: str, limit: int, bulk: Callable[[int], Any]) -> EventBreaker:
    return lambda event: st.integers(limit + 1, limit + 20).map(lambda n: _replace(event, **{field: bulk(n)}))


def _user_over_limit(event: Event) -> st.SearchStrategy[Event]:
    return st.builds(
        lambda n, ts: _replace(event, user=bulk_user_attributes(n, ts)),
        st.integers(MAX_USER_ATTRIBUTES + 1, MAX_USER_ATTRIBUTES + 20),
        timestamps(),
    )


def _long_item_value(event: Event) -> st.SearchStrategy[Event]:
    key = st.one_of(st.sampled_from(ITEM_STRING_KEYS), st.just("custom_note"))
    value = long_texts(MAX_ITEM_VALUE_LENGTH + 1, MAX_ITEM_VALUE_LENGTH + 100)
    return st.builds(lambda k, v: _with_item(event, {"id": "long-value", k: v}), key, value)


_NOT_SCALARS = st.one_of(st.none(), st.lists(st.integers(), max_size=2), st.dictionaries(names(), st.integers(), max_size=2))

EVENT_BREAKERS: dict[str, EventBreaker] = {
    **{f"missing:{field}": _missing(field) for field in REQUIRED_FIELDS},
    **{f"type:{field}": _wrong_type(field) for field in (*FIELD_KINDS, *CONTAINER_FIELDS)},
    "items:not-object": _item(not_objects()),
    "user:not-object": _user_entry(names(), not_objects()),
    "user:missing-value": _user_entry(names(), st.fixed_dictionaries({}, optional={"set_timestamp": timestamps()})),
    "user:bad-set-timestamp": _user_entry(
        names(), _WRONG_BY_KIND["long"].map(lambda ts: {"value": "v", "set_timestamp": ts})
    ),
    f"items:count>{MAX_ITEMS}": _count_over("items", MAX_ITEMS, bulk_items),
    f"items:custom-keys>{MAX_CUSTOM_ITEM_KEYS}": _item(
        st.integers(MAX_CUSTOM_ITEM_KEYS + 1, MAX_CUSTOM_ITEM_KEYS + 10).map(
            lambda n: {"id": "many-keys", **bulk_custom_item_keys(n)}
        )
    ),
    f"items:value-length>{MAX_ITEM_VALUE_LENGTH}": _long_item_value,
    f"user:count>{MAX_USER_ATTRIBUTES}": _user_over_limit,
    f"user:value-length>{MAX_USER_VALUE_LENGTH}": _user_entry(
        names(),
        st.builds(
            lambda v, ts: {"value": v, "set_timestamp": ts},
            long_texts(MAX_USER_VALUE_LENGTH + 1, MAX_USER_VALUE_LENGTH + 200),
            timestamps(),
        ),
    ),
    f"attributes:count>{MAX_CUSTOM_ATTRIBUTES}": _count_over("attributes", MAX_CUSTOM_ATTRIBUTES, bulk_attributes),
    "name:pattern": _bad_name,
    f"name:length>{MAX_NAME_LENGTH}": _custom_attribute(too_long_names(), st.integers()),
    f"value:length>{MAX_ATTRIBUTE_VALUE_LENGTH}": _custom_attribute(
        names(), long_texts(MAX_ATTRIBUTE_VALUE_LENGTH + 1, MAX_ATTRIBUTE_VALUE_LENGTH + 300)
    ),
    "value:not-scalar": _custom_attribute(names(), _NOT_SCALARS),
}

# "event:not-object" replaces the whole event, so it is not an EventBreaker.
EVENT_RULES: tuple[str, ...] = ("event:not-object", *EVENT_BREAKERS)


def _broken_event(rule: str, app_id: str | None) -> st.SearchStrategy[Any]:
    if rule == "event:not-object":
        return st.one_of(not_objects(), st.just([]))
    fixed = {} if app_id is None else {"app_id": app_id}
    return events(**fixed).flatmap(EVENT_BREAKERS[rule])


def _place_in_batch(rule: str, app_id: str | None) -> st.SearchStrategy[InvalidExample]:
    neighbours = batches(min_events=0, max_events=2, app_id=app_id)

    def build(before: list[Event], broken: Any, after: list[Event]) -> InvalidExample:
        batch = [*before, broken, *after]
        return InvalidExample(rule=rule, body=encode_plain(batch), batch=batch, event_index=len(before))

    return st.builds(build, neighbours, _broken_event(rule, app_id), neighbours)


def _check_rules(rules: Sequence[str] | None, allowed: Sequence[str]) -> list[str]:
    chosen = list(allowed if rules is None else rules)
    unknown = [rule for rule in chosen if rule not in allowed]
    if unknown or not chosen:
        raise ValueError(f"no invalid examples for rule(s) {unknown or chosen}; choose from {', '.join(allowed)}")
    return chosen


def invalid_events(rules: Sequence[str] | None = None, app_id: str | None = None) -> st.SearchStrategy[InvalidExample]:
    """Well-formed arrays in which one event breaks one rule of :data:`EVENT_RULES`.

    ``rules`` restricts the rules drawn from; ``app_id`` pins the app_id of every event.
    """
    return st.one_of(*(_place_in_batch(rule, app_id) for rule in _check_rules(rules, EVENT_RULES)))


# ---------------------------------------------------------------------------
# Body-level rules.


def _json_example(rule: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[InvalidExample]:
    return values.map(lambda value: InvalidExample(rule=rule, body=encode_plain(value), batch=value))


def _text_example(rule: str, texts_: st.SearchStrategy[str]) -> st.SearchStrategy[InvalidExample]:
    return texts_.map(lambda text: InvalidExample(rule=rule, body=text.encode("utf-8")))


def _malformed_json_texts(app_id: str | None) -> st.SearchStrategy[str]:
    valid_text = batches(max_events=2, app_id=app_id).map(to_json_text)
    truncated = st.builds(lambda text, cut: text[: max(0, len(text) - cut)], valid_text, st.integers(1, 40))
    trailing = st.builds(str.__add__, valid_text, st.sampled_from(["x", "]", ",", "{}", "\x00"]))
    trailing_comma = valid_text.map(lambda text: text[:-1] + ",]")
    not_a_number = st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(
        lambda constant: '[{"event_type":"e","event_id":"1","timestamp":1,"app_id":"a","attributes":{"x":%s}}]' % constant
    )
    others = st.sampled_from(["", " ", "[", "[{", "{'a': 1}", "[{\"event_type\": }]", "\ufeff[]", "undefined"])
    return st.one_of(truncated, trailing, trailing_comma, not_a_number, others)


def _invalid_utf8_bodies(app_id: str | None) -> st.SearchStrategy[bytes]:
    bad_bytes = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe9t\xe9", b"\x80\x80"])
    plain = batches(max_events=2, app_id=app_id).map(encode_plain)
    return st.builds(lambda body, bad: body.replace(b'"event_type":"', b'"event_type":"' + bad, 1), plain, bad_bytes)


def _bad_base64_bodies(app_id: str | None) -> st.SearchStrategy[bytes]:
    plain_json = batches(max_events=2, app_id=app_id).map(encode_plain)
    # Wrong length, characters outside the alphabet, padding in the middle.
    broken = st.sampled_from([b"abc", b"H4s", b"H4sIAAAAAAAA/", b"!!!!", b"H4sI*AAA", b"H4==sIAA"])
    return st.one_of(plain_json, broken)


def _bad_gzip_bodies(app_id: str | None) -> st.SearchStrategy[bytes]:
    batch = batches(max_events=2, app_id=app_id)
    not_gzip = batch.map(lambda value: base64.b64encode(encode_plain(value)))
    truncated = st.builds(
        lambda value, cut: base64.b64encode(encode_raw_gzip(value)[:-cut]), batch, st.integers(1, 12)
    )
    return st.one_of(not_gzip, truncated)


def _body_example(rule: str, app_id: str | None) -> st.SearchStrategy[InvalidExample]:
    fixed = {} if app_id is None else {"app_id": app_id}
    if rule == "body:not-array":
        return _json_example(rule, st.one_of(events(**fixed), not_arrays()))
    if rule == "body:empty-array":
        return _json_example(rule, st.just([]))
    if rule == "body:malformed-json":
        return _text_example(rule, _malformed_json_texts(app_id))
    if rule == "body:invalid-utf8":
        return _invalid_utf8_bodies(app_id).map(lambda body: InvalidExample(rule=rule, body=body))
    if rule == "body:bad-base64":
        return _bad_base64_bodies(app_id).map(lambda body: InvalidExample(rule=rule, body=body, compression="gzip"))
    if rule == "body:bad-gzip":
        return _bad_gzip_bodies(app_id).map(lambda body: InvalidExample(rule=rule, body=body, compression="gzip"))
    raise ValueError(f"no body example for {rule!r}")


BODY_RULES: tuple[str, ...] = tuple(rule for rule in INVALID_RULES if rule.startswith("body:"))


def invalid_batches(rules: Sequence[str] | None = None, app_id: str | None = None) -> st.SearchStrategy[InvalidExample]:
    """Bodies that break one rule of :data:`INVALID_RULES`: body-level or event-level.

    ``rules`` restricts the rules drawn from; ``app_id`` pins the app_id of every event.
    """
    chosen = _check_rules(rules, INVALID_RULES)
    body_rules = [rule for rule in chosen if rule in BODY_RULES]
    event_rules = [rule for rule in chosen if rule in EVENT_RULES]
    parts = [_body_example(rule, app_id) for rule in body_rules]
    if event_rules:
        parts.append(invalid_events(event_rules, app_id))
    return st.one_of(*parts)


__all__ = [
    "NOT_JSON", "InvalidExample", "INVALID_RULES", "EVENT_RULES", "BODY_RULES", "UNGENERATED_RULES",
    "invalid_events", "invalid_batches", "not_strings", "not_integers", "not_objects", "not_arrays",
    "bad_names", "too_long_names", "long_texts",
]
