"""SQLite storage for the reference collector.

One row in ``requests`` per accepted POST (the body exactly as sent, plus the
query parameters and headers the ingestion server keeps), and one row in
``events`` per event of its decoded batch. Nothing here knows about HTTP.

Writes go through one connection guarded by a lock and are committed before
``save_request`` returns, so a caller may answer 200 only after it returned.
Readers (tests, reports) open their own ``CollectorStore`` on the same file:
WAL mode lets them read while the collector writes.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at              TEXT    NOT NULL,  -- ISO 8601, UTC, milliseconds
    method                   TEXT    NOT NULL,
    path                     TEXT    NOT NULL,
    query                    TEXT    NOT NULL,  -- raw query string as received
    app_id                   TEXT,
    platform                 TEXT,
    compression              TEXT,
    event_bundle_sequence_id TEXT,              -- kept as text: clients send anything
    upload_timestamp         TEXT,
    hash_code                TEXT,
    client_ip                TEXT,
    user_agent               TEXT,
    content_type             TEXT,
    content_encoding         TEXT,
    body                     BLOB    NOT NULL,  -- bytes exactly as sent
    body_sha256              TEXT    NOT NULL,
    event_count              INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    idx         INTEGER NOT NULL,               -- position in the batch
    event_id    TEXT,
    event_type  TEXT,
    app_id      TEXT,
    timestamp   INTEGER,
    json        TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_request ON events (request_id, idx);
"""

REQUEST_COLUMNS = (
    "received_at", "method", "path", "query", "app_id", "platform", "compression",
    "event_bundle_sequence_id", "upload_timestamp", "hash_code", "client_ip",
    "user_agent", "content_type", "content_encoding", "body", "body_sha256",
    "event_count",
)


@dataclass(frozen=True)
class RequestRow:
    """What is kept about one accepted HTTP request."""
    received_at: str
    method: str
    path: str
    query: str
    app_id: str | None
    platform: str | None
    compression: str | None
    event_bundle_sequence_id: str | None
    upload_timestamp: str | None
    hash_code: str | None
    client_ip: str | None
    user_agent: str | None
    content_type: str | None
    content_encoding: str | None
    body: bytes
    body_sha256: str
    event_count: int


@dataclass(frozen=True)
class EventRow:
    """One decoded event, already serialised to JSON text by the caller."""
    idx: int
    event_id: str
    event_type: str
    app_id: str
    timestamp: int
    json: str


def sqlite_safe(text: str | None) -> str | None:
    """Text SQLite can store: lone surrogates (from odd headers or JSON escapes)
    cannot be encoded as UTF-8, so they become U+FFFD instead of an error."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


class CollectorStore:
    """The collector's SQLite database: schema, inserts and read helpers."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT),
        # and the journal-mode pragma must run outside a transaction.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                     timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "CollectorStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- writing -----------------------------------------------------------

    def save_request(self, record: RequestRow, events: Iterable[EventRow]) -> int:
        """Store one request and its events in a single committed transaction;
        returns the request id."""
        values = [getattr(record, name) for name in REQUEST_COLUMNS]
        values = [sqlite_safe(v) if isinstance(v, str) else v for v in values]
        placeholders = ", ".join("?" for _ in REQUEST_COLUMNS)
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) "
                            f"VALUES ({placeholders})", values)
                request_id = cur.lastrowid
                cur.executemany(
                    "INSERT INTO events (request_id, idx, event_id, event_type, app_id, "
                    "timestamp, json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ((request_id, e.idx, sqlite_safe(e.event_id), sqlite_safe(e.event_type),
                      sqlite_safe(e.app_id), e.timestamp, e.json) for e in events))
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            return int(request_id)

    # --- reading -----------------------------------------------------------

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._conn.cursor()
            cur.row_factory = sqlite3.Row
            return cur.execute(sql, params).fetchall()

    def count_requests(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM requests")[0][0])

    def count_events(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])

    def request_ids(self) -> list[int]:
        return [row[0] for row in self._query("SELECT id FROM requests ORDER BY id")]

    def last_request_id(self) -> int | None:
        return self._query("SELECT MAX(id) FROM requests")[0][0]

    def get_request(self, request_id: int) -> dict[str, Any] | None:
        """One stored request as a dict (body as bytes), or None."""
        rows = self._query("SELECT * FROM requests WHERE id = ?", (request_id,))
        return dict(rows[0]) if rows else None

    def events_for(self, request_id: int) -> list[dict[str, Any]]:
        """The events of one request, in batch order, as parsed JSON objects."""
        rows = self._query("SELECT json FROM events WHERE request_id = ? ORDER BY idx",
                           (request_id,))
        return [json.loads(row[0]) for row in rows]

    def event_count_for(self, request_id: int) -> int:
        rows = self._query("SELECT COUNT(*) FROM events WHERE request_id = ?", (request_id,))
        return int(rows[0][0])

    def all_event_ids(self) -> list[str]:
        """Every stored event_id in arrival order, repeats included."""
        return [row[0] for row in self._query("SELECT event_id FROM events ORDER BY id")]


def open_store(path: str) -> CollectorStore:
    """Open (creating if needed) the collector database at this path."""
    return CollectorStore(path)
