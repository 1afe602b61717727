"""Self-tests of the strategies package: valid and invalid generators, encoders, edge builders."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import conformance.strategies as cs
from conformance import fixtures
from conformance.strategies.events import truncate_utf16
from conformance.strategies.rules import (
    MAX_CUSTOM_ATTRIBUTES,
    MAX_ITEMS,
    MAX_USER_ATTRIBUTES,
    utf16_length,
)
from conformance.strategies.validate import validate_bytes


# Generation of long text and big dicts is slow on 2 cores; keep runs short and deadline-free.
quick = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def rules_found(findings: list[cs.Finding]) -> set[str]:
    return {finding.rule for finding in findings}


# --- valid examples -------------------------------------------------------------


@quick
@given(cs.events())
def test_every_generated_event_is_clean(event: dict) -> None:
    assert cs.validate_body([event]) == []


@quick
@given(cs.batches(min_events=1, max_events=5, app_id="shop_dev"))
def test_every_generated_batch_is_clean_and_pinned(batch: list) -> None:
    assert 1 <= len(batch) <= 5
    assert {event["app_id"] for event in batch} == {"shop_dev"}
    assert cs.validate_body(batch) == []
    assert len(cs.encode_plain(batch)) <= cs.VALID_BATCH_BUDGET


@quick
@given(cs.events(app_id="pinned_app", platform=st.sampled_from(["Android", "iOS"])))
def test_events_pin_values_and_strategies(event: dict) -> None:
    assert event["app_id"] == "pinned_app"
    assert event["platform"] in ("Android", "iOS")


def test_text_is_valid_unicode_with_non_ascii() -> None:
    seen_non_ascii = False

    @settings(max_examples=60, deadline=None, database=None)
    @given(cs.events())
    def check(event: dict) -> None:
        nonlocal seen_non_ascii
        text = cs.encode_plain([event]).decode("utf-8")  # fails on lone surrogates
        seen_non_ascii = seen_non_ascii or any(ord(char) > 127 for char in text)

    check()
    assert seen_non_ascii


def test_truncate_utf16_counts_astral_characters_twice() -> None:
    assert truncate_utf16("a😀b", 2) == "a"
    assert truncate_utf16("a😀b", 3) == "a😀"
    assert utf16_length("a😀b") == 4


# --- invalid examples -----------------------------------------------------------


def assert_reports_only_its_rule(example: cs.InvalidExample) -> None:
    findings = validate_bytes(example.body, example.compression)
    assert rules_found(findings) == {example.rule}, findings
    assert {finding.kind for finding in findings} == {cs.rule_kind(example.rule)}
    if example.event_index is not None:
        assert {finding.event for finding in findings} == {example.event_index}
    if example.batch is not cs.NOT_JSON:
        assert cs.decode_body(example.body, example.compression) == example.batch


@quick
@given(cs.invalid_batches(app_id="shop_dev"))
def test_every_invalid_example_breaks_its_rule(example: cs.InvalidExample) -> None:
    assert example.rule in cs.INVALID_RULES
    assert_reports_only_its_rule(example)


@pytest.mark.parametrize("rule", cs.INVALID_RULES)
def test_each_rule_has_examples(rule: str) -> None:
    @settings(max_examples=4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(cs.invalid_batches(rules=[rule]))
    def check(example: cs.InvalidExample) -> None:
        assert example.rule == rule
        assert_reports_only_its_rule(example)

    check()


@quick
@given(cs.invalid_events())
def test_invalid_events_are_event_level(example: cs.InvalidExample) -> None:
    assert example.rule in cs.EVENT_RULES and example.event_index is not None
    assert_reports_only_its_rule(example)


def test_rule_lists_are_consistent() -> None:
    assert set(cs.INVALID_RULES) <= set(cs.RULES)
    assert set(cs.ERROR_RULES).isdisjoint(cs.DEVIATION_RULES)
    assert set(cs.EVENT_RULES) | set(cs.BODY_RULES) == set(cs.INVALID_RULES)
    with pytest.raises(ValueError):
        cs.invalid_batches(rules=["no:such-rule"])


# --- encoders -------------------------------------------------------------------


@quick
@given(cs.batches(max_events=3), st.sampled_from(cs.ENCODINGS))
def test_encodings_round_trip(batch: list, encoding: str) -> None:
    sent = cs.encode(batch, encoding)
    assert sent.decode() == batch
    assert sent.hash_code == cs.hash_code(sent.body)
    if encoding != "raw-gzip":  # what a collector sees: compression=gzip means base64(gzip)
        assert cs.decode_body(sent.body, sent.compression) == batch


def test_plain_encoding_is_compact_utf8() -> None:
    assert cs.encode_plain([{"a": "测", "b": 1}]) == '[{"a":"测","b":1}]'.encode("utf-8")
    assert cs.encode([], "base64-gzip").body.isascii()
    assert cs.encode([], "plain").compression is None and cs.encode([], "raw-gzip").compression == "gzip"


def test_decode_body_names_what_is_wrong() -> None:
    with pytest.raises(cs.BodyDecodeError) as bad_gzip:
        cs.decode_body(b"W10=", "gzip")  # base64 of "[]", not gzip
    assert bad_gzip.value.rule == "body:bad-gzip"
    big = cs.encode([{"x": "a" * 10_000}], "base64-gzip").body
    with pytest.raises(cs.BodyDecodeError) as bomb:
        cs.decode_body(big, "gzip", max_decoded_bytes=1000)
    assert bomb.value.rule == "body:decoded-too-large"


def websdk_requests() -> list[dict]:
    """The Web SDK's captured requests, as the package ships them."""
    return [row.to_dict() for row in fixtures.load("websdk")]


def test_hash_code_matches_the_real_web_sdk() -> None:
    requests = websdk_requests()
    for request in requests:
        sent = parse_qs(urlsplit(request["raw_path"]).query)["hashCode"][0]
        assert cs.hash_code(request["body"].encode("utf-8")) == sent, request["scenario"]
    assert len(requests) == 62


# --- edge builders --------------------------------------------------------------


@pytest.mark.parametrize("size", [1_000_000, 1_048_576, 1_048_577])
def test_batch_of_size_is_exact_valid_and_fast(size: int) -> None:
    started = time.perf_counter()
    batch, body = cs.batch_of_size(size, app_id="shop_dev")
    assert time.perf_counter() - started < 1.0
    assert len(body) == size and body == cs.encode_plain(batch)
    assert cs.validate_body(batch) == []
    assert {event["app_id"] for event in batch} == {"shop_dev"}


@settings(max_examples=25, deadline=None)
@given(st.integers(200, 300_000))
def test_batch_of_size_hits_any_size(size: int) -> None:
    _, body = cs.batch_of_size(size)
    assert len(body) == size


@pytest.mark.parametrize("encoding", ["base64-gzip", "raw-gzip"])
@pytest.mark.parametrize("size", [1_000_000, 1_048_576, 40_000])
def test_batch_of_size_for_gzip_encodings(encoding: str, size: int) -> None:
    batch, body = cs.batch_of_size(size, encoding=encoding)
    assert len(body) == size
    assert cs.EncodedBody(body, "gzip", cs.hash_code(body), encoding).decode() == batch


def test_batch_of_size_rejects_impossible_sizes() -> None:
    with pytest.raises(ValueError):
        cs.batch_of_size(10)
    with pytest.raises(ValueError):
        cs.batch_of_size(1_048_577, encoding="base64-gzip")  # base64 length is a multiple of 4


def test_event_at_limits_is_at_every_limit_and_clean() -> None:
    event = cs.event_at_limits(app_id="shop_dev")
    assert event == cs.event_at_limits(app_id="shop_dev")
    assert len(event["items"]) == MAX_ITEMS
    assert len(event["user"]) == MAX_USER_ATTRIBUTES and "_user_id" in event["user"]
    assert len(event["attributes"]) == MAX_CUSTOM_ATTRIBUTES
    assert {len(name) for name in event["attributes"]} == {50}
    assert {utf16_length(value) for value in event["attributes"].values()} == {1024}
    assert cs.validate_body([event]) == []
    assert len(cs.encode_plain([event])) <= 1_000_000


# --- schema and packaging -------------------------------------------------------


def test_body_schema_is_a_valid_2020_12_schema() -> None:
    schema = cs.body_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")
    assert cs.body_schema() is not schema  # callers may change their copy


# --- run tags: a run's events can be told apart in a shared store -----------------

@settings(max_examples=60, deadline=None)
@given(batch=cs.batches(min_events=1, max_events=5, tag="0badcafe"))
def test_tagged_batches_carry_the_tag_in_every_event_id(batch: list) -> None:
    for event in batch:
        assert event["event_id"].startswith("0badcafe"), event["event_id"]
    assert [f for f in cs.validate_body(batch) if f.kind == "error"] == []


def test_tag_keeps_uuid_shape_and_length() -> None:
    import uuid as _uuid
    text = str(_uuid.uuid4())
    tagged = cs.tag_uuid(text, "12ab34cd")
    assert len(tagged) == len(text) and tagged.startswith("12ab34cd-")
    assert _uuid.UUID(tagged).version == 4
    with pytest.raises(ValueError):
        cs.tag_uuid(text, "NOT-HEX!")


def test_batch_of_size_with_tag_keeps_the_exact_size() -> None:
    for encoding, size in (("plain", 5000), ("base64-gzip", 8000)):
        batch, body = cs.batch_of_size(size, encoding=encoding, tag="feedf00d")
        assert len(body) == size
        assert all(e["event_id"].startswith("feedf00d-") for e in batch)


def test_event_and_batch_strategies_are_shared_for_the_same_arguments() -> None:
    """Sharing saves Hypothesis' per-object work; an unhashable pinned value still works."""
    from conformance.strategies import batches, events
    assert events(app_id="shop_dev") is events(app_id="shop_dev")
    assert events(app_id="shop_dev") is not events(app_id="other")
    assert batches(0, 2, app_id="shop_dev") is batches(0, 2, app_id="shop_dev")
    pinned = events(items=[{"id": "a"}])  # a list is unhashable: built anew, not cached
    assert pinned is not events(items=[{"id": "a"}])
