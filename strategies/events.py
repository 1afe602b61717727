"""Hypothesis strategies for valid Clickstream events and batches.

Every example follows the API document (required fields, documented types) and the
client-side limits of real SDKs, so :func:`conformance.strategies.validate.validate_body` finds
nothing in it. Examples are small by default (a few attributes, short text) so that
property tests against a live collector stay fast; the limits themselves (100 items,
100 user attributes, 500 custom attributes, 50-character names, long values) are
reachable but rare.

Lengths are counted in UTF-16 code units, as the JavaScript and Java SDKs count them.
Text includes non-ASCII characters but never lone surrogates (bodies are UTF-8).
"""

from __future__ import annotations

import functools
import string
from typing import Any, Callable, TypeVar

from hypothesis import strategies as st

from .encoding import encode_plain
from .rules import (
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
    OPTIONAL_INT_FIELDS,
    OPTIONAL_STRING_FIELDS,
    tag_uuid,
    utf16_length,
)

F = TypeVar("F", bound=Callable[..., Any])


def reused(factory: F) -> F:
    """Hand out one strategy object per distinct (hashable) arguments.

    Strategies are immutable, so sharing one changes no draw. A new object must work
    out again, on its first draw, what Hypothesis caches per object (validation,
    emptiness): the invalid-event cases built 48 event strategies for their 48 rules,
    and that took half of their generation time. Unhashable arguments build anew."""
    cached = functools.lru_cache(maxsize=256)(factory)

    @functools.wraps(factory)
    def factory_or_cached(*args: Any, **kwargs: Any) -> Any:
        try:
            return cached(*args, **kwargs)
        except TypeError:  # an unhashable argument, e.g. a list pinned as a field value
            return factory(*args, **kwargs)

    return factory_or_cached  # type: ignore[return-value]


# Batches from batches() stay under this many bytes as plain JSON, so that any of the
# three encodings stays at or under 1,000,000 bytes as sent (base64 adds a third).
VALID_BATCH_BUDGET = 700_000

# 2020-01-01 .. 2100-01-01 in milliseconds: realistic client clocks.
TIMESTAMP_RANGE = (1_577_836_800_000, 4_102_444_800_000)

NAME_FIRST_CHARS = string.ascii_letters + "_"
NAME_CHARS = string.ascii_letters + string.digits + "_"
PRESET_EVENT_TYPES = (
    "_first_open", "_session_start", "_page_view", "_screen_view", "_user_engagement",
    "_profile_set", "_app_start", "_app_end", "button_click", "item_view", "add_to_cart",
)
# How much more often a container is small than filled towards its limit.
BULK_ODDS = 12
EXTRA_FIELD_NAMES = ("host_name", "upload_timestamp_hint", "x_custom_field")


def usually(common: st.SearchStrategy, rare: st.SearchStrategy, odds: int = 7) -> st.SearchStrategy:
    """Draw from ``common`` about ``odds`` times as often as from ``rare``.

    Hypothesis shrinks towards the first branch, so failures shrink to the common case.
    """
    return st.one_of(*([common] * odds), rare)


def truncate_utf16(text: str, max_units: int) -> str:
    """Cut ``text`` at a character boundary so it has at most ``max_units`` UTF-16 units."""
    if len(text) * 2 <= max_units:
        return text  # fast path: even all astral characters would fit
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > max_units:
            return text[:index]
    return text


def texts(max_units: int = 20, min_size: int = 0) -> st.SearchStrategy[str]:
    """Unicode text (any plane, no surrogates) of at most ``max_units`` UTF-16 units."""
    # Everything but surrogates: what codec="utf-8" means, without the codec. Hypothesis
    # builds a codec's table by encoding all 1.1 million code points once per storage
    # directory (.hypothesis/), so a clean clone paid 0.8 s and 160 MiB for it each run;
    # the characters drawn are the same.
    chars = st.characters(exclude_categories=["Cs"])
    return st.text(chars, min_size=min_size, max_size=max_units).map(
        lambda text: truncate_utf16(text, max_units)
    )


def short_then_long_texts(limit: int, short: int = 12) -> st.SearchStrategy[str]:
    """Mostly short text; sometimes text right up to ``limit`` UTF-16 units."""
    return usually(texts(short), texts(limit))


def names(max_length: int = MAX_NAME_LENGTH) -> st.SearchStrategy[str]:
    """Attribute names that follow the naming rule: ``^(?![0-9])[0-9a-zA-Z_]+$``."""
    first = st.sampled_from(NAME_FIRST_CHARS)
    short_tail = st.text(NAME_CHARS, max_size=min(11, max_length - 1))
    long_tail = st.text(NAME_CHARS, min_size=max_length - 1, max_size=max_length - 1)
    return st.builds(str.__add__, first, usually(short_tail, long_tail))


def timestamps() -> st.SearchStrategy[int]:
    """Event times in milliseconds since the epoch (2020 to 2100)."""
    return st.integers(*TIMESTAMP_RANGE)


def event_ids(tag: str | None = None) -> st.SearchStrategy[str]:
    """Event ids: usually UUID version 4 text, sometimes any short text.

    With ``tag`` (8 lower-case hex digits) every id carries it, so that a run's events can
    be found again in a store shared with other traffic: a UUID's first group is the tag,
    other text is prefixed with ``tag + "-"``.
    """
    uuids = st.uuids(version=4).map(lambda u: tag_uuid(str(u), tag))
    other = texts(40, min_size=1)
    if tag is not None:
        tag_uuid("00000000", tag)  # refuse a malformed tag now, not inside a draw
        other = other.map(lambda text: f"{tag}-{text}")
    return usually(uuids, other, odds=3)


def event_types() -> st.SearchStrategy[str]:
    """Preset SDK event types or custom names."""
    return st.one_of(st.sampled_from(PRESET_EVENT_TYPES), names())


def app_ids() -> st.SearchStrategy[str]:
    """Application ids as created in the web console."""
    return names(max_length=20)


def finite_floats() -> st.SearchStrategy[float]:
    """Floats JSON can carry: no NaN, no infinities."""
    return st.floats(allow_nan=False, allow_infinity=False)


def longs() -> st.SearchStrategy[int]:
    """Integers that fit a Java long."""
    return st.integers(*INT64_RANGE)


def scalars(max_units: int = MAX_ATTRIBUTE_VALUE_LENGTH) -> st.SearchStrategy[Any]:
    """Attribute values: text up to ``max_units``, integers, finite floats, booleans."""
    return st.one_of(short_then_long_texts(max_units), longs(), finite_floats(), st.booleans())


def custom_attributes() -> st.SearchStrategy[dict[str, Any]]:
    """The ``attributes`` object: usually a few random entries, rarely up to 500."""
    few = st.dictionaries(names(), scalars(), max_size=5)
    many = st.integers(0, MAX_CUSTOM_ATTRIBUTES).map(bulk_attributes)
    return usually(few, many, odds=BULK_ODDS)


def bulk_attributes(count: int) -> dict[str, Any]:
    """``count`` valid custom attributes with small values of every scalar type."""
    values: tuple[Callable[[int], Any], ...] = (lambda i: f"v{i}", int, lambda i: i + 0.25, lambda i: i % 2 == 0)
    return {f"attr_{i}": values[i % len(values)](i) for i in range(count)}


def user_attribute(value: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """One user attribute: ``{"value": scalar, "set_timestamp": ms}``."""
    value = value if value is not None else scalars(MAX_USER_VALUE_LENGTH)
    return st.fixed_dictionaries({"value": value, "set_timestamp": timestamps()})


def user_attributes() -> st.SearchStrategy[dict[str, dict[str, Any]]]:
    """The ``user`` object: a few attributes, often ``_user_id``, rarely up to 100."""
    user_id = st.fixed_dictionaries({}, optional={"_user_id": user_attribute(texts(36, min_size=1))})
    few = st.builds(_merge, user_id, st.dictionaries(names(), user_attribute(), max_size=4))
    many = st.builds(bulk_user_attributes, st.integers(0, MAX_USER_ATTRIBUTES), timestamps())
    return usually(few, many, odds=BULK_ODDS)


def bulk_user_attributes(count: int, set_timestamp: int) -> dict[str, dict[str, Any]]:
    """``count`` valid user attributes, the first one being ``_user_id``."""
    names_ = ["_user_id"] + [f"user_attr_{i}" for i in range(1, count)]
    return {name: {"value": f"u{i}", "set_timestamp": set_timestamp} for i, name in enumerate(names_[:count])}


def item_values() -> st.SearchStrategy[Any]:
    """Item attribute values: scalars with text up to 256 units."""
    return scalars(MAX_ITEM_VALUE_LENGTH)


def items() -> st.SearchStrategy[dict[str, Any]]:
    """One item: any of the preset item keys, plus up to 10 custom keys."""
    item_text = short_then_long_texts(MAX_ITEM_VALUE_LENGTH)
    preset = {key: item_text for key in ITEM_STRING_KEYS}
    preset.update({"price": st.one_of(finite_floats(), longs()), "quantity": st.integers(0, 10_000)})
    custom_key = names().map(lambda name: f"c_{name}"[:MAX_NAME_LENGTH])  # never a preset key
    custom = st.dictionaries(custom_key, item_values(), max_size=3)
    many_custom = st.integers(0, MAX_CUSTOM_ITEM_KEYS).map(bulk_custom_item_keys)
    return st.builds(_merge, st.fixed_dictionaries({}, optional=preset), usually(custom, many_custom))


def bulk_custom_item_keys(count: int) -> dict[str, Any]:
    """``count`` custom item keys with short values."""
    return {f"custom_{i}": f"value {i}" for i in range(count)}


def item_lists() -> st.SearchStrategy[list[dict[str, Any]]]:
    """The ``items`` list: usually 0 to 3 items, rarely up to 100."""
    return usually(st.lists(items(), max_size=3), st.integers(0, MAX_ITEMS).map(bulk_items), odds=BULK_ODDS)


def bulk_items(count: int) -> list[dict[str, Any]]:
    """``count`` small valid items."""
    return [
        {"id": f"item-{i}", "name": f"Item {i} – 商品", "category": "housewares", "price": i + 0.5, "quantity": 1}
        for i in range(count)
    ]


def extra_fields() -> st.SearchStrategy[dict[str, Any]]:
    """Fields the document does not list, as real SDKs send them (``host_name``...)."""
    return st.fixed_dictionaries({}, optional={name: texts(30) for name in EXTRA_FIELD_NAMES})


def optional_fields() -> st.SearchStrategy[dict[str, Any]]:
    """Every documented optional field, each present or absent, with its documented type."""
    spec: dict[str, st.SearchStrategy[Any]] = {name: texts(24) for name in OPTIONAL_STRING_FIELDS}
    spec.update({name: st.integers(*INT32_RANGE) for name in OPTIONAL_INT_FIELDS})
    spec["zone_offset"] = st.integers(-12 * 3_600_000, 14 * 3_600_000)
    spec.update(items=item_lists(), user=user_attributes(), attributes=custom_attributes())
    return st.fixed_dictionaries({}, optional=spec)


def required_fields() -> st.SearchStrategy[dict[str, Any]]:
    """The four required fields: event_type, event_id, timestamp, app_id."""
    return st.fixed_dictionaries(
        {"event_type": event_types(), "event_id": event_ids(), "timestamp": timestamps(), "app_id": app_ids()}
    )


@reused
def events(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Valid events. Keyword arguments pin fields: a plain value, or a strategy to draw from.

    Example: ``events(app_id="shop_dev", platform=st.sampled_from(["Android", "iOS"]))``.
    """
    pinned = {name: value if isinstance(value, st.SearchStrategy) else st.just(value) for name, value in fixed.items()}
    return st.builds(_merge, extra_fields(), required_fields(), optional_fields(), st.fixed_dictionaries(pinned))


@reused
def batches(min_events: int = 1, max_events: int = 5, app_id: str | None = None,
            tag: str | None = None) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Valid batches of ``min_events`` to ``max_events`` events, app_id pinned when given,
    every event_id carrying ``tag`` when given (see :func:`event_ids`).

    A batch stays under :data:`VALID_BATCH_BUDGET` bytes as plain JSON: trailing events
    beyond ``min_events`` are left out when needed.
    """
    fixed: dict[str, Any] = {} if app_id is None else {"app_id": app_id}
    if tag is not None:
        fixed["event_id"] = event_ids(tag)
    event_lists = st.lists(events(**fixed), min_size=min_events, max_size=max_events)
    return event_lists.map(lambda batch: fit_to_budget(batch, min_events))


def fit_to_budget(batch: list[dict[str, Any]], min_events: int = 1, budget: int = VALID_BATCH_BUDGET) -> list[dict[str, Any]]:
    """Drop trailing events (keeping ``min_events``) until the plain body fits ``budget``."""
    kept = list(batch)
    while len(kept) > min_events and len(encode_plain(kept)) > budget:
        kept.pop()
    return kept


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


__all__ = [
    "VALID_BATCH_BUDGET", "usually", "truncate_utf16", "texts", "names", "timestamps", "event_ids",
    "event_types", "app_ids", "finite_floats", "longs", "scalars", "custom_attributes", "bulk_attributes",
    "user_attribute", "user_attributes", "bulk_user_attributes", "item_values", "items",
    "bulk_custom_item_keys", "item_lists", "bulk_items", "extra_fields", "optional_fields",
    "required_fields", "events", "batches", "fit_to_budget", "utf16_length",
]
