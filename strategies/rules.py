"""What a Clickstream request body must and should look like, as data.

The documented fields and their types are read from the shipped JSON Schema, so the
strategies, the validator and the schema share one source of knowledge. The limits and
the naming rule are the ones real SDKs enforce on the client (see ``real-world.md``);
breaking them is a *deviation*, not an error.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

SCHEMA_FILE = "clickstream-body.schema.json"

# Client-side limits of the real SDKs.
MAX_ITEMS = 100
MAX_CUSTOM_ITEM_KEYS = 10
MAX_ITEM_VALUE_LENGTH = 256
MAX_USER_ATTRIBUTES = 100
MAX_USER_VALUE_LENGTH = 256
MAX_CUSTOM_ATTRIBUTES = 500
MAX_NAME_LENGTH = 50
MAX_ATTRIBUTE_VALUE_LENGTH = 1024
NAME_PATTERN = r"^(?![0-9])[0-9a-zA-Z_]+$"
NAME_REGEX = re.compile(NAME_PATTERN)

INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)


def body_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a request body, as a fresh dict."""
    return json.loads(_schema_text())


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def _field_kinds() -> dict[str, str]:
    """Map each documented scalar event field to "string", "long" or "int"."""
    properties = body_schema()["$defs"]["event"]["properties"]
    kinds = {}
    for name, spec in properties.items():
        ref = spec.get("$ref", "")
        if ref.startswith("#/$defs/"):
            kinds[name] = ref.rsplit("/", 1)[1]
    return kinds


FIELD_KINDS: dict[str, str] = _field_kinds()
REQUIRED_FIELDS: tuple[str, ...] = tuple(body_schema()["$defs"]["event"]["required"])
OPTIONAL_STRING_FIELDS: tuple[str, ...] = tuple(
    name for name, kind in FIELD_KINDS.items() if kind == "string" and name not in REQUIRED_FIELDS
)
OPTIONAL_INT_FIELDS: tuple[str, ...] = tuple(
    name for name, kind in FIELD_KINDS.items() if kind == "int" and name not in REQUIRED_FIELDS
)
CONTAINER_FIELDS: tuple[str, ...] = ("items", "user", "attributes")
ITEM_PRESET_KEYS: tuple[str, ...] = tuple(body_schema()["$defs"]["item"]["properties"])
ITEM_NUMBER_KEYS: tuple[str, ...] = ("price", "quantity")
ITEM_STRING_KEYS: tuple[str, ...] = tuple(k for k in ITEM_PRESET_KEYS if k not in ITEM_NUMBER_KEYS)


TAG_PATTERN = re.compile(r"^[0-9a-f]{8}$")


def tag_uuid(uuid_text: str, tag: str | None) -> str:
    """UUID text with its first group replaced by ``tag`` (8 lower-case hex digits).

    The result is still UUID-shaped (and keeps its version digit), so a collector that
    checks the form of an event_id accepts it, while a reader of the store can tell
    one run's events from every other run's. ``tag=None`` returns the text unchanged.
    """
    if tag is None:
        return uuid_text
    if not TAG_PATTERN.match(tag):
        raise ValueError(f"a tag is 8 lower-case hex digits, not {tag!r}")
    return tag + uuid_text[8:]


def utf16_length(text: str) -> int:
    """Length as JavaScript and Java count it (UTF-16 code units), which the SDK limits use."""
    return len(text.encode("utf-16-le")) // 2


def is_scalar(value: object) -> bool:
    """True for the JSON values SDKs send as attribute values: string, number, boolean."""
    return isinstance(value, (str, int, float, bool))


# Rule names. Each finding of the validator and each invalid example carries one.
BODY_ERROR_RULES: tuple[str, ...] = (
    "body:not-array",
    "body:malformed-json",
    "body:invalid-utf8",
    "body:bad-base64",
    "body:bad-gzip",
    "body:decoded-too-large",
)
EVENT_ERROR_RULES: tuple[str, ...] = (
    ("event:not-object",)
    + tuple(f"missing:{name}" for name in REQUIRED_FIELDS)
    + tuple(f"type:{name}" for name in (*FIELD_KINDS, *CONTAINER_FIELDS))
    + ("items:not-object", "user:not-object", "user:missing-value", "user:bad-set-timestamp")
)
BODY_DEVIATION_RULES: tuple[str, ...] = ("body:empty-array",)
EVENT_DEVIATION_RULES: tuple[str, ...] = (
    f"items:count>{MAX_ITEMS}",
    f"items:custom-keys>{MAX_CUSTOM_ITEM_KEYS}",
    f"items:value-length>{MAX_ITEM_VALUE_LENGTH}",
    f"user:count>{MAX_USER_ATTRIBUTES}",
    f"user:value-length>{MAX_USER_VALUE_LENGTH}",
    f"attributes:count>{MAX_CUSTOM_ATTRIBUTES}",
    "name:pattern",
    f"name:length>{MAX_NAME_LENGTH}",
    f"value:length>{MAX_ATTRIBUTE_VALUE_LENGTH}",
    "value:not-scalar",
)
ERROR_RULES: tuple[str, ...] = BODY_ERROR_RULES + EVENT_ERROR_RULES
DEVIATION_RULES: tuple[str, ...] = BODY_DEVIATION_RULES + EVENT_DEVIATION_RULES
RULES: tuple[str, ...] = ERROR_RULES + DEVIATION_RULES


def rule_kind(rule: str) -> str:
    """Return "error" or "deviation" for a rule name; KeyError for an unknown one."""
    if rule in ERROR_RULES:
        return "error"
    if rule in DEVIATION_RULES:
        return "deviation"
    raise KeyError(rule)
