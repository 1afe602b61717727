"""Deterministic builders for edge cases: an event at every limit, bodies of an exact size.

These construct their result directly; nothing is generated and filtered.
"""

from __future__ import annotations

import base64
import math
import time
import uuid
from typing import Any

from .encoding import ENCODINGS, encode_plain, _gzip
from .rules import (
    ITEM_STRING_KEYS,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    MAX_CUSTOM_ATTRIBUTES,
    MAX_CUSTOM_ITEM_KEYS,
    MAX_ITEM_VALUE_LENGTH,
    MAX_ITEMS,
    MAX_NAME_LENGTH,
    MAX_USER_ATTRIBUTES,
    MAX_USER_VALUE_LENGTH,
    tag_uuid,
)

LIMITS_EVENT_ID = "7d0c5b1e-2f4a-4c8e-9b6d-3a1f0e2d4c5b"
LIMITS_TIMESTAMP = 1_795_693_001_247


def text_of_length(length: int, seed: str = "") -> str:
    """``length`` characters: ``seed`` (a few non-ASCII BMP characters) padded with ASCII.

    BMP characters only, so the length is the same in code points and UTF-16 units.
    """
    prefix = (seed + "é测ü")[:length]
    return prefix + "a" * (length - len(prefix))


def name_of_length(prefix: str, length: int = MAX_NAME_LENGTH) -> str:
    """A name following the naming rule, ``prefix`` padded with ``x`` to ``length``."""
    return (prefix + "x" * length)[:length]


def _limit_items() -> list[dict[str, Any]]:
    long_value = text_of_length(MAX_ITEM_VALUE_LENGTH)
    custom_names = [name_of_length(f"custom_{k}_") for k in range(MAX_CUSTOM_ITEM_KEYS)]
    items = []
    for i in range(MAX_ITEMS):
        item: dict[str, Any] = {key: f"{key} {i}" for key in ITEM_STRING_KEYS}
        item.update(price=i + 0.99, quantity=i)
        item.update({name: f"v{i}" for name in custom_names})
        items.append(item)
    # The first item carries every string value at its longest.
    items[0].update({key: long_value for key in (*ITEM_STRING_KEYS, *custom_names)})
    return items


def _limit_user(timestamp: int) -> dict[str, dict[str, Any]]:
    user = {"_user_id": {"value": text_of_length(MAX_USER_VALUE_LENGTH, "user-"), "set_timestamp": timestamp}}
    for i in range(1, MAX_USER_ATTRIBUTES):
        user[name_of_length(f"user_attr_{i:03d}_")] = {"value": f"value {i}", "set_timestamp": timestamp}
    return user


def _limit_attributes() -> dict[str, str]:
    return {
        name_of_length(f"attr_{i:03d}_"): text_of_length(MAX_ATTRIBUTE_VALUE_LENGTH, f"{i:03d}")
        for i in range(MAX_CUSTOM_ATTRIBUTES)
    }


def event_at_limits(app_id: str = "shop_dev", event_id: str = LIMITS_EVENT_ID, timestamp: int = LIMITS_TIMESTAMP) -> dict[str, Any]:
    """One event at every limit at once, always the same for the same arguments.

    100 items (each with every preset key and 10 custom keys; the first with 256-character
    values), 100 user attributes (50-character names, ``_user_id`` with a 256-character
    value), 500 custom attributes (50-character names, 1024-character values). Its plain
    body is about 650 KB, under 1,000,000 bytes.
    """
    return {
        "event_type": "limits_check",
        "event_id": event_id,
        "timestamp": timestamp,
        "app_id": app_id,
        "platform": "Web",
        "sdk_name": "clickstream-conformance",
        "sdk_version": "0.1.0",
        "items": _limit_items(),
        "user": _limit_user(timestamp),
        "attributes": _limit_attributes(),
    }


# ---------------------------------------------------------------------------
# Bodies of an exact size. Padding goes into attributes of at most 1024 ASCII
# characters, at most 100 per event, so the batch stays within every limit.

_PAD_VALUE_LENGTH = MAX_ATTRIBUTE_VALUE_LENGTH
_PADS_PER_EVENT = 100


def _pad_name(index: int) -> str:
    return f"pad_{index:03d}"  # fixed width: every padding attribute costs the same


def _padding_event(app_id: str, timestamp: int, value_lengths: list[int], slack: int,
                   tag: str | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"padding": True}  # so every pad attribute adds a comma
    attributes.update({_pad_name(i): "a" * length for i, length in enumerate(value_lengths)})
    return {
        "event_type": "padding" + "_" * slack,
        "event_id": tag_uuid(str(uuid.uuid4()), tag),  # same length tagged or not
        "timestamp": timestamp,
        "app_id": app_id,
        "attributes": attributes,
    }


class _PlainSizer:
    """Builds events whose plain JSON has an exact number of bytes."""

    def __init__(self, app_id: str, tag: str | None = None) -> None:
        self.app_id = app_id
        self.tag = tag
        self.timestamp = int(time.time() * 1000)
        self.base = self._size([], 0)
        self.per_pad = self._size([0], 0) - self.base  # bytes of one empty padding attribute
        self.full = self._size([_PAD_VALUE_LENGTH] * _PADS_PER_EVENT, 0)

    def _size(self, value_lengths: list[int], slack: int) -> int:
        return len(encode_plain(_padding_event(self.app_id, self.timestamp, value_lengths, slack)))

    def event(self, size: int) -> dict[str, Any]:
        """An event of exactly ``size`` bytes, ``self.base <= size <= self.full``."""
        chunk = self.per_pad + _PAD_VALUE_LENGTH
        full_pads, rest = divmod(size - self.base, chunk)
        lengths = [_PAD_VALUE_LENGTH] * full_pads
        slack = 0
        if rest > self.per_pad:
            lengths.append(rest - self.per_pad)
        else:
            slack = rest  # too small for another attribute: lengthen event_type instead
        return _padding_event(self.app_id, self.timestamp, lengths, slack, self.tag)

    def event_sizes(self, body_size: int) -> list[int]:
        """Sizes of events whose array ``[e1,e2,...]`` has ``body_size`` bytes."""
        count = max(1, math.ceil((body_size - 1) / (self.full + 1)))
        sizes = [self.full] * (count - 1) + [body_size - 2 - (count - 1) * (self.full + 1)]
        if sizes[-1] < self.base:  # last event too small: share with the one before
            total = sizes[-2] + sizes[-1]
            sizes[-2:] = [total // 2, total - total // 2]
        return sizes


def plain_batch_of_size(n: int, app_id: str = "shop_dev", tag: str | None = None) -> list[dict[str, Any]]:
    """A valid batch whose plain JSON body is exactly ``n`` bytes (event_ids tagged with ``tag``)."""
    sizer = _PlainSizer(app_id, tag)
    if n < sizer.base + 2:
        raise ValueError(f"a valid batch needs at least {sizer.base + 2} bytes, not {n}")
    return [sizer.event(size) for size in sizer.event_sizes(n)]


def _stored_gzip(plain: bytes, base64_wrapped: bool) -> bytes:
    # Level 0 (stored blocks) makes the gzip size a simple, almost linear function of the input.
    data = _gzip(plain, 0)
    return base64.b64encode(data) if base64_wrapped else data


def _gzip_batch_of_size(n: int, app_id: str, base64_wrapped: bool,
                        tag: str | None) -> tuple[list[dict[str, Any]], bytes]:
    if base64_wrapped and n % 4:
        raise ValueError(f"base64 text always has a multiple of 4 bytes; {n} is not")
    ratio = 0.75 if base64_wrapped else 1.0
    plain_size = max(int(n * ratio) - 32, 200)
    for _ in range(40):
        batch = plain_batch_of_size(plain_size, app_id, tag)
        body = _stored_gzip(encode_plain(batch), base64_wrapped)
        if len(body) == n:
            return batch, body
        step = (n - len(body)) * ratio
        plain_size += int(step) if abs(step) >= 1 else (1 if step > 0 else -1)
    raise ValueError(f"could not build a gzip body of exactly {n} bytes")


def batch_of_size(n: int, app_id: str = "shop_dev", encoding: str = "plain",
                  tag: str | None = None) -> tuple[list[dict[str, Any]], bytes]:
    """A valid batch and its encoded body of exactly ``n`` bytes as sent.

    ``encoding`` is one of ``"plain"``, ``"base64-gzip"``, ``"raw-gzip"``. Gzip bodies use
    compression level 0 so their size can be steered; they still decode with any gzip
    reader. Base64 bodies need ``n`` to be a multiple of 4. The events carry padding
    attributes of at most 1024 ASCII characters, 100 per event, so the batch breaks no
    limit. With ``tag``, every event_id carries it (see :func:`conformance.strategies.rules.tag_uuid`).
    Fast: about 10 ms per MiB.
    """
    if encoding == "plain":
        batch = plain_batch_of_size(n, app_id, tag)
        body = encode_plain(batch)
    elif encoding in ("base64-gzip", "raw-gzip"):
        batch, body = _gzip_batch_of_size(n, app_id, encoding == "base64-gzip", tag)
    else:
        raise ValueError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    if len(body) != n:  # guards the arithmetic above
        raise AssertionError(f"built {len(body)} bytes instead of {n}")
    return batch, body


__all__ = ["event_at_limits", "batch_of_size", "plain_batch_of_size", "text_of_length", "name_of_length"]
