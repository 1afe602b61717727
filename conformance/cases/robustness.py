"""Robustness against hostile input (verdicts: MUST 9), and what the collector does
with bodies the document does not allow (INFO; MUST 4xx under --profile strict).

Every case here ends with the canary: a known-good request that must still get 200,
so that a crash is pinned to the input that caused it.
"""
from __future__ import annotations

import base64
import gzip

import pytest

from conformance.checks import expect_no_server_error, expect_status, status_class
from conformance.failures import AcceptedInvalidData
from conformance.target import Target

DEPTH = 10_000

MALFORMED_BODIES = {
    "malformed-json": b'[{"event_type": "x", "event_id": ',
    "not-json": b"hello collector",
    "empty-body": b"",
    "json-object": b'{"event_type":"x","event_id":"1","timestamp":1,"app_id":"a"}',
    "json-string": b'"just a string"',
    "json-number": b"42",
    "json-null": b"null",
    "empty-array": b"[]",
    "array-of-scalars": b"[1, 2, 3]",
    "array-of-arrays": b"[[], [[]]]",
    "invalid-utf8": b'[{"event_type":"\xff\xfe\xc3\x28","event_id":"1","timestamp":1,"app_id":"a"}]',
    "lone-surrogate-escape": b'[{"event_type":"\\ud800","event_id":"1","timestamp":1,"app_id":"a"}]',
    "deep-nesting": b"[" * DEPTH + b"]" * DEPTH,
    "deep-object-nesting": b'[{"a":' * (DEPTH // 2) + b"1" + b"}]" * (DEPTH // 2),
    "huge-integer": b'[{"event_type":"x","event_id":"1","timestamp":' + b"9" * 5000 + b',"app_id":"a"}]',
    "huge-float": b'[{"event_type":"x","event_id":"1","timestamp":1e400,"app_id":"a"}]',
    "nan": b'[{"event_type":"x","event_id":"1","timestamp":NaN,"app_id":"a"}]',
    "infinity": b'[{"event_type":"x","event_id":"1","timestamp":-Infinity,"app_id":"a"}]',
    "nul-bytes": b"[\x00\x00\x00]",
    "bom-prefixed": b"\xef\xbb\xbf[]",
}

# Well-formed JSON arrays of events whose only oddity is a lone surrogate escape:
# JSON's grammar allows it, so even a validating collector may accept it.
SYNTACTICALLY_VALID = {"lone-surrogate-escape"}


@pytest.mark.requirement("CS-ROBUST", "CS-VALIDATES-BODY", "CS-STRICT-BODY-4XX")
@pytest.mark.parametrize("label", list(MALFORMED_BODIES))
def test_malformed_body_is_survived(target: Target, label: str) -> None:
    """A body that is not a non-empty array of events: never a 5xx; 4xx demanded only in strict."""
    ex = target.post(MALFORMED_BODIES[label])
    expect_no_server_error(ex)
    verdict = "refused" if ex.status and 400 <= ex.status < 500 else "accepted (pass-through)"
    target.observe(f"{label}: {status_class(ex)}, {verdict}",
                   key="validates bodies at ingestion" if label == "malformed-json" else None,
                   value=("yes" if verdict == "refused" else "no: pass-through") + f" ({status_class(ex)})")
    target.expect_alive(after=f"malformed body {label}")
    if target.active("CS-STRICT-BODY-4XX") and label not in SYNTACTICALLY_VALID:
        expect_status(ex, range(400, 500), "CS-STRICT-BODY-4XX", AcceptedInvalidData)


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


CORRUPT_COMPRESSED = {
    "not-base64": b"%%%% this is not base64 ####",
    "base64-of-garbage": _b64(b"this is not gzip at all"),
    "truncated-gzip": _b64(gzip.compress(b'[{"event_type":"x"}]' * 50)[:40]),
    "gzip-bad-crc": _b64(gzip.compress(b"[]")[:-8] + b"\x00" * 8),
    "gzip-of-garbage": _b64(gzip.compress(b"\xff\xfe not json")),
    "base64-with-newlines": base64.encodebytes(gzip.compress(b"[1]" * 3000)),
}


@pytest.mark.requirement("CS-ROBUST", "CS-VALIDATES-BODY", "CS-STRICT-BODY-4XX")
@pytest.mark.parametrize("label", list(CORRUPT_COMPRESSED))
def test_corrupt_compressed_body_is_survived(target: Target, label: str) -> None:
    """compression=gzip with a body that does not decode to a batch: never a 5xx."""
    ex = target.post(CORRUPT_COMPRESSED[label], compression="gzip")
    expect_no_server_error(ex)
    target.observe(f"compression=gzip with {label}: {status_class(ex)}")
    target.expect_alive(after=f"corrupt compressed body {label}")
    if target.active("CS-STRICT-BODY-4XX") and label != "base64-with-newlines":
        expect_status(ex, range(400, 500), "CS-STRICT-BODY-4XX", AcceptedInvalidData)


METHODS = ["GET", "PUT", "DELETE", "PATCH", "HEAD", "TRACE", "PROPFIND", "BREW"]


@pytest.mark.requirement("CS-ROBUST", "CS-METHOD-PATH")
@pytest.mark.parametrize("method", METHODS)
def test_other_methods_are_survived(target: Target, method: str) -> None:
    """Methods other than POST and OPTIONS: any answer but a 5xx (501 Not Implemented allowed)."""
    body = b"" if method in ("GET", "HEAD", "TRACE") else target.good_body()
    ex = target.send(method, target.query(), body)
    expect_no_server_error(ex)
    target.observe(f"{method} /collect: {status_class(ex)}",
                   key="other methods" if method == "GET" else None, value=f"GET answered {status_class(ex)}")
    target.expect_alive(after=f"method {method}")


def _other_paths(target: Target) -> dict[str, str]:
    base = target.client.endpoint_path.rstrip("/") or "/collect"
    return {
        "sub-path": base + "/x",
        "upper-case": base.upper(),
        "root": "/",
        "dot-segments": base + "/../" + base.rsplit("/", 1)[-1],
        "long-path": base + "/" + "a" * 8000,
        "encoded": base + "%00%ff",
    }


@pytest.mark.requirement("CS-ROBUST", "CS-METHOD-PATH")
@pytest.mark.parametrize("label", ["sub-path", "upper-case", "root", "dot-segments", "long-path", "encoded"])
def test_other_paths_are_survived(target: Target, label: str) -> None:
    """POSTs to paths other than the endpoint: any answer but a 5xx."""
    path = _other_paths(target)[label]
    ex = target.send("POST", target.query(), target.good_body(), path=path)
    expect_no_server_error(ex)
    target.observe(f"POST {label} path: {status_class(ex)}",
                   key="other paths" if label == "sub-path" else None, value=f"{status_class(ex)}")
    target.expect_alive(after=f"path {label}")


@pytest.mark.requirement("CS-ROBUST", "CS-METHOD-PATH")
@pytest.mark.parametrize("label", ["upper", "lower"])
def test_app_id_in_other_letter_case(target: Target, label: str) -> None:
    """The registered appId in another letter case: observed (the deployed server's rule
    matches case-insensitively), never a 5xx."""
    app = target.app_id.upper() if label == "upper" else target.app_id.lower()
    if app == target.app_id:
        app = target.app_id.swapcase()
    ex = target.post(target.good_body(), query=target.query(app_id=app))
    expect_no_server_error(ex)
    target.observe(f"appId {app!r}: {status_class(ex)}", key="appId letter case",
                   value="case-insensitive" if ex.status == 200 else f"exact ({status_class(ex)})")
    target.expect_alive(after=f"appId {app!r}")


@pytest.mark.requirement("CS-ROBUST")
@pytest.mark.parametrize("label", ["bad-percent", "repeated-appId", "huge-query", "huge-header"])
def test_odd_request_lines_are_survived(target: Target, label: str) -> None:
    """Broken percent-encoding, a repeated appId, an 8 KB query, a 16 KB header."""
    query, headers = target.query(), target.headers()
    if label == "bad-percent":
        query += "&platform=%zz%E0%A4"
    elif label == "repeated-appId":
        query += "&appId=other_app"
    elif label == "huge-query":
        query += "&pad=" + "x" * 8000
    else:
        headers = target.headers(extra=[("X-Padding", "y" * 16000)])
    ex = target.post(target.good_body(), query=query, headers=headers)
    expect_no_server_error(ex)
    target.observe(f"{label}: {status_class(ex)}")
    target.expect_alive(after=label)


CONTENT_TYPES = {
    "no-charset": "application/json",
    "text-plain": "text/plain",
    "form": "application/x-www-form-urlencoded",
    "none": None,
    "upper-case": "APPLICATION/JSON; CHARSET=UTF-8",
}


@pytest.mark.requirement("CS-ROBUST", "CS-CONTENT-TYPE")
@pytest.mark.parametrize("label", list(CONTENT_TYPES))
def test_other_content_types(target: Target, label: str) -> None:
    """Other Content-Type values with a valid body: observed, never a 5xx."""
    ex = target.post(target.good_body(), headers=target.headers(content_type=CONTENT_TYPES[label]))
    expect_no_server_error(ex)
    target.observe(f"Content-Type {label}: {status_class(ex)}",
                   key="Content-Type without charset" if label == "no-charset" else
                   ("no Content-Type" if label == "none" else None),
                   value=status_class(ex))
    target.expect_alive(after=f"Content-Type {label}")
