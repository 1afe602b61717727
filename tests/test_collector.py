"""The reference collector over real HTTP (RunningCollector on a free port)."""
from __future__ import annotations

import argparse
import base64
import gzip
import json
import resource
import time
import zlib

import pytest
import requests

from conformance.collector import CollectorConfig, RunningCollector
from conformance.collector.serve import add_serve_arguments, run_serve
from conformance.collector.store import CollectorStore

try:
    from . import collector_helpers as h
except ImportError:
    import collector_helpers as h

ORIGIN = "https://shop.example.com"
MAX_BODY = 1_048_576


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    db = tmp_path_factory.mktemp("collector") / "collector.sqlite3"
    config = CollectorConfig(app_ids=(h.APP_ID, "other_app"), allow_origins=(ORIGIN,),
                             db_path=str(db))
    with RunningCollector(config) as running:
        yield running


@pytest.fixture(scope="module")
def store(collector):
    with CollectorStore(collector.config.db_path) as reader:
        yield reader


@pytest.fixture(scope="module")
def session():
    with requests.Session() as s:
        yield s


def post(session, collector, body: bytes, query: str = f"appId={h.APP_ID}",
         headers: dict | None = None) -> requests.Response:
    all_headers = {"Content-Type": h.JSON_UTF8, **(headers or {})}
    return session.post(f"{collector.url}?{query}", data=body, headers=all_headers, timeout=15)


def preflight(collector: RunningCollector, origin: str, request_headers: str | None = None) -> tuple[int, dict]:
    """A browser's CORS preflight for a POST to /collect: (status, headers)."""
    asked = {"Access-Control-Request-Headers": request_headers} if request_headers else {}
    status, headers, _ = h.http_request(collector.url, "OPTIONS", "/collect", None, {
        "Origin": origin, "Access-Control-Request-Method": "POST", **asked})
    return status, headers


def assert_alive(session, collector) -> None:
    """After a hostile request, a known-good one must still get 200."""
    assert post(session, collector, h.as_body([h.make_event()])).status_code == 200


# --- accepting valid batches -------------------------------------------------

def test_valid_batch_gets_200_with_empty_body_and_is_stored(session, collector, store):
    events = [h.make_event(), h.make_event(event_type="item_view", locale="zh_CN",
                                           attributes={"名前": "靴 👟"})]
    body = h.as_body(events)
    response = post(session, collector, body,
                    query=f"appId={h.APP_ID}&platform=Web&event_bundle_sequence_id=7",
                    headers={"X-Forwarded-For": "101.188.67.134, 10.0.0.1",
                             "User-Agent": "test-agent/1.0"})
    assert response.status_code == 200
    assert response.content == b""
    request_id = store.last_request_id()
    row = store.get_request(request_id)
    assert row["body"] == body and row["event_count"] == 2
    assert (row["app_id"], row["platform"], row["event_bundle_sequence_id"]) == (
        h.APP_ID, "Web", "7")
    assert row["client_ip"] == "101.188.67.134"
    assert row["query"] == f"appId={h.APP_ID}&platform=Web&event_bundle_sequence_id=7"
    assert row["path"] == "/collect" and row["method"] == "POST"
    assert row["user_agent"] == "test-agent/1.0"
    assert store.events_for(request_id) == events
    assert events[1]["event_id"] in store.all_event_ids()


def test_second_registered_app_and_foreign_event_app_id_are_accepted(session, collector):
    body = h.as_body([h.make_event(app_id="someone_else")])
    assert post(session, collector, body, query="appId=other_app").status_code == 200


def test_duplicate_request_is_accepted_and_stored_twice(session, collector, store):
    event = h.make_event()
    body = h.as_body([event, event])  # a repeated event_id inside one batch, too
    before = store.count_requests()
    for _ in range(2):
        assert post(session, collector, body).status_code == 200
    assert store.count_requests() == before + 2
    assert store.all_event_ids().count(event["event_id"]) == 4


@pytest.mark.parametrize("query", [
    "appId=shop_dev&platform=Android&event_bundle_sequence_id=99",
    "platform=MiniProgram&appId=shop_dev&event_bundle_sequence_id=3&upload_timestamp=1795693001262",
    "appId=shop_dev&compression=",
    "platform=Android&appId=shop_dev&compression=&fakeIp=104.102.1.208&event_bundle_sequence_id=1",
])
def test_optional_query_parameters_never_cause_rejection(session, collector, query):
    assert post(session, collector, h.as_body([h.make_event()]), query=query).status_code == 200


@pytest.mark.parametrize("content_type", [
    "application/json", "text/plain", "application/x-www-form-urlencoded", None])
def test_any_content_type_is_accepted(collector, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, _ = h.http_request(collector.url, "POST", f"/collect?appId={h.APP_ID}",
                                  h.as_body([h.make_event()]), headers)
    assert status == 200


def test_events_at_documented_limits_are_accepted(session, collector):
    name = "a" * 50
    event = h.make_event(
        event_type=name,
        items=[{"id": str(i), "name": "v" * 256} for i in range(100)],
        user={f"u{i}": {"value": "v" * 256, "set_timestamp": 1} for i in range(100)},
        attributes={f"attr_{i}": "v" * 1024 for i in range(500)})
    event["attributes"][name] = "x"  # 501 with the long name: still a real SDK's shape
    assert post(session, collector, h.as_body([event])).status_code == 200


def test_sdk_error_attributes_past_500_and_unknown_fields_are_accepted(session, collector):
    attributes = {f"attr_{i}": i for i in range(507)}
    attributes.update(_error_code=2004, _error_message="too many attributes")
    event = h.make_event(attributes=attributes, host_name="127.0.0.1", items=[])
    assert post(session, collector, h.as_body([event])).status_code == 200


# --- access: appId and auth cookie -------------------------------------------

@pytest.mark.parametrize("query", ["appId=unknown", "appId=", "", "platform=Web",
                                   "appId=SHOP_DEV", "appid=shop_dev"])
def test_unregistered_missing_or_empty_app_id_gets_403(session, collector, query):
    assert post(session, collector, h.as_body([h.make_event()]), query=query).status_code == 403


def test_bad_app_id_is_refused_whatever_the_body(session, collector):
    assert post(session, collector, b"not json", query="appId=nope").status_code == 403


@pytest.fixture(scope="module")
def auth_collector(tmp_path_factory):
    db = tmp_path_factory.mktemp("auth") / "collector.sqlite3"
    config = CollectorConfig(auth_cookie=("session", "s3cret"), allow_origins=(ORIGIN,),
                             db_path=str(db))
    with RunningCollector(config) as running:
        yield running


@pytest.mark.parametrize("cookie, expected", [
    (None, 403), ("session=wrong", 403), ("other=s3cret", 403), ("session=s3cret", 200),
    ("a=1; session=s3cret", 200)])
def test_auth_cookie(auth_collector, cookie, expected):
    headers = {"Content-Type": h.JSON_UTF8, **({"Cookie": cookie} if cookie else {})}
    status, _, _ = h.http_request(auth_collector.url, "POST", f"/collect?appId={h.APP_ID}",
                                  h.as_body([h.make_event()]), headers)
    assert status == expected


def test_app_id_is_checked_before_the_cookie(auth_collector):
    status, _, _ = h.http_request(auth_collector.url, "POST", "/collect?appId=nope",
                                  h.as_body([h.make_event()]), {"Cookie": "session=s3cret"})
    assert status == 403


def test_preflight_needs_no_cookie(auth_collector):
    status, headers = preflight(auth_collector, ORIGIN, "content-type")
    assert status == 204
    assert headers["access-control-allow-origin"] == ORIGIN


# --- size limit ----------------------------------------------------------------

def padded_body(size: int) -> bytes:
    """A valid batch padded with trailing whitespace to exactly size bytes."""
    body = h.as_body([h.make_event()])
    return body + b" " * (size - len(body))


def test_body_of_exactly_the_limit_is_accepted(session, collector):
    assert post(session, collector, padded_body(MAX_BODY)).status_code == 200


def test_body_one_byte_over_the_limit_gets_413(session, collector):
    response = post(session, collector, padded_body(MAX_BODY + 1))
    assert response.status_code == 413
    assert_alive(session, collector)


def test_oversized_body_is_answered_early_and_readably(collector):
    head = h.request_head("POST", f"/collect?appId={h.APP_ID}", [
        ("Content-Type", h.JSON_UTF8), ("Content-Length", str(2 * MAX_BODY))])
    with h.open_raw(collector.url) as sock:
        sock.sendall(head)
        # The answer comes before any of the body was sent ...
        assert h.status_code(h.read_status_line(sock)) == 413
        # ... and the client can still finish writing (the collector drains it).
        h.send_slowly(sock, b" " * (2 * MAX_BODY))


def test_oversized_body_sent_in_full_first_can_read_413(collector):
    head = h.request_head("POST", f"/collect?appId={h.APP_ID}", [
        ("Content-Type", h.JSON_UTF8), ("Content-Length", str(3 * MAX_BODY))])
    with h.open_raw(collector.url) as sock:
        sock.sendall(head)
        h.send_slowly(sock, b" " * (3 * MAX_BODY))
        assert h.status_code(h.read_status_line(sock)) == 413


def test_oversized_chunked_body_gets_413(collector):
    head = h.request_head("POST", f"/collect?appId={h.APP_ID}", [
        ("Content-Type", h.JSON_UTF8), ("Transfer-Encoding", "chunked")])
    chunk = b" " * 65536
    framed = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 17 + b"0\r\n\r\n"
    with h.open_raw(collector.url) as sock:
        sock.sendall(head)
        h.send_slowly(sock, framed)
        assert h.status_code(h.read_status_line(sock)) == 413


def test_small_chunked_body_is_accepted(session, collector):
    body = h.as_body([h.make_event()])
    response = session.post(f"{collector.url}?appId={h.APP_ID}", data=iter([body[:10], body[10:]]),
                            headers={"Content-Type": h.JSON_UTF8}, timeout=15)
    assert response.status_code == 200


def test_expect_continue_with_oversized_body_is_refused_without_continue(collector):
    head = h.request_head("POST", f"/collect?appId={h.APP_ID}", [
        ("Content-Type", h.JSON_UTF8), ("Content-Length", str(2 * MAX_BODY)),
        ("Expect", "100-continue")])
    with h.open_raw(collector.url) as sock:
        sock.sendall(head)
        assert h.status_code(h.read_status_line(sock)) == 413


def test_expect_continue_with_valid_body_gets_100_then_200(collector):
    body = h.as_body([h.make_event()])
    head = h.request_head("POST", f"/collect?appId={h.APP_ID}", [
        ("Content-Type", h.JSON_UTF8), ("Content-Length", str(len(body))),
        ("Expect", "100-continue")])
    with h.open_raw(collector.url) as sock:
        sock.sendall(head)
        assert h.status_code(h.read_status_line(sock)) == 100
        sock.sendall(body)
        assert h.status_code(h.read_status_line(sock)) == 200


# --- compression ---------------------------------------------------------------

def test_gzip_base64_body_is_decoded_and_stored(session, collector, store):
    events = [h.make_event() for _ in range(3)]
    response = post(session, collector, h.gzip_base64(h.as_body(events)),
                    query=f"platform=Android&appId={h.APP_ID}&compression=gzip")
    assert response.status_code == 200 and response.content == b""
    request_id = store.last_request_id()
    assert store.events_for(request_id) == events
    assert store.get_request(request_id)["compression"] == "gzip"


def test_wrapped_base64_is_accepted(session, collector):
    encoded = h.gzip_base64(h.as_body([h.make_event() for _ in range(20)]))
    wrapped = b"\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76)) + b"\n"
    assert post(session, collector, wrapped, query=f"appId={h.APP_ID}&compression=gzip"
                ).status_code == 200


def test_raw_gzip_bytes_are_accepted(session, collector):
    body = gzip.compress(h.as_body([h.make_event()]))
    assert post(session, collector, body, query=f"appId={h.APP_ID}&compression=gzip"
                ).status_code == 200


def test_content_encoding_gzip_is_decoded(session, collector, store):
    events = [h.make_event()]
    body = gzip.compress(h.as_body(events))
    response = post(session, collector, body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert store.events_for(store.last_request_id()) == events


@pytest.mark.parametrize("encoding, compress", [
    ("deflate", zlib.compress), ("deflate", lambda data: zlib.compress(data)[2:-4])])
def test_content_encoding_deflate_is_decoded(session, collector, encoding, compress):
    response = post(session, collector, compress(h.as_body([h.make_event()])),
                    headers={"Content-Encoding": encoding})
    assert response.status_code == 200


@pytest.mark.parametrize("encoding, status", [("gzip", 400), ("br", 415)])
def test_bad_content_encoding_is_refused(session, collector, encoding, status):
    response = post(session, collector, b"\x1f\x8bnot really gzip",
                    headers={"Content-Encoding": encoding})
    assert response.status_code == status


def test_unsupported_compression_name_gets_400(session, collector):
    response = post(session, collector, h.as_body([h.make_event()]),
                    query=f"appId={h.APP_ID}&compression=brotli")
    assert response.status_code == 400


@pytest.mark.parametrize("body", [
    b"this is not base64!!",
    b"aGVsbG8gd29ybGQ=",                                        # base64, but not gzip
    h.gzip_base64(h.as_body([h.make_event()]))[:-12],           # truncated gzip
    base64.b64encode(gzip.compress(b"[1]")[:-6]),  # truncated trailer
    b"",
], ids=["not-base64", "not-gzip", "truncated", "truncated-trailer", "empty"])
def test_corrupt_base64_or_gzip_gets_400(session, collector, body):
    response = post(session, collector, body, query=f"appId={h.APP_ID}&compression=gzip")
    assert response.status_code == 400
    assert_alive(session, collector)


def large_batch(decoded_size: int) -> list[dict]:
    """Events resembling the data generator's, about decoded_size bytes of JSON."""
    template = h.make_event(attributes={f"attribute_{i}": "value " * 8 for i in range(20)},
                            items=[{"id": "item-1", "name": "Classic coat-rack", "price": 167}])
    count = decoded_size // len(h.as_body([template])) + 1
    return [dict(template, event_id=f"{i:08d}-0000-4000-8000-000000000000") for i in range(count)]


def test_sixteen_mib_decoded_from_a_small_body_is_accepted(session, collector, store):
    events = large_batch(16 * 1024 * 1024)
    body = h.gzip_base64(h.as_body(events))
    assert len(body) <= 1_000_000
    started = time.monotonic()
    response = post(session, collector, body, query=f"appId={h.APP_ID}&compression=gzip")
    assert response.status_code == 200
    assert time.monotonic() - started < 10
    assert store.event_count_for(store.last_request_id()) == len(events)


def gzip_bomb(decoded_size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    parts = [compressor.compress(zeros) for _ in range(decoded_size // len(zeros))]
    return b"".join(parts) + compressor.flush()


def test_gzip_bomb_is_refused_quickly_with_bounded_memory(session, collector):
    body = base64.b64encode(gzip_bomb(200 * 1024 * 1024))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.monotonic()
    response = post(session, collector, body, query=f"appId={h.APP_ID}&compression=gzip")
    assert response.status_code == 413
    assert time.monotonic() - started < 5
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 150  # the cap is 64 MiB; 200 MiB would show
    assert_alive(session, collector)


# --- malformed bodies and invalid events (the strict profile) -------------------

@pytest.mark.parametrize("body", [
    b"[{\"event_type\": ",
    b"{\"event_type\": \"a\"}",
    b"42",
    b"\"text\"",
    b"null",
    b"[]",
    b"",
    b"[\"not an object\"]",
    b"[{\"event_type\":\"\xff\xfe\"}]",
    b"[" * 10_000 + b"]" * 10_000,
    b"[{\"event_type\":\"a\",\"event_id\":\"b\",\"timestamp\":1,\"app_id\":\"shop_dev\","
    b"\"attributes\":{\"x\":" + b"[" * 10_000 + b"]" * 10_000 + b"}}]",
    b"[{\"event_type\":\"a\",\"event_id\":\"b\",\"timestamp\":1,\"app_id\":\"shop_dev\","
    b"\"attributes\":{\"x\":NaN}}]",
    b"[{\"event_type\":\"a\",\"event_id\":\"b\",\"timestamp\":1,\"app_id\":\"shop_dev\","
    b"\"attributes\":{\"x\":-Infinity}}]",
    b"[{\"event_type\":\"a\",\"event_id\":\"b\",\"timestamp\":1,\"app_id\":\"shop_dev\","
    b"\"attributes\":{\"x\":1e400}}]",
    b"[{\"event_type\":\"a\",\"event_id\":\"b\",\"timestamp\":1" + b"0" * 5000 +
    b",\"app_id\":\"shop_dev\"}]",
    b"[{\"event_type\":\"a\",\"event_id\":\"b\",\"timestamp\":" + str(2 ** 64).encode() +
    b",\"app_id\":\"shop_dev\"}]",
], ids=["truncated", "object", "number", "string", "null", "empty-array", "empty-body",
        "array-of-string", "bad-utf8", "deep-nesting", "deep-in-attribute", "nan",
        "infinity", "huge-float", "huge-int", "timestamp-past-int64"])
def test_malformed_body_gets_400_and_collector_stays_alive(session, collector, body):
    response = post(session, collector, body)
    assert response.status_code == 400
    assert_alive(session, collector)


@pytest.mark.parametrize("event", [
    h.without("event_type"), h.without("event_id"), h.without("timestamp"), h.without("app_id"),
    h.make_event(event_type=5), h.make_event(event_id=None), h.make_event(app_id=["x"]),
    h.make_event(timestamp="1667877566697"), h.make_event(timestamp=True),
    h.make_event(timestamp=1.5), h.make_event(platform=1), h.make_event(sdk_version=1.2),
    h.make_event(zone_offset="0"), h.make_event(screen_width=10.5),
    h.make_event(screen_height=False), h.make_event(items={"id": "1"}),
    h.make_event(items=["x"]), h.make_event(items=[{"id": str(i)} for i in range(101)]),
    h.make_event(user=[]), h.make_event(user={"name": "carl"}),
    h.make_event(user={"name": {"set_timestamp": 1}}),
    h.make_event(user={"name": {"value": "v", "set_timestamp": "0"}}),
    h.make_event(zone_offset=2 ** 31), h.make_event(screen_width=-(2 ** 31) - 1),
    h.make_event(user={f"u{i}": {"value": i} for i in range(101)}),
    h.make_event(attributes=[]), h.make_event(attributes={f"a{i}": i for i in range(601)}),
])
def test_invalid_event_gets_400(session, collector, event):
    body = h.as_body([h.make_event(), event])
    assert post(session, collector, body).status_code == 400


def test_rejected_batches_store_nothing(session, collector, store):
    before = (store.count_requests(), store.count_events())
    post(session, collector, h.as_body([h.make_event(), h.without("timestamp")]))
    assert (store.count_requests(), store.count_events()) == before


# --- hashCode ------------------------------------------------------------------

def test_correct_hash_code_is_accepted_in_either_case(session, collector):
    body = h.as_body([h.make_event(attributes={"名前": "靴"})])
    for code in (h.hash_code(body), h.hash_code(body).upper()):
        response = post(session, collector, body, query=f"appId={h.APP_ID}&hashCode={code}")
        assert response.status_code == 200


def test_hash_code_of_a_compressed_body_covers_the_bytes_as_sent(session, collector):
    body = h.gzip_base64(h.as_body([h.make_event()]))
    query = f"appId={h.APP_ID}&compression=gzip&hashCode={h.hash_code(body)}"
    assert post(session, collector, body, query=query).status_code == 200


def test_wrong_hash_code_gets_400(session, collector):
    body = h.as_body([h.make_event()])
    assert post(session, collector, body, query=f"appId={h.APP_ID}&hashCode=00000000"
                ).status_code == 400


# --- methods, paths, CORS --------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD"])
def test_other_methods_on_collect_get_405(collector, method):
    status, _, _ = h.http_request(collector.url, method, f"/collect?appId={h.APP_ID}")
    assert status == 405


@pytest.mark.parametrize("path", ["/", "/collect/x", "/COLLECT", "/collectx", "/api/collect"])
def test_other_paths_get_404(collector, path):
    status, _, _ = h.http_request(collector.url, "POST", f"{path}?appId={h.APP_ID}",
                                  h.as_body([h.make_event()]), {"Content-Type": h.JSON_UTF8})
    assert status == 404


def test_ping_and_health(collector):
    status, _, body = h.http_request(collector.url, "GET", "/ping")
    assert status == 200 and isinstance(json.loads(body)["timestamp"], float)
    assert h.http_request(collector.url, "GET", "/health")[0] == 200


def test_preflight_from_allowed_origin(collector):
    status, headers = preflight(collector, ORIGIN, "content-type")
    assert status == 204
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-allow-credentials"] == "true"
    assert "POST" in headers["access-control-allow-methods"]
    assert "content-type" in headers["access-control-allow-headers"].lower()
    assert "access-control-max-age" in headers
    assert "origin" in headers["vary"].lower()


def test_preflight_from_other_origin_is_refused_without_cors_headers(collector):
    status, headers = preflight(collector, "https://evil.example.com")
    assert status == 403
    assert "access-control-allow-origin" not in headers


def test_post_from_allowed_origin_carries_cors_headers(session, collector):
    response = post(session, collector, h.as_body([h.make_event()]), headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


def test_post_from_other_origin_gets_no_cors_headers(session, collector):
    response = post(session, collector, h.as_body([h.make_event()]),
                    headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in response.headers


# --- captured requests of real clients -------------------------------------------

def fixture_requests():
    return [pytest.param(row, id=f"{i}-{row['scenario']}")
            for i, row in enumerate(h.load_fixture_requests()) if row["method"] == "POST"]


@pytest.mark.parametrize("row", fixture_requests())
def test_captured_request_replayed_byte_for_byte_is_accepted(collector, store, row):
    body = row["body"].encode("utf-8")
    content_type = h.captured_header(row, "Content-Type")
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, answer = h.http_request(collector.url, "POST", row["raw_path"], body, headers)
    assert (status, answer) == (200, b"")
    request_id = store.last_request_id()
    assert store.get_request(request_id)["body"] == body
    assert store.event_count_for(request_id) == len(h.decoded_events(row))


# --- command line ------------------------------------------------------------------

def parse_serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("cookie", ["no-equals-sign", "=value", "name=", "bad name=v"])
def test_run_serve_rejects_a_bad_auth_cookie(capsys, cookie):
    assert run_serve(parse_serve_args("--auth-cookie", cookie)) == 2
    assert "--auth-cookie" in capsys.readouterr().err


def test_serve_arguments_defaults():
    args = parse_serve_args()
    assert (args.host, args.port, args.db) == ("127.0.0.1", 8080, "collector.sqlite3")


def test_run_serve_reports_a_port_in_use(capsys, collector, tmp_path):
    args = parse_serve_args("--port", str(collector.port), "--db", str(tmp_path / "c.sqlite3"))
    assert run_serve(args) == 1
    assert "cannot listen" in capsys.readouterr().err
