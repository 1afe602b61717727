"""A correct collector on Python's standard ``http.server``, written as a Python
engineer would write one from the API document, keeping the module's defaults:

* ``BaseHTTPRequestHandler`` speaks HTTP/1.0 and closes the connection after each
  answer; it answers 501 to every method it has no ``do_*`` for (BREW, PROPFIND,
  TRACE, GET ...), as RFC 9110 section 15.6.2 asks;
* a body past 1,048,576 bytes gets ``send_error(413)`` from its Content-Length,
  without reading the body;
* it is a pass-through: it checks appId and the auth cookie, answers CORS for its
  allowed origin, appends what it accepts to a JSON-lines file and answers 200.
"""
from __future__ import annotations

import base64
import json
import threading
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.background import ServedInThread
from tests.stacks.common import CollectorSetup, read_store

LIMIT = 1_048_576


class CollectHandler(BaseHTTPRequestHandler):
    setup_: CollectorSetup  # set on the subclass made for each server
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.send_cors_headers()
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.end_headers()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/collect":
            return self.send_error(404)
        if parse_qs(url.query).get("appId", [""])[-1] not in self.setup_.app_ids:
            return self.send_error(403, "unknown appId")
        if not self.has_auth_cookie():
            return self.send_error(403, "authentication required")
        length = int(self.headers.get("Content-Length") or 0)
        if length > LIMIT:
            return self.send_error(413)
        self.store(url.query, self.rfile.read(length))
        self.send_response(200)
        self.send_cors_headers()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def has_auth_cookie(self) -> bool:
        if self.setup_.cookie is None:
            return True
        name, value = self.setup_.cookie
        try:
            jar = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            return False
        return name in jar and jar[name].value == value

    def send_cors_headers(self) -> None:
        origin = self.headers.get("Origin")
        if origin in self.setup_.origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Vary", "Origin")

    def store(self, query: str, body: bytes) -> None:
        line = json.dumps({"query": query, "body_base64": base64.b64encode(body).decode()})
        with self.lock, self.setup_.store.open("a") as out:
            out.write(line + "\n")


class HttpServerCollector(ServedInThread):
    """The collector on 127.0.0.1, port 0, in a background thread:

        with HttpServerCollector(setup) as collector: ... collector.url ...
    """

    def __init__(self, setup: CollectorSetup) -> None:
        handler = type("Handler", (CollectHandler,), {"setup_": setup})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        super().__init__(server, name="http-server-collector")
        self.url = f"http://127.0.0.1:{self.port}/collect"

    def stored(self) -> list[dict]:
        return read_store(self.server.RequestHandlerClass.setup_.store)
