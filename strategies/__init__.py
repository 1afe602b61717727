"""Property-testing kit for the Clickstream HTTP API.

Self-contained (standard library, Hypothesis, jsonschema only), so it can be used to
property-test any collector or SDK:

* Hypothesis strategies: :func:`events`, :func:`batches` (valid),
  :func:`invalid_events`, :func:`invalid_batches` (each example breaks one named rule,
  see :data:`INVALID_RULES`), and smaller building blocks in :mod:`conformance.strategies.events`.
* Edge builders: :func:`event_at_limits`, :func:`batch_of_size`.
* Encoders: :func:`encode`, :func:`encode_plain`, :func:`encode_base64_gzip`,
  :func:`encode_raw_gzip`, :func:`decode_body`, :func:`hash_code`.
* The request body's JSON Schema: :func:`body_schema`; a validator:
  :func:`validate_body`, :func:`validate_bytes`, :func:`validate_file`.

Example::

    from hypothesis import given
    import conformance.strategies as cs

    @given(cs.batches(app_id="shop_dev"))
    def test_collector_accepts(batch):
        sent = cs.encode(batch, "base64-gzip")
        assert post(sent.body, compression=sent.compression).status_code == 200
"""

from .edges import batch_of_size, event_at_limits
from .encoding import (
    ENCODINGS,
    BodyDecodeError,
    EncodedBody,
    decode_body,
    encode,
    encode_base64_gzip,
    encode_plain,
    encode_raw_gzip,
    hash_code,
)
from .events import VALID_BATCH_BUDGET, batches, events
from .invalid import (
    BODY_RULES,
    EVENT_RULES,
    INVALID_RULES,
    NOT_JSON,
    InvalidExample,
    invalid_batches,
    invalid_events,
)
from .rules import DEVIATION_RULES, ERROR_RULES, RULES, body_schema, rule_kind, tag_uuid
from .validate import Finding, validate_body, validate_bytes, validate_file

__all__ = [
    "events", "batches", "invalid_events", "invalid_batches", "InvalidExample", "NOT_JSON",
    "INVALID_RULES", "EVENT_RULES", "BODY_RULES", "RULES", "ERROR_RULES", "DEVIATION_RULES", "rule_kind",
    "event_at_limits", "batch_of_size", "VALID_BATCH_BUDGET",
    "ENCODINGS", "EncodedBody", "BodyDecodeError", "encode", "encode_plain", "encode_base64_gzip",
    "encode_raw_gzip", "decode_body", "hash_code",
    "tag_uuid", "body_schema", "Finding", "validate_body", "validate_bytes", "validate_file",
]
