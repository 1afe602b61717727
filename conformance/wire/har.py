"""Every exchange of a run as HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/).

A HAR file opens in a browser's devtools (Network panel, import) and in most HTTP
tools, and `clickstream-conformance reproduce` re-sends requests from it. Bodies are
kept as text when they are UTF-8, else base64; a body over the cap is kept only as its
size and sha256, and a body holding a secret is withheld the same way. Headers and URLs
come from the evidence client already redacted. Each entry is written to a scratch file
(``conformance/wire/spool.py``) as its exchange happens: a run's HAR costs no memory
until the bundle is written.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from typing import Any, Sequence
from urllib.parse import parse_qsl, urlsplit

from conformance.wire.exchange import Exchange, secret_forms
from conformance.wire.spool import Spool

DEFAULT_BODY_CAP = 256 * 1024
HTTP_VERSION = "HTTP/1.1"


class HarLog:
    """Collects HAR entries as the run's exchanges happen."""

    def __init__(self, body_cap: int = DEFAULT_BODY_CAP, secrets: Sequence[str] = ()) -> None:
        self.body_cap = body_cap
        self.secret_forms = tuple(f.encode("utf-8") for f in secret_forms(secrets))
        self._spool = Spool()
        self._count = 0
        self._lock = threading.Lock()  # one entry a line: lines of two threads must not interleave

    def add(self, exchange: Exchange) -> None:
        line = json.dumps(self.entry(exchange), ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self._spool.put(line.encode("utf-8", "backslashreplace"))
            self._count += 1

    def __len__(self) -> int:
        return self._count

    def entry(self, ex: Exchange) -> dict[str, Any]:
        wait_ms = round(ex.elapsed * 1000, 3)
        return {
            "startedDateTime": dt.datetime.fromtimestamp(ex.started_at or 0, dt.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "time": wait_ms,
            "request": self._request(ex),
            "response": self._response(ex),
            "cache": {},
            # The evidence client does not split its time: all of it counts as waiting.
            "timings": {"blocked": -1, "dns": -1, "connect": -1, "send": 0, "wait": wait_ms, "receive": 0},
            "comment": ex.case,
            "_outcome": ex.outcome,
            **({"_detail": ex.detail} if ex.detail else {}),
        }

    def to_bytes(self, version: str) -> bytes:
        head = {"version": "1.2", "creator": {"name": "clickstream-conformance", "version": version},
                "pages": []}
        # One entry a line: readable with grep and diff, without the bulk of indentation.
        # Built in one buffer a spool chunk at a time: a whole-HAR join, split and join
        # again held four copies of it (40 MB of a 10 MB HAR at the bundle's writing).
        out = bytearray(b'{"log":' + json.dumps(head)[:-1].encode() + b',"entries":[\n')
        with self._lock:
            for chunk in self._spool.chunks():
                out += chunk.replace(b"\n", b",\n")  # every entry's line ends in \n; JSON has no raw one
        if self._count:
            del out[-2:]  # the last entry's ","
        else:
            out += b"\n"
        out += b"\n]}}\n"
        return bytes(out)

    # --- parts ----------------------------------------------------------------
    def _request(self, ex: Exchange) -> dict[str, Any]:
        headers = [{"name": n, "value": v} for n, v in ex.request_headers]
        request: dict[str, Any] = {
            "method": ex.method, "url": ex.url, "httpVersion": HTTP_VERSION,
            "cookies": _cookies(ex.request_headers), "headers": headers,
            "queryString": [{"name": k, "value": v}
                            for k, v in parse_qsl(urlsplit(ex.url).query, keep_blank_values=True)],
            "headersSize": -1, "bodySize": ex.body_size,
            # Headers the client added itself (Host, Content-Length): reproduce lets its
            # own client add them again for the new connection.
            "_autoHeaders": list(ex.auto_headers),
        }
        if ex.body_size or ex.method.upper() in ("POST", "PUT", "PATCH"):
            content_type = ex_header(ex.request_headers, "content-type") or ""
            request["postData"] = {"mimeType": content_type, **self._body(ex.sent_body, ex.body_sha256)}
        return request

    def _response(self, ex: Exchange) -> dict[str, Any]:
        if not ex.answered:
            # HAR's convention for a request that got no answer: status 0.
            return {"status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
                    "content": {"size": 0, "mimeType": ""}, "redirectURL": "",
                    "headersSize": -1, "bodySize": -1, "_error": ex.outcome}
        data = ex.response_body
        content: dict[str, Any] = {"size": len(data), "mimeType": ex.header("content-type") or ""}
        kept = self._body(data, hashlib.sha256(data).hexdigest())
        if kept.pop("_encoding", None):
            content["encoding"] = "base64"  # content, unlike postData, has the field
        content.update(kept)
        if ex.response_truncated:
            content["comment"] = (content.get("comment", "") + " truncated at the client's cap").strip()
        return {"status": ex.status, "statusText": ex.reason, "httpVersion": HTTP_VERSION, "cookies": [],
                "headers": [{"name": n, "value": v} for n, v in ex.response_headers],
                "content": content, "redirectURL": ex.header("location") or "",
                "headersSize": -1, "bodySize": ex.response_body_size}

    def _body(self, data: bytes, sha256: str) -> dict[str, Any]:
        """A body as HAR keeps it: text, base64 text, or only its size and digest."""
        if len(data) > self.body_cap:
            return {"comment": f"body not kept: {len(data)} bytes (over the cap of {self.body_cap}), "
                               f"sha256 {sha256}", "_size": len(data), "_sha256": sha256}
        if any(form in data for form in self.secret_forms):
            return {"comment": f"body withheld: it holds a secret; {len(data)} bytes, sha256 {sha256}",
                    "_size": len(data), "_sha256": sha256}
        try:
            return {"text": data.decode("utf-8")}
        except UnicodeDecodeError:
            # postData has no encoding field in HAR 1.2; _encoding says so for our reader.
            return {"text": base64.b64encode(data).decode("ascii"), "_encoding": "base64",
                    "comment": "body is base64 (not UTF-8)"}


def request_body(post_data: dict[str, Any] | None) -> bytes | None:
    """The bytes a HAR request sent, or None when the HAR did not keep them."""
    if not post_data:
        return b""
    if "text" not in post_data:
        return None
    text = post_data["text"]
    if post_data.get("_encoding") == "base64" or post_data.get("encoding") == "base64":
        return base64.b64decode(text)
    return text.encode("utf-8")


def ex_header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    return next((v for n, v in headers if n.lower() == wanted), None)


def _cookies(headers: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    cookies = []
    for name, value in headers:
        if name.lower() == "cookie":
            for item in value.split(";"):
                key, sep, val = item.strip().partition("=")
                if sep:
                    cookies.append({"name": key, "value": val})
    return cookies
