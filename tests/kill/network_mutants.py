"""Collectors the network profile must catch: small real servers, each in its own process.

    python -m tests.kill.network_mutants NAME --port P --sink-file F

serves a minimal collector on 127.0.0.1:P (appId shop_dev; 403 for another; plain or
base64-gzip JSON arrays; each event appended to F as a JSON line before the 200) on a
server design that breaks one requirement of the network profile:

* ``pool-of-8``: a fixed pool of 8 worker threads and no timeouts, as many thread-pool
  servers are. Slow and idle clients occupy every worker; the canary waits for the attack
  to end. CS-NET-LATENCY (a SHOULD) must WARN, nothing fail.
* ``fd-exhaustion``: a thread per connection, no idle timeout, a descriptor limit of 200,
  and an accept loop that does not expect EMFILE: it dies when the hostile clients use up
  its descriptors. CS-NET-CANARY must FAIL.
* ``stores-aborted``: stores the complete events it can salvage from a body that ended
  early (the client went away mid-upload). CS-NET-ABORT must FAIL (read with --sink).
* ``slow-to-recover``: a thread per connection; when 100 or more connections end within
  a second, it stops accepting for 7 s (a back-off meant to shed load, far too long). The
  canary, which waits at least the request timeout, is still answered after the slow and
  idle attacks; a known-good request within 5 s after them is not. CS-NET-RECOVER must FAIL
  (the flood trips the back-off again and again, so the canary may fail there too).
* ``correct``: a thread per connection, as ``stores-aborted`` but storing only whole
  bodies: the control that the base collector passes.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import json
import queue
import resource
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

APP_ID = "shop_dev"
POOL_SIZE = 8
FD_LIMIT = 200
MASS_CLOSE, BACK_OFF = 100, 7.0
BURST_SETTLE = 0.3  # slow-to-recover: seconds a new connection waits before it is served


@dataclass(frozen=True)
class NetworkMutant:
    name: str
    description: str
    breaks: frozenset[str] = frozenset()
    warns: str | None = None
    collateral: frozenset[str] = frozenset()
    sink: bool = False  # judged with --sink


NETWORK_MUTANTS = (
    NetworkMutant("pool-of-8", "a fixed pool of 8 worker threads, no timeouts", warns="CS-NET-LATENCY"),
    NetworkMutant("fd-exhaustion", "no idle timeout; dies when its descriptors run out",
                  breaks=frozenset({"CS-NET-CANARY"}), collateral=frozenset({"CS-NET-RECOVER", "CS-NET-ABORT"})),
    NetworkMutant("slow-to-recover", "stops accepting for 7 s after a mass disconnect",
                  # Under the flood the back-off trips again and again: the canary starves too.
                  breaks=frozenset({"CS-NET-RECOVER"}), collateral=frozenset({"CS-NET-CANARY"})),
    NetworkMutant("stores-aborted", "stores what it salvages of a cut upload",
                  breaks=frozenset({"CS-NET-ABORT"}), sink=True),
)


class Store:
    def __init__(self, path: Path) -> None:
        self.file = open(path, "ab")
        self.lock = threading.Lock()

    def add(self, events: list) -> None:
        with self.lock:
            for event in events:
                self.file.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
            self.file.flush()


def salvage(data: bytes) -> list:
    """The complete objects at the start of a cut JSON array (what a careless server keeps)."""
    text = data.decode("utf-8", "ignore").lstrip()
    if not text.startswith("["):
        return []
    decoder, pos, found = json.JSONDecoder(), 1, []
    while pos < len(text):
        while pos < len(text) and text[pos] in " ,\n\r\t":
            pos += 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
            break
        found.append(value)
    return found


def make_handler(store: Store, keep_partial: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if len(body) < length:  # the client went away mid-body
                if keep_partial:
                    store.add([e for e in salvage(body) if isinstance(e, dict)])
                self.close_connection = True
                return
            if query.get("appId", [""])[0] != APP_ID:
                return self._answer(403)
            if length > 1_048_576:
                return self._answer(413)
            try:
                if query.get("compression", [""])[0] == "gzip":
                    body = gzip.decompress(base64.b64decode(body))
                events = json.loads(body)
            except (ValueError, OSError, EOFError):
                return self._answer(200)  # pass-through: bad bodies are not the point here
            if isinstance(events, list):
                store.add([e for e in events if isinstance(e, dict)])
            self._answer(200)

        def do_GET(self) -> None:
            self._answer(405)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def serve_pool(sock: socket.socket, handler: type[BaseHTTPRequestHandler]) -> None:
    """A fixed pool of worker threads fed by one accepting thread: no timeouts anywhere."""
    work: queue.Queue = queue.Queue()

    def worker() -> None:
        while True:
            conn, addr = work.get()
            try:
                handler(conn, addr, None)
            except OSError:
                pass
            finally:
                conn.close()

    for _ in range(POOL_SIZE):
        threading.Thread(target=worker, daemon=True).start()
    while True:
        work.put(sock.accept())


def serve_thread_per_connection(sock: socket.socket, handler: type[BaseHTTPRequestHandler],
                                back_off: bool = False) -> None:
    """A thread per connection; accept() errors are not expected (EMFILE ends the loop).
    With ``back_off``, a mass disconnect pauses accepting for BACK_OFF seconds, and a
    connection accepted just before the burst was counted waits out the pause too: the
    suite's first known-good request follows the attack's close at once, and must not win
    that race by luck (it did about one run in three)."""
    closes: list[float] = []
    lock = threading.Lock()
    paused_until = [0.0]

    def note_close() -> None:
        with lock:
            now = time.monotonic()
            closes.append(now)
            closes[:] = [t for t in closes if now - t < 1.0]
            if back_off and len(closes) >= MASS_CLOSE:
                paused_until[0], closes[:] = now + BACK_OFF, []

    def wait_out_pause() -> None:
        time.sleep(BURST_SETTLE)  # the threads of a closing burst record their closes meanwhile
        while (left := paused_until[0] - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))

    def run(conn: socket.socket, addr: object) -> None:
        try:
            if back_off:
                wait_out_pause()
            handler(conn, addr, None)
        except OSError:
            pass
        finally:
            conn.close()
            note_close()

    while True:
        if back_off:
            if time.monotonic() < paused_until[0]:
                time.sleep(0.05)
                continue
            if not select.select([sock], [], [], 0.05)[0]:
                continue
        conn, addr = sock.accept()  # raises OSError(EMFILE) when out of descriptors
        threading.Thread(target=run, args=(conn, addr), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kill.network_mutants")
    parser.add_argument("name", choices=[m.name for m in NETWORK_MUTANTS] + ["correct"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sink-file", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.name == "fd-exhaustion":
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
    store = Store(args.sink_file)
    handler = make_handler(store, keep_partial=args.name == "stores-aborted")
    sock = socket.create_server(("127.0.0.1", args.port), backlog=1024)
    print(f"serving http://127.0.0.1:{args.port}/collect", flush=True)
    try:
        if args.name == "pool-of-8":
            serve_pool(sock, handler)
        else:
            serve_thread_per_connection(sock, handler, back_off=args.name == "slow-to-recover")
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"network mutant {args.name}: accept failed: {exc}; giving up", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
