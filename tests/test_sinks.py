"""The read-back layer (conformance.engines.sinks) against real stores the tests start:
files, SQLite databases, a PostgreSQL server, an HTTP server and shell commands."""
from __future__ import annotations

import base64
import glob
import gzip
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from conformance.collector.store import CollectorStore, EventRow, RequestRow
from conformance.engines.sinks import (
    BadRecord,
    SCHEMES, Found, RecordShape, SinkError, events_in, open_sink, parse_record_shape, redact_spec,
)
from conformance.engines.sinks.base import json_array
from conformance.strategies import encode_base64_gzip, encode_plain
from tests.background import ServedInThread


def event(n: int = 0, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"e-{n}", "event_type": "_page_view", "app_id": "shop_dev",
            "timestamp": 1795693001247 + n, "attributes": {"ü": "∂", "n": n}, **extra}


def jsonl(values: list[Any]) -> bytes:
    return b"".join(json.dumps(v, ensure_ascii=False).encode() + b"\n" for v in values)


def read(spec: str, timeout: float = 10.0) -> list[Any]:
    return list(open_sink(spec, timeout).records())


def ids(records: list[Any]) -> list[str]:
    return [e["event_id"] for r in records for e in events_in(r).events]


def fails(spec: str, *fragments: str, timeout: float = 10.0) -> str:
    """The one-line SinkError message reading the sink gives; it holds each fragment."""
    with pytest.raises(SinkError) as info:
        read(spec, timeout)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


# --- open_sink and redaction ---------------------------------------------------

@pytest.mark.parametrize("spec, fragment", [
    ("kafka://broker/topic", "unknown sink"),
    ("/var/log/sink.jsonl", "unknown sink"),
    ("sqlite:/tmp/x.sqlite3", "no query"),
    ("sqlite:/tmp/x.sqlite3?sql=SELECT 1", "unexpected parameter 'sql'"),
    ("sqlite:?query=SELECT 1", "no database path"),
    ("jsonl:", "no path"),
    ("command:  ", "no command"),
    ("http:///events", "no host"),
    ("http://collector:abc/events", "malformed URL"),
    ("postgresql://u:pw@[::1/x?query=SELECT 1", "malformed URL"),
    ("postgresql://u:pw@db.example/x", "no query"),
])
def test_open_sink_refuses_malformed_specs(spec: str, fragment: str) -> None:
    with pytest.raises(SinkError) as info:
        open_sink(spec)
    assert fragment in str(info.value)
    if "unknown sink" in fragment:
        assert all(scheme in str(info.value) for scheme in SCHEMES)


def test_open_sink_refuses_a_nonpositive_timeout() -> None:
    with pytest.raises(SinkError, match="timeout"):
        open_sink("jsonl:/tmp/x", timeout=0)


def test_passwords_are_redacted_and_listed() -> None:
    sink = open_sink("postgres://reader:pa%40ss@db.example:5432/sink?query=SELECT%20doc%20FROM%20t")
    assert sink.description == "postgres://reader:<redacted>@db.example:5432/sink?query=SELECT%20doc%20FROM%20t"
    assert set(sink.secrets) == {"pa%40ss", "pa@ss"}
    assert redact_spec("https://u:tok@h/x?password=p2") == "https://u:<redacted>@h/x?password=<redacted>"
    command = open_sink("command:PGPASSWORD=hunter2 psql -c 'select 1'")
    assert "hunter2" not in command.description and command.secrets == ("hunter2",)
    # A colon in a URL that is no userinfo stays as it is.
    assert redact_spec("http://host:8080/a@b") == "http://host:8080/a@b"


# --- jsonl ---------------------------------------------------------------------

def test_jsonl_file_plain_and_gzip(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(jsonl([event(1), [event(2), event(3)]]) + b"\n  \n")
    # Gzip is told by its magic bytes, not by the name.
    (tmp_path / "b.log").write_bytes(gzip.compress(jsonl([event(4)])))
    assert ids(read(f"jsonl:{tmp_path}/a.jsonl")) == ["e-1", "e-2", "e-3"]
    assert ids(read(f"jsonl:{tmp_path}/b.log")) == ["e-4"]


def test_jsonl_directory_and_glob(tmp_path: Path) -> None:
    (tmp_path / "2.jsonl").write_bytes(jsonl([event(2)]))
    (tmp_path / "1.jsonl.gz").write_bytes(gzip.compress(jsonl([event(1)])))
    (tmp_path / "sub").mkdir()  # not read: plain files only, no recursion
    (tmp_path / "sub" / "3.jsonl").write_bytes(jsonl([event(3)]))
    assert ids(read(f"jsonl:{tmp_path}")) == ["e-1", "e-2"]
    assert ids(read(f"jsonl:{tmp_path}/*.gz")) == ["e-1"]
    assert read(f"jsonl:{tmp_path}/*.nothing") == []
    fails(f"jsonl:{tmp_path}/missing/*.jsonl", "no file matches", "does not exist")


def test_jsonl_missing_file_is_empty_until_created_but_missing_dir_is_an_error(tmp_path: Path) -> None:
    sink = open_sink(f"jsonl:{tmp_path}/later.jsonl")
    sink.probe()
    assert list(sink.records()) == []
    (tmp_path / "later.jsonl").write_bytes(jsonl([event(1)]))
    assert ids(list(sink.records())) == ["e-1"]  # each call reads afresh
    fails(f"jsonl:{tmp_path}/nowhere/x.jsonl", "does not exist")
    with pytest.raises(SinkError):
        open_sink(f"jsonl:{tmp_path}/nowhere/x.jsonl").probe()


def bad_records(records: list[Any]) -> list[str]:
    """What each BadRecord says, as the delivery checker will show it."""
    return [events_in(r).problem for r in records if isinstance(r, BadRecord)]


def test_jsonl_corrupt_middle_line_is_a_bad_record_named_by_file_and_line(tmp_path: Path) -> None:
    """A mangled line is evidence against the collector, not a reason to stop reading."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(jsonl([event(1)]) + b"\n{not json}\n" + b"[" * 100_000 + b"\n" + jsonl([event(2)]))
    records = read(f"jsonl:{path}")
    assert ids(records) == ["e-1", "e-2"]
    problems = bad_records(records)
    assert len(problems) == 2 and problems[0].startswith(f"file {path} line 3: not JSON")
    assert problems[1].startswith(f"file {path} line 4: not JSON")  # nested too deeply for the parser
    gz = tmp_path / "s.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert bad_records(read(f"jsonl:{gz}"))[0].startswith(f"file {gz} line 3: not JSON")


def test_jsonl_truncated_last_line_is_being_written_and_ignored(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(jsonl([event(1), event(2)]) + b'{"event_id": "e-3", "times')
    assert ids(read(f"jsonl:{path}")) == ["e-1", "e-2"]
    # A complete last line without its newline still counts.
    path.write_bytes(jsonl([event(1)]) + json.dumps(event(2)).encode())
    assert ids(read(f"jsonl:{path}")) == ["e-1", "e-2"]
    # A gzip file still being written ends mid-stream: its complete lines are read.
    whole = gzip.compress(jsonl([event(n) for n in range(2000)]))
    (tmp_path / "t.gz").write_bytes(whole[: len(whole) // 2])
    got = ids(read(f"jsonl:{tmp_path}/t.gz"))
    assert 0 < len(got) < 2000 and got == [f"e-{n}" for n in range(len(got))]


def test_jsonl_unreadable_file(tmp_path: Path) -> None:
    # Works as root too: a symbolic link loop cannot be opened by anyone.
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    fails(f"jsonl:{tmp_path}/loop", "cannot read", "symbolic links")
    corrupt = tmp_path / "bad.gz"
    corrupt.write_bytes(b"\x1f\x8b" + b"\x00" * 40)
    fails(f"jsonl:{corrupt}", "cannot read")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_jsonl_file_without_read_permission(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(jsonl([event(1)]))
    path.chmod(0)
    fails(f"jsonl:{path}", "cannot read", "Permission denied")


# --- sqlite --------------------------------------------------------------------

def reference_store(path: Path, batches: list[list[dict]]) -> CollectorStore:
    """A database written by the reference collector's own store (WAL mode)."""
    store = CollectorStore(str(path))
    for batch in batches:
        body = encode_plain(batch)
        record = RequestRow("2026-01-01T00:00:00.000Z", "POST", "/collect", "appId=shop_dev",
                               "shop_dev", "Web", None, "1", None, None, "127.0.0.1", "ua",
                               "application/json", None, body, "x", len(batch))
        store.save_request(record, [EventRow(i, e["event_id"], e["event_type"], e["app_id"],
                                             e["timestamp"], json.dumps(e)) for i, e in enumerate(batch)])
    return store


def test_sqlite_reads_the_reference_collectors_events_while_it_writes(tmp_path: Path) -> None:
    db = tmp_path / "collector.sqlite3"
    with reference_store(db, [[event(1), event(2)], [event(3)]]) as writer:
        spec = f"sqlite:{db}?query=SELECT json FROM events ORDER BY id"
        assert ids(read(spec)) == ["e-1", "e-2", "e-3"]
        # A write in progress (not committed) neither blocks the reader nor shows.
        writer._conn.execute("BEGIN IMMEDIATE")
        writer._conn.execute("DELETE FROM events")
        try:
            assert ids(read(spec)) == ["e-1", "e-2", "e-3"]
        finally:
            writer._conn.execute("ROLLBACK")
        assert ids(read(f"sqlite:{db}?query=SELECT%20json%20FROM%20events%20WHERE%20idx%20%3D%200%20%26%201")) == ["e-1", "e-3"]
    assert os.path.exists(db)


def test_sqlite_bytes_rows_and_batches(tmp_path: Path) -> None:
    db = tmp_path / "b.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, doc BLOB)")
        conn.executemany("INSERT INTO t (doc) VALUES (?)", [(json.dumps(event(n)).encode(),) for n in range(1200)])
    conn.close()
    assert ids(read(f"sqlite:{db}?query=SELECT doc FROM t ORDER BY id")) == [f"e-{n}" for n in range(1200)]


def test_sqlite_errors(tmp_path: Path) -> None:
    db = tmp_path / "e.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a TEXT, b TEXT)")
        conn.execute("INSERT INTO t VALUES ('{}', 'not json'), (NULL, NULL)")
    conn.close()
    fails(f"sqlite:{db}?query=SELEC a FROM t", "the query failed", "syntax error")
    fails(f"sqlite:{db}?query=SELECT a FROM nowhere", "no such table: nowhere")
    fails(f"sqlite:{db}?query=SELECT a, b FROM t", "returns 2 columns")
    assert bad_records(read(f"sqlite:{db}?query=SELECT b FROM t"))[0].startswith("row 1: not JSON")
    assert bad_records(read(f"sqlite:{db}?query=SELECT a FROM t")) == ["row 2: holds NULL, not JSON text"]
    fails(f"sqlite:{db}?query=DELETE FROM t", "readonly")
    fails(f"sqlite:{tmp_path}/absent.sqlite3?query=SELECT 1", "cannot open the database")
    assert not (tmp_path / "absent.sqlite3").exists()
    slow = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT max(n) FROM c"
    started = time.monotonic()
    fails(f"sqlite:{db}?query={slow}", "did not finish within 0.5 s", timeout=0.5)
    assert time.monotonic() - started < 5


# --- postgresql ----------------------------------------------------------------

def postgres_bin_dir() -> Path | None:
    """Where initdb, pg_ctl and postgres are: PATH, else the newest Debian install."""
    names = ("initdb", "pg_ctl", "postgres")
    if all(shutil.which(n) for n in names):
        return Path(shutil.which("pg_ctl")).parent
    def version(path: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", path))
    for bin_dir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if all((Path(bin_dir) / n).exists() for n in names):
            return Path(bin_dir)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryPostgres:
    """A throw-away PostgreSQL server on a loopback port, with password login.
    PostgreSQL refuses to run as root: then it runs as the ``postgres`` user."""

    USER = "conformance"

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.password = "pw-" + secrets.token_urlsafe(12)
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.dir = Path(tempfile.mkdtemp(prefix="sink-pg-", dir="/tmp"))
        self.data = self.dir / "data"
        self.port = free_port()

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([*self.as_user, str(self.bin_dir / args[0]), *args[1:]],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")

    def start(self) -> "TemporaryPostgres":
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        if self.as_user:
            shutil.chown(self.dir, "postgres")
            shutil.chown(pwfile, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", self.USER, "--auth=scram-sha-256",
                  f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
                   "-c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options,
                  "-w", "-t", "60", "start", timeout=90)
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "20", "stop", timeout=30)
        except (RuntimeError, subprocess.TimeoutExpired):
            try:  # the postmaster's pid is the first line of postmaster.pid
                os.kill(int((self.data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, query: str = "", password: str | None = None) -> str:
        password = self.password if password is None else password
        return (f"postgresql://{self.USER}:{password}@127.0.0.1:{self.port}/postgres"
                + (f"?query={query}" if query else ""))

    def execute(self, sql: str, rows: list[tuple] | None = None) -> None:
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as conn:
            if rows is None:
                conn.execute(sql)
            else:
                conn.cursor().executemany(sql, rows)


def start_postgres() -> TemporaryPostgres:
    """A running server, or pytest.skip saying what is missing."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root needs runuser to start PostgreSQL as the postgres user")
    server = TemporaryPostgres(bin_dir)
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise


@pytest.fixture(scope="session")
def postgres() -> Iterator[TemporaryPostgres]:
    server = start_postgres()
    try:
        server.execute("CREATE TABLE sink (id serial PRIMARY KEY, doc jsonb, line text)")
        server.execute("INSERT INTO sink (doc, line) VALUES (%s, %s)",
                       [(json.dumps(event(n)), json.dumps(event(n))) for n in range(1500)])
        server.execute("CREATE SEQUENCE sink_seq")
        yield server
    finally:
        server.stop()


def test_postgresql_jsonb_and_text_columns(postgres: TemporaryPostgres) -> None:
    expected = [f"e-{n}" for n in range(1500)]
    assert ids(read(postgres.url("SELECT doc FROM sink ORDER BY id"))) == expected
    assert ids(read(postgres.url("SELECT line FROM sink ORDER BY id;"))) == expected
    # A jsonb string arrives parsed: it is not parsed a second time.
    assert read(postgres.url("SELECT to_jsonb('x'::text)")) == ["x"]
    assert read(postgres.url("SELECT '[1, 2]'::json")) == [[1, 2]]
    sink = open_sink(postgres.url("SELECT doc FROM sink").replace("postgresql:", "postgres:"))
    sink.probe()
    assert postgres.password not in sink.description and postgres.password in sink.secrets


def test_postgresql_errors_never_show_the_password(postgres: TemporaryPostgres) -> None:
    for spec, fragment in [
        (postgres.url("SELEC doc FROM sink"), "syntax error"),
        (postgres.url("SELECT doc, line FROM sink"), "returns 2 columns"),
        (postgres.url("SELECT nextval('sink_seq')::text"), "read-only transaction"),
        (postgres.url("SELECT doc FROM sink", password="wrong-" + postgres.password), "cannot connect"),
        (postgres.url("SELECT pg_sleep(5)::text"), "did not finish within 1 s"),
    ]:
        message = fails(spec, fragment, timeout=1)
        assert postgres.password not in message and "<redacted>" in message


def test_postgresql_without_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "psycopg", None)
    fails("postgresql://u:hunter2@127.0.0.1/db?query=SELECT 1", "needs psycopg", "pip install")


# --- http ----------------------------------------------------------------------

class Served(ServedInThread):
    """A loopback HTTP server answering GETs from a table: path -> (status,
    content type, body bytes or a file Path). Basic auth when ``auth`` is set."""

    def __init__(self, routes: dict[str, tuple[int, str, bytes | Path]], auth: str | None = None) -> None:
        routes_, auth_ = routes, auth

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                expected = "Basic " + base64.b64encode(auth_.encode()).decode() if auth_ else None
                if expected and self.headers.get("Authorization") != expected:
                    status, kind, body = 401, "text/plain", b"who are you?"
                else:
                    status, kind, body = routes_.get(self.path, (404, "text/plain", b"no such sink"))
                size = body.stat().st_size if isinstance(body, Path) else len(body)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if isinstance(body, Path):
                    with body.open("rb") as f:
                        shutil.copyfileobj(f, self.wfile, 1 << 20)
                else:
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
        self.url = f"http://127.0.0.1:{self.port}"


BIG_ARRAY = [event(n, pad="x" * (n % 300)) for n in range(3000)] + [event(3000, pad="y" * 300_000)]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    routes = {
        "/lines": (200, "application/x-ndjson", jsonl([event(1), [event(2)]])),
        "/array": (200, "application/json", json.dumps(BIG_ARRAY).encode()),
        "/empty-array": (200, "application/json", b" \n[ ] \n"),
        "/arrays-as-lines": (200, "application/x-ndjson", jsonl([[event(1)], [event(2)]])),
        "/gzip": (200, "application/gzip", gzip.compress(jsonl([event(5)]))),
        "/broken": (500, "text/plain", b"sink exploded\nsecond line"),
        "/trailing": (200, "application/json", b"[1, 2] 3"),
        "/bad-element": (200, "application/json", b"[1, {oops}]"),
    }
    with Served(routes, auth="reader:s3cr%t") as server:
        yield server


def authed(served: Served, path: str) -> str:
    return served.url.replace("http://", "http://reader:s3cr%25t@") + path


def test_http_json_lines_and_a_big_array(served: Served) -> None:
    assert ids(read(authed(served, "/lines"))) == ["e-1", "e-2"]
    assert ids(read(authed(served, "/array"))) == [f"e-{n}" for n in range(3001)]
    assert read(authed(served, "/empty-array")) == []
    assert ids(read(authed(served, "/arrays-as-lines"))) == ["e-1", "e-2"]
    assert ids(read(authed(served, "/gzip"))) == ["e-5"]


def test_http_errors(served: Served, silent_port: int) -> None:
    message = fails(authed(served, "/broken"), "HTTP 500", "sink exploded second line")
    assert "s3cr" not in message and "<redacted>" in message
    fails(served.url + "/lines", "HTTP 401", "who are you?")
    fails(authed(served, "/nowhere"), "HTTP 404")
    fails(authed(served, "/trailing"), "data after the JSON array")
    fails(authed(served, "/bad-element"), "element 1 of the array is not JSON")
    started = time.monotonic()
    fails(f"http://127.0.0.1:{silent_port}/x", "timed out", timeout=1)
    assert time.monotonic() - started < 5


class Trickle(io.RawIOBase):
    """A stream giving at most a few bytes a read, to split values anywhere."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.pos = data, step, 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.data[self.pos:self.pos + min(self.step, n if n > 0 else self.step)]
        self.pos += len(chunk)
        return chunk


@pytest.mark.parametrize("step", [1, 2, 7])
def test_array_reader_splits_values_anywhere(step: int) -> None:
    values = [1234567890, -0.5e10, True, None, "a\u00e9\U0001f600\"", {"x": [1, 2, {}]}, [], 12]
    data = json.dumps(values, ensure_ascii=False, indent=1).encode()
    assert list(json_array(Trickle(data, step), "test", SinkError)) == values


def test_a_record_longer_than_the_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import conformance.engines.sinks.base as base
    monkeypatch.setattr(base, "MAX_RECORD_BYTES", 1000)
    path = tmp_path / "s.jsonl"
    path.write_bytes(jsonl([event(1), event(2, pad="x" * 2000)]))
    fails(f"jsonl:{path}", "line 2 is longer than 1000 bytes")
    data = json.dumps([event(1), event(2, pad="x" * 200_000)]).encode()
    with pytest.raises(SinkError, match="longer than 1000 bytes"):
        list(json_array(io.BytesIO(data), "test", SinkError))


# --- command -------------------------------------------------------------------

def group_is_gone(pgid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_command_cat_and_a_gzip_pipeline(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_bytes(jsonl([event(1), event(2)]))
    (tmp_path / "s.jsonl.gz").write_bytes(gzip.compress(jsonl([event(3)])))
    assert ids(read(f"command:cat {tmp_path}/s.jsonl")) == ["e-1", "e-2"]
    assert ids(read(f"command:zcat {tmp_path}/*.gz | grep -v '^$'")) == ["e-3"]


def test_command_failure_shows_exit_code_and_stderr(tmp_path: Path) -> None:
    fails("command:echo '{\"event_id\": \"e-1\"}'; echo first >&2; echo 'no such bucket' >&2; exit 3",
          "exited with code 3", "first | no such bucket")
    assert bad_records(read("command:printf 'not json\\n{}\\n'"))[0].startswith("output line 1: not JSON")


def test_command_that_hangs_is_killed_with_its_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    fails(f"command:echo $$ > {pidfile}; exec sleep 30", "did not finish within 1 s", timeout=1)
    assert time.monotonic() - started < 2.5
    assert group_is_gone(int(pidfile.read_text()))


def test_stopping_early_kills_the_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    records = open_sink(f"command:echo $$ > {pidfile}; while :; do echo '{{\"event_id\": \"e\"}}'; done",
                        timeout=30).records()
    assert [next(records) for _ in range(3)] == [{"event_id": "e"}] * 3
    pgid = int(pidfile.read_text())
    records.close()
    assert group_is_gone(pgid)


# --- records -------------------------------------------------------------------

def deployed(batch: list[dict], gzip_it: bool, how: str = "field") -> dict[str, Any]:
    """A record like the deployed ingestion server stores."""
    body = (encode_base64_gzip(batch) if gzip_it else encode_plain(batch)).decode()
    compression = "gzip" if gzip_it else ""
    record = {"data": body, "uri": "/collect?platform=Android&appId=shop_dev"
              + (f"&compression={compression}" if how == "uri" else ""),
              "appId": "shop_dev", "platform": "Android", "ip": "10.0.0.1", "ua": "python-requests/2.31",
              "rid": "abc", "ingest_time": 1795693001247, "method": "POST"}
    if how == "field":
        record["compression"] = compression
    return record


def test_bare_events_and_arrays() -> None:
    assert events_in(event(1)) == Found([event(1)], {}, None)
    assert events_in([event(1), 5, event(2)]).events == [event(1), event(2)]
    assert events_in("text").problem and events_in({"x": 1}).problem.startswith("not an event")


@pytest.mark.parametrize("gzip_it", [False, True])
@pytest.mark.parametrize("how", ["field", "uri"])
def test_deployed_records(gzip_it: bool, how: str) -> None:
    batch = [event(1), event(2)]
    found = events_in(deployed(batch, gzip_it, how))
    assert found.problem is None and found.events == batch
    assert found.meta["appId"] == "shop_dev" and found.meta["ip"] == "10.0.0.1"
    assert found.meta["ingest_time"] == 1795693001247 and "data" not in found.meta
    # An array of such records, as a JSON array sink holds them.
    assert events_in([deployed(batch, gzip_it, how), event(3)]).events == batch + [event(3)]


def test_a_record_is_decoded_as_it_says_never_guessed() -> None:
    record = deployed([event(1)], gzip_it=True)
    record["compression"] = ""  # says plain, holds base64-gzip: downstream cannot read it
    found = events_in(record)
    assert found.events == [] and found.problem.startswith("body is not JSON")
    record["compression"] = "zstd"  # only "gzip" means compressed, as downstream reads it
    assert events_in(record).problem.startswith("body is not JSON")
    # A body that was not UTF-8 (kept as data_base64 by the self-tests' stores): no events.
    record.update(data=None, data_base64="/w==")
    assert events_in(record) == Found([], events_in(record).meta, "field data holds null, not the body as text")
    plain = deployed([event(1)], gzip_it=False)
    plain["compression"] = "gzip"  # says gzip, holds plain JSON
    assert events_in(plain).problem.startswith("body is not valid base64")


def test_decoded_size_is_capped() -> None:
    bomb = base64.b64encode(gzip.compress(b"[" + b" " * (65 * 1024 * 1024) + b"]")).decode()
    found = events_in({"data": bomb, "appId": "shop_dev", "compression": "gzip"})
    assert found.events == [] and "expands past" in found.problem


def test_generic_request_records() -> None:
    batch = [event(1)]
    raw = encode_base64_gzip(batch)
    found = events_in({"body": raw.decode(), "query": "appId=shop_dev&compression=gzip", "status": 200,
                       "headers": {"x": "y"}, "note": "n" * 500})
    assert found.events == batch and found.problem is None
    assert found.meta["appId"] == "shop_dev" and found.meta["status"] == 200
    assert "headers" not in found.meta and len(found.meta["note"]) == 200
    # body_base64 holds the exact bytes as sent; the query says how to read them.
    record = {"body_base64": base64.b64encode(raw).decode(), "body": "(lossy)",
              "raw_path": "/collect?appId=shop_dev&compression=gzip"}
    assert events_in(record).events == batch
    assert events_in({"body": batch, "query": ""}).events == batch
    assert events_in({"body": "{}", "query": ""}).problem == "body is JSON but an object, not an array of events"
    many = {f"k{n}": n for n in range(30)} | {"body": "[]"}
    assert len(events_in(many).meta) == 12


def test_custom_record_shape() -> None:
    shape = parse_record_shape("body=payload, encoding=base64-gzip, appid=app, query=url, compression=enc")
    assert shape == RecordShape("payload", "base64-gzip", "enc", "url", "app")
    record = {"payload": encode_base64_gzip([event(1)]).decode(), "app": "shop_dev", "url": "/c", "enc": ""}
    found = events_in(record, shape)
    assert found.events == [event(1)] and found.meta["appId"] == "shop_dev"
    assert events_in({k: v for k, v in record.items() if k != "app"}, shape).problem == "no field app"
    assert events_in(event(1), shape).problem == "no field payload"
    text_shape = parse_record_shape("body=msg,encoding=text")
    assert events_in({"msg": json.dumps([event(2)])}, text_shape).events == [event(2)]
    assert events_in({"msg": [event(2)]}, parse_record_shape("body=msg,encoding=json")).events == [event(2)]
    assert parse_record_shape("auto") == RecordShape()


@pytest.mark.parametrize("text, fragment", [
    ("bdy=data", "unknown key 'bdy'"),
    ("body=", "body needs a value"),
    ("body=data,body=x", "given twice"),
    ("encoding=zip", "unknown encoding 'zip'"),
])
def test_bad_record_shapes(text: str, fragment: str) -> None:
    with pytest.raises(SinkError, match=re.escape(fragment)):
        parse_record_shape(text)
