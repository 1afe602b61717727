"""One request as the deployed ingestion server stores it, and a file of such records.

real-world.md ("What is stored per request"): the raw body string, the request URI,
User-Agent, client IP (the first X-Forwarded-For entry wins), request id, method,
ingest time, and the query parameters appId, platform, compression, upload_timestamp.
The self-tests' stores (the nginx pass-through's sink, the kill matrix's recording
middleware) write exactly this record, one JSON line per request, so the delivery
profile reads them as it reads the deployed solution's (``--sink jsonl:PATH``).

The body is kept byte for byte: ``data`` is its text when it is valid UTF-8 (every
body a client can send as JSON is). A body that is not UTF-8 cannot be a JSON string
field without changing it, so it is kept as ``data_base64`` with ``data`` null: nothing
is repaired or replaced, and a reader that wants ``data`` finds no events there, which
is true of such a body.
"""
from __future__ import annotations

import base64
import json
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit


def client_ip(forwarded_for: str | None, remote: str | None) -> str | None:
    """The first X-Forwarded-For entry, else the peer's address."""
    first = (forwarded_for or "").split(",")[0].strip()
    return first or remote


def query_params(uri: str) -> dict[str, str]:
    """The URI's query parameters, the first value of each name."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(urlsplit(uri).query, keep_blank_values=True):
        params.setdefault(name, value)
    return params


def _app_id(params: dict[str, str]) -> str | None:
    """appId; the load balancer matches the name in any letter case, so the record does too."""
    if "appId" in params:
        return params["appId"]
    return next((v for k, v in params.items() if k.lower() == "appid"), None)


def deployed_record(method: str, uri: str, body: bytes, *, forwarded_for: str | None = None,
                    remote: str | None = None, user_agent: str | None = None,
                    rid: str | None = None) -> dict[str, Any]:
    """The record of one request. ``uri`` is the request target as sent (path and query);
    ``rid`` the request id the front end gave it (None when it gave none)."""
    params = query_params(uri)
    try:
        data, data_base64 = body.decode("utf-8"), None
    except UnicodeDecodeError:
        data, data_base64 = None, base64.b64encode(body).decode("ascii")
    record: dict[str, Any] = {
        "data": data,
        "uri": uri,
        "appId": _app_id(params),
        "compression": params.get("compression", ""),  # as given; "" when absent (the Web SDK)
        "platform": params.get("platform"),
        "upload_timestamp": params.get("upload_timestamp"),
        "ip": client_ip(forwarded_for, remote),
        "ua": user_agent,
        "rid": rid,
        "ingest_time": int(time.time() * 1000),
        "method": method,
    }
    if data_base64 is not None:
        record["data_base64"] = data_base64
    return record


def record_line(record: dict[str, Any]) -> bytes:
    # ASCII with \u escapes: any text, even a lone surrogate a JSON body escaped, is one valid line.
    return (json.dumps(record, separators=(",", ":")) + "\n").encode("ascii")


class RecordFile:
    """Appends one JSON line per record to ``path``, under a lock, so concurrent
    requests never interleave. With ``fsync`` (the default) each append is flushed and
    fsynced before ``append`` returns: a caller that answers 200 afterwards has the
    record on disk."""

    def __init__(self, path: Path, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._file = open(self.path, "ab")

    def append(self, record: dict[str, Any]) -> None:
        line = record_line(record)
        with self._lock:
            self._file.write(line)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            self._file.close()
