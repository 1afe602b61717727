"""What the reference collector makes of a request body: bytes as sent -> decoded -> JSON array -> checked events.

Plain functions of bytes and the query, no HTTP and no aiohttp: each refusal is a
``Rejected`` with the 4xx status to answer, which the handlers in server.py send.
"""
from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any, Union

from .store import EventRow


class Rejected(Exception):
    """A request the collector refuses, with the status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# =============================================================================
# Decoding: bytes as sent -> JSON text
# =============================================================================

Buffer = Union[bytes, bytearray]
GZIP_MAGIC = b"\x1f\x8b"
_ASCII_WHITESPACE = b" \t\r\n\x0b\x0c"
_AUTO_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS
_INFLATE_STEP = 1 << 20


def gunzip_capped(data: Buffer, max_out: int) -> bytearray:
    """Inflate gzip (or zlib) data, refusing with 413 as soon as the output would
    pass max_out bytes, so a small bomb never gets inflated in full."""
    out = bytearray()
    remaining = data
    first_member = True
    while first_member or remaining:
        if not first_member and not remaining.startswith(GZIP_MAGIC):
            raise Rejected(400, "trailing data after the gzip stream")
        remaining = _inflate_one_member(remaining, out, max_out)
        first_member = False
    return out  # not copied to bytes: that would double the peak for large bodies


def _inflate_one_member(data: Buffer, out: bytearray, max_out: int) -> bytes:
    """Inflate one gzip member into out; returns the bytes that follow it."""
    inflater = zlib.decompressobj(_AUTO_GZIP_OR_ZLIB)
    try:
        while not inflater.eof:
            # Small steps keep the peak near max_out instead of twice that.
            step = min(_INFLATE_STEP, max_out + 1 - len(out))
            chunk = inflater.decompress(data, step)
            out += chunk
            if len(out) > max_out:
                raise Rejected(413, f"body decodes to more than {max_out} bytes")
            data = inflater.unconsumed_tail
            # With no input left and nothing produced the stream is cut short.
            if not chunk and not data:
                raise Rejected(400, "gzip data is truncated")
    except zlib.error as exc:
        raise Rejected(400, f"corrupt gzip data: {exc}") from None
    return inflater.unused_data


def lenient_base64(body: Buffer) -> bytes:
    """Decode base64 as real clients write it: line breaks allowed (Android's
    Base64.DEFAULT wraps lines), URL-safe alphabet and missing padding tolerated."""
    text = body.translate(None, _ASCII_WHITESPACE).translate(bytes.maketrans(b"-_", b"+/"))
    text += b"=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(400, "body is not valid base64") from None


def undo_content_encoding(body: Buffer, content_encoding: str, max_out: int) -> Buffer:
    """Undo an HTTP Content-Encoding header (codings listed in applied order)."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            body = gunzip_capped(body, max_out)
        elif coding == "deflate":
            body = _inflate_deflate(body, max_out)
        elif coding != "identity":
            raise Rejected(415, f"unsupported Content-Encoding {coding!r}")
    return body


def _inflate_deflate(body: Buffer, max_out: int) -> Buffer:
    # "deflate" is meant to be zlib-wrapped, but some clients send raw deflate.
    if body[:1] and (body[0] & 0x0F) == 8 and int.from_bytes(body[:2], "big") % 31 == 0:
        return gunzip_capped(body, max_out)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_out + 1)
    except zlib.error as exc:
        raise Rejected(400, f"corrupt deflate data: {exc}") from None
    if len(out) > max_out:
        raise Rejected(413, f"body decodes to more than {max_out} bytes")
    return out


def undo_compression(body: Buffer, compression: str, max_out: int) -> Buffer:
    """Undo the `compression` query parameter: gzip means base64 text of gzip data
    (what the SDKs send); raw gzip bytes are accepted too, to be lenient."""
    if compression == "":
        return body
    if body.startswith(GZIP_MAGIC):
        return gunzip_capped(body, max_out)
    return gunzip_capped(lenient_base64(body), max_out)


def compression_of(query: Any) -> str:
    """The normalised compression name; an unsupported one is refused with 400."""
    value = (query.get("compression") or "").strip().lower()
    if value not in ("", "gzip"):
        raise Rejected(400, f"unsupported compression {value!r} (only gzip)")
    return value


# =============================================================================
# Validation: JSON text -> checked events
# =============================================================================

REQUIRED_STRING_FIELDS = ("event_type", "event_id", "app_id")
OPTIONAL_STRING_FIELDS = (
    "platform", "os_version", "unique_id", "device_id", "make", "brand", "model",
    "carrier", "network_type", "locale", "system_language", "country_code",
    "sdk_version", "sdk_name", "app_package_name", "app_version", "app_title",
)
OPTIONAL_INT_FIELDS = ("zone_offset", "screen_height", "screen_width",
                       "viewport_height", "viewport_width")
MAX_ITEMS = 100
MAX_USER_ATTRIBUTES = 100
# The document allows 500 custom attributes, but the Web SDK, when it drops an
# attribute that breaks a rule, adds _error_code/_error_message and keeps going:
# real events carry a few more than 500 (509 were captured). Refusing them would
# lose genuine data, so only counts well past what an SDK produces are refused.
MAX_CUSTOM_ATTRIBUTES = 600
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# The document types these fields int (timestamp is Long): a Java int, 32 bits.
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
UTF8_BOM = b"\xef\xbb\xbf"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def parse_event_array(payload: Buffer) -> list[Any]:
    """The body as a non-empty JSON array; anything else is refused with 400."""
    if payload.startswith(UTF8_BOM):
        payload = payload[len(UTF8_BOM):]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not valid UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise Rejected(400, "JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and ints past the digit limit
        raise Rejected(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(document, list):
        raise Rejected(400, "body must be a JSON array of events")
    if not document:
        raise Rejected(400, "body must contain at least one event")
    return document


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def event_problem(event: Any) -> str | None:
    """What is wrong with one event, or None when it is acceptable."""
    if not isinstance(event, dict):
        return "is not a JSON object"
    for name in REQUIRED_STRING_FIELDS:
        if name not in event:
            return f"lacks required field {name}"
        if not isinstance(event[name], str):
            return f"field {name} must be a string"
    if "timestamp" not in event:
        return "lacks required field timestamp"
    if not _is_int(event["timestamp"]):
        return "field timestamp must be an integer (milliseconds)"
    if not INT64_MIN <= event["timestamp"] <= INT64_MAX:
        return "field timestamp does not fit a 64-bit integer"
    for name in OPTIONAL_STRING_FIELDS:
        if name in event and not isinstance(event[name], str):
            return f"field {name} must be a string"
    for name in OPTIONAL_INT_FIELDS:
        if name in event and not _is_int(event[name]):
            return f"field {name} must be an integer"
        if name in event and not INT32_MIN <= event[name] <= INT32_MAX:
            return f"field {name} does not fit a 32-bit integer"
    for name, shape_problem, most, entries in CONTAINERS:
        if name not in event:
            continue
        problem = shape_problem(event[name])
        if problem:
            return problem
        if len(event[name]) > most:
            return f"has {len(event[name])} {entries}"
    return None


def _items_shape(items: Any) -> str | None:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return "field items must be an array of objects"
    return None


def _user_shape(user: Any) -> str | None:
    if not isinstance(user, dict):
        return "field user must be an object"
    for name, attribute in user.items():
        if not isinstance(attribute, dict) or "value" not in attribute:
            return f"user attribute {name!r} must be an object with a value"
        stamp = attribute.get("set_timestamp", 0)
        if not _is_int(stamp) or not INT64_MIN <= stamp <= INT64_MAX:
            return f"user attribute {name!r} has a set_timestamp that is not a millisecond integer"
    return None


def _attributes_shape(attributes: Any) -> str | None:
    return None if isinstance(attributes, dict) else "field attributes must be an object"


# An event's containers, checked in this order: the field, what is wrong with its
# shape, and how many entries it may hold, with how a refusal names them.
CONTAINERS = (
    ("items", _items_shape, MAX_ITEMS, f"items (at most {MAX_ITEMS})"),
    ("user", _user_shape, MAX_USER_ATTRIBUTES, f"user attributes (at most {MAX_USER_ATTRIBUTES})"),
    ("attributes", _attributes_shape, MAX_CUSTOM_ATTRIBUTES, "custom attributes (far past the limit of 500)"),
)


def _event_json(event: dict) -> str:
    """The event as JSON text for storage. allow_nan=False also catches numbers
    like 1e400 that Python parsed to infinity."""
    try:
        text = json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise Rejected(400, "JSON is nested too deeply") from None
    except ValueError:
        raise Rejected(400, "event holds a number that is not finite") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them as \u escapes
        text = json.dumps(event, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text


def checked_events(document: list[Any]) -> list[EventRow]:
    """Validate every event and turn it into a storable row."""
    rows = []
    for index, event in enumerate(document):
        problem = event_problem(event)
        if problem:
            raise Rejected(400, f"event {index} {problem}")
        rows.append(EventRow(idx=index, event_id=event["event_id"],
                             event_type=event["event_type"], app_id=event["app_id"],
                             timestamp=event["timestamp"], json=_event_json(event)))
    return rows


def decode_batch(body: bytes, compression: str, content_encoding: str,
                 max_decoded: int) -> list[EventRow]:
    """Bytes as sent -> validated event rows, or Rejected. Runs in a worker thread."""
    payload = undo_content_encoding(body, content_encoding, max_decoded)
    payload = undo_compression(payload, compression, max_decoded)
    return checked_events(parse_event_array(payload))
