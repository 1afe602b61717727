"""A tiny pass-through collector on the standard library, for plugin self-tests.

Deliberately simple and independent of the reference collector: it checks appId and
size only, like the deployed pass-through server, and can be told to misbehave in
one way (``ok_status``, ``ok_body``, ``die_after`` requests, ``reject`` queries
containing a text) to check how the plugin reports it.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.background import ServedInThread

LIMIT = 1_048_576


def make_handler(app_id: str, ok_status: int, ok_body: bytes, state: dict, reject: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def answer(self, status: int, body: bytes = b"", close: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_any(self) -> None:
            state["requests"] += 1
            if state["die_after"] is not None and state["requests"] > state["die_after"]:
                self.close_connection = True  # "dead": drop every connection unanswered
                if not state["dead"]:
                    state["dead"] = True
                    threading.Thread(target=state["server"].server_close, daemon=True).start()
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > LIMIT:
                return self.answer(413, close=True)
            self.rfile.read(length)
            url = urlsplit(self.path)
            if url.path != "/collect" or parse_qs(url.query).get("appId") != [app_id]:
                return self.answer(403)
            if reject and reject in url.query:
                return self.answer(400)
            self.answer(ok_status, ok_body if ok_status == 200 else b"")

        do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any

        def __getattr__(self, name: str):  # any other method: answered like the rest
            if name.startswith("do_"):
                return self.handle_any
            raise AttributeError(name)

    return Handler


class TinyCollector(ServedInThread):
    def __init__(self, app_id: str = "shop_dev", ok_status: int = 200, ok_body: bytes = b"",
                 die_after: int | None = None, reject: str | None = None) -> None:
        state = {"requests": 0, "die_after": die_after, "dead": False}
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(app_id, ok_status, ok_body, state, reject))
        state["server"] = server
        server.daemon_threads = True
        super().__init__(server)
        self.url = f"http://127.0.0.1:{self.port}/collect"
