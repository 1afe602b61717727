"""Check request bodies against the API document and the SDK limits.

:func:`validate_body` returns :class:`Finding` objects of two kinds:

* ``"error"``: the body is malformed by the document: not an array, an event that is not
  an object, a required field missing, a documented field of the wrong type, an item that
  is not an object, a user attribute that is not an object or has no ``value``. These come
  from the shipped JSON Schema (:func:`strategies.body_schema`).
* ``"deviation"``: the body is well formed but breaks a client-side limit or the naming
  rule (counts, name pattern and length, value lengths, non-scalar values, an empty
  array). Real SDKs can send some of these (more than 500 attributes happen), so a
  collector must not treat them as malformed.

Also the ``clickstream-conformance validate FILE... [--strict]`` command:
:func:`add_arguments`, :func:`run` and :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TextIO
from urllib.parse import parse_qs, urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .encoding import DEFAULT_MAX_DECODED_BYTES, BodyDecodeError, decode_body
from .rules import (
    ITEM_PRESET_KEYS,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    MAX_CUSTOM_ATTRIBUTES,
    MAX_CUSTOM_ITEM_KEYS,
    MAX_ITEM_VALUE_LENGTH,
    MAX_ITEMS,
    MAX_NAME_LENGTH,
    MAX_USER_ATTRIBUTES,
    MAX_USER_VALUE_LENGTH,
    NAME_REGEX,
    body_schema,
    is_scalar,
    utf16_length,
)

ERROR = "error"
DEVIATION = "deviation"


@dataclass(frozen=True)
class Finding:
    """One problem in a body.

    ``kind`` is "error" or "deviation"; ``event`` the index of the event in the array (None
    for the body as a whole); ``pointer`` a JSON Pointer (RFC 6901) to the offending value,
    e.g. ``/3/attributes/Price`` ("" is the whole body); ``rule`` a stable rule name from
    :data:`strategies.RULES`; ``message`` a sentence for people.
    """

    kind: str
    event: int | None
    pointer: str
    rule: str
    message: str


def json_pointer(path: Iterable[Any]) -> str:
    """RFC 6901 pointer for a sequence of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _finding(kind: str, path: Sequence[Any], rule: str, message: str) -> Finding:
    event = path[0] if path and isinstance(path[0], int) else None
    return Finding(kind, event, json_pointer(path), rule, message)


# ---------------------------------------------------------------------------
# Errors, from the JSON Schema.


@lru_cache(maxsize=1)
def _schema_validator() -> Draft202012Validator:
    schema = body_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _missing_property(error: ValidationError) -> str:
    # jsonschema reports one error per missing property; its message starts with the name.
    for name in error.validator_value:
        if name not in error.instance and error.message.startswith(repr(name)):
            return name
    return next(name for name in error.validator_value if name not in error.instance)


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _error_finding(error: ValidationError) -> Finding:
    """Name the rule a schema error breaks, from where it is and which keyword failed."""
    path = list(error.absolute_path)
    got = _describe(error.instance)
    if not path:
        return _finding(ERROR, path, "body:not-array", f"the body must be a JSON array of events, got {got}")
    if len(path) == 1:
        if error.validator == "required":
            name = _missing_property(error)
            return _finding(ERROR, [*path, name], f"missing:{name}", f"required field {name} is missing")
        return _finding(ERROR, path, "event:not-object", f"an event must be a JSON object, got {got}")
    field_name = path[1]
    if len(path) == 2:
        return _finding(ERROR, path, f"type:{field_name}", f"{field_name} has the wrong type or range: {got}")
    if field_name == "items":
        return _finding(ERROR, path, "items:not-object", f"an item must be a JSON object, got {got}")
    if field_name == "user" and len(path) == 3:
        if error.validator == "required":
            return _finding(ERROR, path, "user:missing-value", "a user attribute must have a value")
        return _finding(ERROR, path, "user:not-object", f"a user attribute must be an object with a value, got {got}")
    if field_name == "user" and path[3:] == ["set_timestamp"]:
        return _finding(ERROR, path, "user:bad-set-timestamp", f"set_timestamp must be integer milliseconds, got {got}")
    return _finding(ERROR, path, f"schema:{error.validator}", error.message)  # the schema grew; name it plainly


def schema_errors(value: Any) -> list[Finding]:
    """The errors of a decoded body, as the shipped JSON Schema sees them."""
    return [_error_finding(error) for error in _schema_validator().iter_errors(value)]


# ---------------------------------------------------------------------------
# Deviations: limits and the naming rule, checked only where the shape is right.


def _name_deviations(path: list[Any], name: str) -> Iterator[Finding]:
    if not NAME_REGEX.match(name):
        yield _finding(DEVIATION, path, "name:pattern", f"name {name!r} does not match ^(?![0-9])[0-9a-zA-Z_]+$")
    elif len(name) > MAX_NAME_LENGTH:
        yield _finding(DEVIATION, path, f"name:length>{MAX_NAME_LENGTH}", f"name has {len(name)} characters")


def _value_deviations(path: list[Any], value: Any, max_units: int, length_rule: str) -> Iterator[Finding]:
    if not is_scalar(value):
        yield _finding(DEVIATION, path, "value:not-scalar", f"value should be a string, number or boolean, got {_describe(value)}")
    elif isinstance(value, str) and utf16_length(value) > max_units:
        yield _finding(DEVIATION, path, length_rule, f"value has {utf16_length(value)} characters, more than {max_units}")


def _count_deviation(path: list[Any], container: Any, limit: int, what: str) -> Iterator[Finding]:
    if len(container) > limit:
        yield _finding(DEVIATION, path, f"{path[-1]}:count>{limit}", f"{len(container)} {what}, more than {limit}")


def _item_deviations(path: list[Any], item: dict[str, Any]) -> Iterator[Finding]:
    custom = [key for key in item if key not in ITEM_PRESET_KEYS]
    if len(custom) > MAX_CUSTOM_ITEM_KEYS:
        yield _finding(DEVIATION, path, f"items:custom-keys>{MAX_CUSTOM_ITEM_KEYS}", f"{len(custom)} custom item keys")
    for key, value in item.items():
        yield from _value_deviations([*path, key], value, MAX_ITEM_VALUE_LENGTH, f"items:value-length>{MAX_ITEM_VALUE_LENGTH}")


def _items_deviations(path: list[Any], items: Any) -> Iterator[Finding]:
    if not isinstance(items, list):
        return
    yield from _count_deviation(path, items, MAX_ITEMS, "items")
    for index, item in enumerate(items):
        if isinstance(item, dict):
            yield from _item_deviations([*path, index], item)


def _named_values_deviations(path: list[Any], named: Any, max_count: int, what: str, max_length: int,
                             rule: str, value_key: str | None = None) -> Iterator[Finding]:
    """A map of named values (custom attributes; user attributes, whose value sits under
    ``value_key``): its size, each name, each value's length."""
    if not isinstance(named, dict):
        return
    yield from _count_deviation(path, named, max_count, what)
    for name, entry in named.items():
        yield from _name_deviations([*path, name], name)
        if value_key is None:
            yield from _value_deviations([*path, name], entry, max_length, rule)
        elif isinstance(entry, dict) and value_key in entry:
            yield from _value_deviations([*path, name, value_key], entry[value_key], max_length, rule)


def _user_deviations(path: list[Any], user: Any) -> Iterator[Finding]:
    return _named_values_deviations(path, user, MAX_USER_ATTRIBUTES, "user attributes", MAX_USER_VALUE_LENGTH,
                                    f"user:value-length>{MAX_USER_VALUE_LENGTH}", value_key="value")


def _attributes_deviations(path: list[Any], attributes: Any) -> Iterator[Finding]:
    return _named_values_deviations(path, attributes, MAX_CUSTOM_ATTRIBUTES, "custom attributes",
                                    MAX_ATTRIBUTE_VALUE_LENGTH, f"value:length>{MAX_ATTRIBUTE_VALUE_LENGTH}")


def limit_deviations(value: Any) -> list[Finding]:
    """The deviations of a decoded body from the SDK limits and the naming rule."""
    if not isinstance(value, list):
        return []
    if not value:
        return [_finding(DEVIATION, [], "body:empty-array", "the body is an empty array: no events")]
    findings: list[Finding] = []
    for index, event in enumerate(value):
        if isinstance(event, dict):
            findings += _items_deviations([index, "items"], event.get("items"))
            findings += _user_deviations([index, "user"], event.get("user"))
            findings += _attributes_deviations([index, "attributes"], event.get("attributes"))
    return findings


def _order(finding: Finding) -> tuple[int, str, str]:
    return (-1 if finding.event is None else finding.event, finding.pointer, finding.rule)


def validate_body(value: Any) -> list[Finding]:
    """All errors and deviations of a decoded body (a JSON value), by event then pointer."""
    return sorted(schema_errors(value) + limit_deviations(value), key=_order)


def validate_bytes(
    body: bytes, compression: str | None = None, *, max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES
) -> list[Finding]:
    """Like :func:`validate_body` for a body as sent; a body that cannot be decoded gives one error."""
    try:
        value = decode_body(body, compression, max_decoded_bytes=max_decoded_bytes)
    except BodyDecodeError as exc:
        return [Finding(ERROR, None, "", exc.rule, str(exc))]
    return validate_body(value)


# ---------------------------------------------------------------------------
# Files: a JSON body, or JSON lines of captured requests.


class UsageProblem(Exception):
    """A file that cannot be validated at all (missing, unreadable, a bad line)."""


@dataclass
class LocatedFinding:
    """A finding with the line of the captured request it came from (None: whole file)."""

    line: int | None
    finding: Finding


@dataclass
class FileReport:
    """What :func:`validate_file` found in one file."""

    path: str
    strict: bool = False
    findings: list[LocatedFinding] = field(default_factory=list)
    problem: str | None = None
    bodies: int = 0
    skipped: int = 0

    @property
    def errors(self) -> int:
        """Errors, counting deviations too when strict."""
        return sum(1 for f in self.findings if f.finding.kind == ERROR or self.strict)

    @property
    def deviations(self) -> int:
        return sum(1 for f in self.findings if f.finding.kind == DEVIATION)

    @property
    def exit_code(self) -> int:
        """0: no errors; 1: errors (or deviations when strict); 2: the file could not be read."""
        if self.problem:
            return 2
        return 1 if self.errors else 0

    def lines(self) -> list[str]:
        """One line per finding: ``FILE[:LINE] event N POINTER: kind rule: message``."""
        return [format_finding(self.path, located.line, located.finding) for located in self.findings]


def format_finding(path: str, line: int | None, finding: Finding) -> str:
    """``FILE[:LINE] event N POINTER: kind rule: message`` (``body`` instead of an event)."""
    where = path if line is None else f"{path}:{line}"
    who = "body" if finding.event is None else f"event {finding.event}"
    return f"{where} {who} {finding.pointer or '(root)'}: {finding.kind} {finding.rule}: {finding.message}"


def _is_capture(value: Any) -> bool:
    return isinstance(value, dict) and "body" in value and ("method" in value or "raw_path" in value)


def _compression_of(raw_path: Any) -> str | None:
    if not isinstance(raw_path, str):
        return None
    values = parse_qs(urlsplit(raw_path).query, keep_blank_values=True).get("compression")
    return values[-1] if values else None


def _capture_findings(capture: dict[str, Any], line: int, report: FileReport) -> None:
    if str(capture.get("method", "POST")).upper() != "POST":
        report.skipped += 1
        return
    body = capture.get("body")
    if not isinstance(body, str):
        raise UsageProblem(f"{report.path}:{line}: a POST needs a 'body' string, got {_describe(body)}")
    report.bodies += 1
    for finding in validate_bytes(body.encode("utf-8", "surrogatepass"), _compression_of(capture.get("raw_path"))):
        report.findings.append(LocatedFinding(line, finding))


def _parse_line(path: str, number: int, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageProblem(f"{path}:{number}: not a JSON line: {exc}") from None
    if not (isinstance(value, dict) and ("method" in value or "body" in value)):
        raise UsageProblem(f"{path}:{number}: not a captured request (an object with 'method' and 'body')")
    return value


def _validate_lines(text: str, report: FileReport) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            _capture_findings(_parse_line(report.path, number, line), number, report)


def _read_text(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageProblem(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageProblem(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _validate_text(text: str, report: FileReport) -> None:
    try:
        whole = json.loads(text)
    except ValueError as whole_error:
        first = text.lstrip().split("\n", 1)[0]
        if first.startswith("{") and "\n" in text.strip():
            _validate_lines(text, report)  # JSON lines
            return
        line = getattr(whole_error, "lineno", None)
        where = f"{report.path}:{line}" if line else report.path
        raise UsageProblem(f"{where}: not valid JSON: {whole_error}") from None
    if _is_capture(whole):
        _capture_findings(whole, 1, report)
    else:
        report.bodies += 1
        report.findings += [LocatedFinding(None, finding) for finding in validate_body(whole)]


def validate_file(path: str | Path, strict: bool = False) -> FileReport:
    """Validate FILE: either a whole JSON body, or JSON lines of captured requests.

    Captured requests are objects with ``method``, ``raw_path`` and ``body`` (the exact
    text sent); a body is base64(gzip(JSON)) when ``raw_path`` has ``compression=gzip``.
    Lines whose method is not POST are skipped. A file that cannot be read gives a
    report whose ``problem`` names the file and line; no exception escapes.
    """
    report = FileReport(path=str(path), strict=strict)
    try:
        _validate_text(_read_text(report.path), report)
    except UsageProblem as exc:
        report.problem = str(exc)
    return report


# ---------------------------------------------------------------------------
# Command line.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``validate`` command's arguments: FILE... and --strict."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="a JSON body, or JSON lines of captured requests")
    parser.add_argument("--strict", action="store_true", help="count deviations from the SDK limits as errors")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Validate ``args.files``, print findings and a summary; return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    reports = [validate_file(path, strict=args.strict) for path in args.files]
    for report in reports:
        for line in report.lines():
            print(line, file=out)
        if report.problem:
            print(f"clickstream-conformance validate: {report.problem}", file=err)
    print(_summary(reports, args.strict), file=out)
    return max(report.exit_code for report in reports)


def _summary(reports: list[FileReport], strict: bool) -> str:
    errors = sum(1 for r in reports for f in r.findings if f.finding.kind == ERROR)
    deviations = sum(r.deviations for r in reports)
    unreadable = sum(1 for r in reports if r.problem)
    text = (
        f"{len(reports)} file(s), {sum(r.bodies for r in reports)} body(ies): "
        f"{errors} error(s), {deviations} deviation(s)"
    )
    if unreadable:
        text += f", {unreadable} unreadable file(s)"
    if strict and deviations:
        text += " (strict: deviations count as errors)"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m conformance.strategies.validate FILE... [--strict]``."""
    parser = argparse.ArgumentParser(prog="clickstream-conformance validate", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage message
        return int(exc.code or 0)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
