"""Find the events in one record read back from a sink.

A record is a decoded event (a dict with ``event_id``), a JSON array of events, or a
request record: the body exactly as sent plus metadata, like the deployed ingestion
server stores (fields data, uri, appId, compression, platform, ip, ua, rid,
ingest_time, method) or a generic one (``body`` text or ``body_base64``, ``query``).

A request record is decoded exactly as it says it was sent (its compression field,
else ``compression=gzip`` in its query), never by guessing from the look of the body:
a collector that stores base64-gzip while saying "not compressed" stored something
downstream cannot decode, and the suite must see that.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from conformance.strategies import BodyDecodeError, decode_body

from .base import BadRecord, SinkError

ENCODINGS = ("auto", "json", "text", "base64", "base64-gzip")
MAX_DECODED_BYTES = 64 * 1024 * 1024
DEPLOYED_META = ("appId", "platform", "compression", "ip", "ua", "rid", "ingest_time", "method", "uri")
QUERY_FIELDS = ("query", "uri", "raw_path")
MAX_META_KEYS = 12
MAX_META_CHARS = 200


@dataclass(frozen=True)
class RecordShape:
    """How to read request records. Fields left None are recognised ("auto").

    encoding: how the body field holds the body. ``auto``: text (or an already
    parsed JSON value); ``json``: a parsed JSON value; ``text``: the body as sent;
    ``base64``: base64 of the bytes as sent. With these the record's compression
    field or query decides whether the body is base64-gzip. ``base64-gzip``: always
    base64 of gzip, whatever the record says.
    """
    body_field: str | None = None
    encoding: str = "auto"
    compression_field: str | None = None
    query_field: str | None = None
    appid_field: str | None = None


# The --record-shape option's keys, and the RecordShape fields they set.
SHAPE_KEYS = {"body": "body_field", "encoding": "encoding", "compression": "compression_field",
              "query": "query_field", "appid": "appid_field"}


def parse_record_shape(text: str) -> RecordShape:
    """``auto`` or ``body=data,encoding=base64-gzip,appid=appId,query=uri,compression=compression``."""
    text = text.strip()
    if text in ("", "auto"):
        return RecordShape()
    values: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if key not in SHAPE_KEYS:
            raise SinkError(f"record shape {text!r}: unknown key {key!r}; use {', '.join(SHAPE_KEYS)}")
        if not sep or not value:
            raise SinkError(f"record shape {text!r}: {key} needs a value, as in {key}=NAME")
        if SHAPE_KEYS[key] in values:
            raise SinkError(f"record shape {text!r}: {key} is given twice")
        values[SHAPE_KEYS[key]] = value
    if values.get("encoding", "auto") not in ENCODINGS:
        raise SinkError(f"record shape {text!r}: unknown encoding {values['encoding']!r}; "
                        f"use {', '.join(ENCODINGS)}")
    return RecordShape(**values)


@dataclass
class Found:
    """What one record holds."""
    events: list[dict]
    meta: dict[str, Any]
    problem: str | None


class _Undecodable(Exception):
    """Why a request record's body could not be decoded."""


def events_in(record: Any, shape: RecordShape = RecordShape()) -> Found:
    """The events one record holds, its metadata, and why its body could not be
    decoded (problem) when it could not."""
    if isinstance(record, BadRecord):
        return Found([], {}, f"{record.where}: {record.reason}")
    if isinstance(record, list):
        return _in_array(record, shape)
    if not isinstance(record, dict):
        return Found([], {}, f"a record must be an object or an array, not {_kind(record)}")
    if shape.body_field is None and "event_id" in record:
        return Found([record], {}, None)
    for name in (shape.body_field, shape.compression_field, shape.query_field, shape.appid_field):
        if name is not None and name not in record:
            return Found([], {}, f"no field {name}")
    layout = _recognise(record, shape)
    if layout is None:
        return Found([], _meta(record, RecordShape()),
                     f"not an event, an array of events or a request record (fields: {_field_list(record)})")
    meta = _meta(record, layout)
    try:
        batch = _decode(record, layout)
    except (_Undecodable, BodyDecodeError) as exc:
        return Found([], meta, str(exc))
    except RecursionError:
        return Found([], meta, "body is JSON nested too deeply to read")
    if not isinstance(batch, list):
        return Found([], meta, f"body is JSON but {_kind(batch)}, not an array of events")
    return Found([e for e in batch if isinstance(e, dict)], meta, None)


def _in_array(record: list, shape: RecordShape) -> Found:
    events: list[dict] = []
    problem = None
    for element in record:
        if not isinstance(element, dict):
            continue
        found = events_in(element, shape)
        events += found.events
        problem = problem or found.problem
    return Found(events, {}, problem)


def _recognise(record: dict, shape: RecordShape) -> RecordShape | None:
    """The shape's fields, with those it leaves open filled in from the known layouts."""
    if shape.body_field is not None:
        body, encoding = shape.body_field, shape.encoding
    elif "data" in record and ("uri" in record or "appId" in record):
        body, encoding = "data", shape.encoding  # the deployed solution's record
    elif "body_base64" in record:
        body, encoding = "body_base64", "base64" if shape.encoding == "auto" else shape.encoding
    elif "body" in record:
        body, encoding = "body", shape.encoding
    else:
        return None

    def present(given: str | None, *candidates: str) -> str | None:
        return given if given is not None else next((c for c in candidates if c in record), None)

    return RecordShape(body, encoding, present(shape.compression_field, "compression"),
                       present(shape.query_field, *QUERY_FIELDS), present(shape.appid_field, "appId"))


def _decode(record: dict, layout: RecordShape) -> Any:
    value = record[layout.body_field]
    if layout.encoding == "json" or (layout.encoding == "auto" and isinstance(value, (list, dict))):
        if isinstance(value, str):
            raise _Undecodable(f"field {layout.body_field} holds text, not a parsed JSON value")
        return value
    if not isinstance(value, str):
        raise _Undecodable(f"field {layout.body_field} holds {_kind(value)}, not the body as text")
    if layout.encoding == "base64-gzip":
        compression = "gzip"
        raw = value.encode("utf-8", "surrogatepass")
    else:
        compression = _compression(record, layout)
        if layout.encoding == "base64":
            try:
                raw = base64.b64decode("".join(value.split()), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _Undecodable(f"field {layout.body_field} is not valid base64: {exc}") from None
        else:
            raw = value.encode("utf-8", "surrogatepass")  # a lone surrogate: "not UTF-8" below
    return decode_body(raw, compression, max_decoded_bytes=MAX_DECODED_BYTES)


def _compression(record: dict, layout: RecordShape) -> str | None:
    """What the record says: its compression field wins, else its query's parameter.
    As downstream does (and strategies.decode_body), only "gzip" means base64-gzip."""
    if layout.compression_field is not None:
        said = record[layout.compression_field]
    else:
        said = _query_param(record, layout, "compression")
    return "gzip" if said == "gzip" else None


def _query_param(record: dict, layout: RecordShape, name: str) -> str | None:
    query = record.get(layout.query_field) if layout.query_field else None
    if not isinstance(query, str):
        return None
    if "?" in query:
        query = query.partition("?")[2]
    values = parse_qs(query.partition("#")[0], keep_blank_values=True).get(name)
    return values[0] if values else None


def _meta(record: dict, layout: RecordShape) -> dict[str, Any]:
    """The record's scalar metadata: appId first, the deployed fields, then others."""
    meta: dict[str, Any] = {}
    if layout.appid_field is not None and layout.appid_field in record:
        meta["appId"] = record[layout.appid_field]
    elif (app_id := _query_param(record, layout, "appId")) is not None:
        meta["appId"] = app_id
    skip = {layout.body_field, "body", "body_base64"}
    for key in (*DEPLOYED_META, *record):
        if len(meta) >= MAX_META_KEYS:
            break
        value = record.get(key)
        if key not in meta and key not in skip and key in record and _is_scalar(value):
            meta[key] = value
    return {k: v[:MAX_META_CHARS] if isinstance(v, str) else v for k, v in meta.items()}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _field_list(record: dict) -> str:
    keys = [str(k)[:40] for k in list(record)[:MAX_META_KEYS]]
    return ", ".join(keys) + (", ..." if len(record) > MAX_META_KEYS else "") if keys else "none"
