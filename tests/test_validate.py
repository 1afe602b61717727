"""Self-tests of conformance.strategies.validate: findings on bodies, the fixtures, and the validate command."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import conformance.strategies as cs
from conformance import fixtures
from conformance.strategies.validate import main, validate_bytes

def fixture(name: str) -> Path:
    """The captured requests the package ships (copies of shared/fixtures)."""
    return Path(str(fixtures.path_of(name)))


def event(**changes: object) -> dict:
    base = {"event_type": "button_click", "event_id": "460daa08-0717-4385-8f2e-acb5bd019ee7",
            "timestamp": 1667877566697, "app_id": "shop_dev"}
    return {**base, **changes}


def only(findings: list[cs.Finding]) -> cs.Finding:
    assert len(findings) == 1, findings
    return findings[0]


# --- findings on bodies ---------------------------------------------------------


def test_documented_example_is_clean() -> None:
    body = [event(attributes={"productName": "shoes", "Price": 99.9}),
            event(event_type="item_view", attributes={"productName": "book", "Price": 39.9},
                  items=[{"id": "b011", "name": "Classic coat-rack", "category": "housewares", "price": 167}],
                  user={"_user_id": {"value": "0202d0e1", "set_timestamp": 1695006816345}},
                  host_name="example.com")]
    assert cs.validate_body(body) == []


@pytest.mark.parametrize(
    ("body", "rule", "pointer", "event_index"),
    [
        ({"event_type": "x"}, "body:not-array", "", None),
        ([event(), "text"], "event:not-object", "/1", 1),
        ([{k: v for k, v in event().items() if k != "event_id"}], "missing:event_id", "/0/event_id", 0),
        ([event(timestamp="1667877566697")], "type:timestamp", "/0/timestamp", 0),
        ([event(timestamp=2**63)], "type:timestamp", "/0/timestamp", 0),
        ([event(zone_offset=1.5)], "type:zone_offset", "/0/zone_offset", 0),
        ([event(platform=None)], "type:platform", "/0/platform", 0),
        ([event(items={"id": "1"})], "type:items", "/0/items", 0),
        ([event(items=[{"id": "1"}, 3])], "items:not-object", "/0/items/1", 0),
        ([event(user={"age": 30})], "user:not-object", "/0/user/age", 0),
        ([event(user={"age": {"set_timestamp": 1}})], "user:missing-value", "/0/user/age", 0),
        ([event(user={"age": {"value": 1, "set_timestamp": "now"}})], "user:bad-set-timestamp",
         "/0/user/age/set_timestamp", 0),
        ([event(attributes=[1])], "type:attributes", "/0/attributes", 0),
    ],
)
def test_errors_name_rule_and_pointer(body: object, rule: str, pointer: str, event_index: int | None) -> None:
    finding = only(cs.validate_body(body))
    assert (finding.kind, finding.rule, finding.pointer, finding.event) == ("error", rule, pointer, event_index)


@pytest.mark.parametrize(
    ("changes", "rule", "pointer"),
    [
        ({"attributes": {"1Price": 1}}, "name:pattern", "/0/attributes/1Price"),
        ({"attributes": {"a/b~c": 1}}, "name:pattern", "/0/attributes/a~1b~0c"),
        ({"attributes": {"p" * 51: 1}}, "name:length>50", "/0/attributes/" + "p" * 51),
        ({"attributes": {"Price": "x" * 1025}}, "value:length>1024", "/0/attributes/Price"),
        ({"attributes": {"Price": "😀" * 513}}, "value:length>1024", "/0/attributes/Price"),  # UTF-16 units
        ({"attributes": {"Price": None}}, "value:not-scalar", "/0/attributes/Price"),
        ({"attributes": {f"a{i}": i for i in range(501)}}, "attributes:count>500", "/0/attributes"),
        ({"user": {f"u{i}": {"value": i} for i in range(101)}}, "user:count>100", "/0/user"),
        ({"user": {"city": {"value": "x" * 257}}}, "user:value-length>256", "/0/user/city/value"),
        ({"items": [{"id": str(i)} for i in range(101)]}, "items:count>100", "/0/items"),
        ({"items": [{f"k{i}": i for i in range(11)}]}, "items:custom-keys>10", "/0/items/0"),
        ({"items": [{"name": "n" * 257}]}, "items:value-length>256", "/0/items/0/name"),
    ],
)
def test_deviations_name_rule_and_pointer(changes: dict, rule: str, pointer: str) -> None:
    finding = only(cs.validate_body([event(**changes)]))
    assert (finding.kind, finding.rule, finding.pointer, finding.event) == ("deviation", rule, pointer, 0)


def test_empty_array_is_a_deviation() -> None:
    finding = only(cs.validate_body([]))
    assert (finding.kind, finding.rule, finding.event) == ("deviation", "body:empty-array", None)


def test_ten_custom_item_keys_besides_presets_are_fine() -> None:
    item = {"id": "1", "name": "n", "price": 1, "quantity": 2, "category5": "c", **{f"k{i}": i for i in range(10)}}
    assert cs.validate_body([event(items=[item])]) == []


@pytest.mark.parametrize(
    ("body", "compression", "rule"),
    [
        (b"[{", None, "body:malformed-json"),
        (b'[{"x":NaN}]', None, "body:malformed-json"),
        (b'["\xff"]', None, "body:invalid-utf8"),
        (b"[]", "gzip", "body:bad-base64"),
        (b"W10=", "gzip", "body:bad-gzip"),
    ],
)
def test_undecodable_bodies_give_one_error(body: bytes, compression: str | None, rule: str) -> None:
    finding = only(validate_bytes(body, compression))
    assert (finding.kind, finding.rule, finding.event) == ("error", rule, None)


def test_base64_gzip_body_is_decoded_before_validation() -> None:
    sent = cs.encode([event(timestamp="soon")], "base64-gzip")
    assert only(validate_bytes(sent.body, "gzip")).rule == "type:timestamp"
    assert validate_bytes(cs.encode([event()], "base64-gzip").body, "gzip") == []


# --- the captured fixtures ------------------------------------------------------


@pytest.mark.parametrize("name", fixtures.SOURCES)
def test_fixture_bodies_have_no_errors(name: str) -> None:
    report = cs.validate_file(fixture(name))
    assert report.problem is None
    assert report.bodies > 0
    assert [f for f in report.findings if f.finding.kind == "error"] == []


def test_websdk_event_with_509_attributes_is_a_deviation() -> None:
    report = cs.validate_file(fixture("websdk"))
    assert {f.finding.rule for f in report.findings} == {"attributes:count>500"}
    assert report.exit_code == 0
    assert cs.validate_file(fixture("websdk"), strict=True).exit_code == 1


# --- the validate command -------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_exits_0_on_a_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(fixture("datagen"))]) == 0
    out = capsys.readouterr().out
    assert "0 error(s)" in out


def test_cli_exits_1_and_prints_the_pointer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = write(tmp_path, "body.json", json.dumps([event(), event(attributes=[]), event(timestamp="x")]))
    assert main([body]) == 1
    out = capsys.readouterr().out
    assert f"{body} event 1 /1/attributes: error type:attributes:" in out
    assert f"{body} event 2 /2/timestamp: error type:timestamp:" in out


def test_cli_names_the_line_of_a_captured_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = {"method": "POST", "raw_path": "/collect?appId=a", "body": json.dumps([event()])}
    get = {"method": "GET", "raw_path": "/collect?appId=a"}
    bad = {"method": "POST", "raw_path": "/collect?appId=a&compression=gzip", "body": "not base64!"}
    captures = write(tmp_path, "captures.jsonl", "\n".join(json.dumps(c) for c in (good, get, bad)) + "\n")
    assert main([captures]) == 1
    assert f"{captures}:3 body (root): error body:bad-base64:" in capsys.readouterr().out


def test_cli_strict_counts_deviations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = write(tmp_path, "body.json", json.dumps([event(attributes={"1bad": 1})]))
    assert main([body]) == 0
    assert main([body, "--strict"]) == 1
    assert "deviation name:pattern" in capsys.readouterr().out


def test_cli_missing_file_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.json")
    assert main([missing]) == 2
    captured = capsys.readouterr()
    assert missing in captured.err and "Traceback" not in captured.err + captured.out


def test_cli_bad_json_line_exits_2_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = json.dumps({"method": "POST", "raw_path": "/collect?appId=a", "body": "[]"})
    captures = write(tmp_path, "captures.jsonl", f"{good}\n{good}\n{{not json\n")
    assert main([captures]) == 2
    assert f"{captures}:3:" in capsys.readouterr().err


def test_cli_unreadable_json_body_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = write(tmp_path, "body.json", '[\n  {"event_type": "x",\n  oops\n]')
    assert main([body]) == 2
    assert f"{body}:3:" in capsys.readouterr().err


def test_cli_as_a_process_has_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "conformance.strategies.validate", str(tmp_path / "absent.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "absent.json" in done.stderr and "Traceback" not in done.stderr
