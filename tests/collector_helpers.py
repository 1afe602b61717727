"""Helpers for the reference collector's tests: events, bodies, raw HTTP."""
from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import socket
import time
import uuid
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit

from conformance import fixtures

APP_ID = "shop_dev"
JSON_UTF8 = "application/json; charset=utf-8"
_DROP = object()  # an override value meaning "leave this field out"


def make_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "event_type": "button_click",
        "event_id": str(uuid.uuid4()),
        "timestamp": 1667877566697,
        "app_id": APP_ID,
        "platform": "Web",
        "zone_offset": 3600000,
        "attributes": {"productName": "shoes", "Price": 99.9},
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not _DROP}


def without(field: str) -> dict[str, Any]:
    """An event lacking one field."""
    return make_event(**{field: _DROP})


def as_body(events: Any) -> bytes:
    return json.dumps(events, ensure_ascii=False).encode("utf-8")


def gzip_base64(data: bytes) -> bytes:
    return base64.b64encode(gzip.compress(data, compresslevel=6))


def hash_code(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:8]


# --- talking HTTP byte for byte -------------------------------------------------

def split_url(collect_url: str) -> tuple[str, int]:
    parts = urlsplit(collect_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def http_request(collect_url: str, method: str, path_and_query: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 15.0
                 ) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client, so the path and body go out exactly as given.
    Returns (status, headers with lower-case names, body)."""
    host, port = split_url(collect_url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path_and_query, body=body, headers=headers or {})
        response = conn.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        conn.close()


def open_raw(collect_url: str, timeout: float = 10.0) -> socket.socket:
    host, port = split_url(collect_url)
    return socket.create_connection((host, port), timeout=timeout)


def request_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def send_slowly(sock: socket.socket, data: bytes, chunk: int = 65536, pause: float = 0.002) -> None:
    for start in range(0, len(data), chunk):
        sock.sendall(data[start:start + chunk])
        time.sleep(pause)


def read_status_line(sock: socket.socket) -> str:
    """Read until the end of the answer's head; returns its first line."""
    received = b""
    while b"\r\n\r\n" not in received:
        part = sock.recv(65536)
        if not part:
            break
        received += part
    return received.split(b"\r\n", 1)[0].decode("latin-1")


def status_code(status_line: str) -> int:
    return int(status_line.split()[1])


# --- captured fixtures --------------------------------------------------------

def load_fixture_requests() -> list[dict[str, Any]]:
    """The captured requests the package ships (copies of shared/fixtures)."""
    return [row.to_dict() for row in fixtures.load_all()]


def captured_header(row: dict[str, Any], name: str) -> str | None:
    for header_name, value in row["headers"]:
        if header_name.lower() == name.lower():
            return value
    return None


def decoded_events(row: dict[str, Any]) -> list[Any]:
    """The event array a captured request carries (an independent decoding)."""
    body = row["body"].encode("utf-8")
    query = parse_qs(urlsplit(row["raw_path"]).query, keep_blank_values=True)
    if query.get("compression", [""])[0] == "gzip":
        body = gzip.decompress(base64.b64decode(body))
    return json.loads(body)
