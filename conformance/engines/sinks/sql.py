"""SQL sinks: ``sqlite:PATH?query=SQL`` and ``postgresql://...?query=SQL``.

The query returns one column; each row is one record. Both are opened read-only
and read through a cursor in batches, never all rows at once.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, Iterator
from urllib.parse import quote, urlencode, urlunsplit

from .base import BadRecord, Sink, checked_url, excerpt, reason, split_params
from .memo import RecordMemo

BATCH_ROWS = 500
JSON_TYPE_OIDS = (114, 3802)  # json, jsonb


class _QuerySink(Sink):
    """Shared by both SQL sinks: the query, and turning a row into a record."""

    def use_query(self, query: str, example: str) -> None:
        # A trailing ';' would break PostgreSQL's DECLARE ... CURSOR FOR <query>.
        self.query = query.strip().rstrip(";").strip()
        if not self.query:
            raise self.error(f"no query: use {example} (URL-encode & and # in the SQL)")

    def check_columns(self, description: Any) -> None:
        if not description:
            raise self.error("the query returns no columns; it must return one column of JSON")
        if len(description) != 1:
            raise self.error(f"the query returns {len(description)} columns; it must return one column of JSON")

    def record(self, value: Any, row: int, memo: RecordMemo | None = None) -> Any:
        if isinstance(value, memoryview):
            value = bytes(value)
        if not isinstance(value, (str, bytes)):
            kind = "NULL" if value is None else type(value).__name__
            return BadRecord(f"row {row}", f"holds {kind}, not JSON text")
        if memo is not None and (seen := memo.recall(value)) is not None:
            return seen
        try:
            return json.loads(value)
        except (ValueError, RecursionError) as exc:
            if memo is not None:
                memo.forget_pending()
            return BadRecord(f"row {row}", f"not JSON: {reason(exc)} ({excerpt(value, 80)})")


class SqliteSink(_QuerySink):
    def __init__(self, spec: str, timeout: float) -> None:
        super().__init__(spec, timeout)
        path, _, params = spec[len("sqlite:"):].partition("?")
        self.path = os.path.expanduser(path)
        if not self.path:
            raise self.error("no database path: use sqlite:PATH?query=SQL")
        self.use_query(split_params(params, ("query",), self.error).get("query", ""),
                       "sqlite:PATH?query=SELECT json FROM events")

    def records(self, memo: RecordMemo | None = None) -> Iterator[Any]:
        # mode=ro: SQLite itself refuses any write; a WAL database stays readable
        # while its collector writes to it.
        uri = "file:" + quote(os.path.abspath(self.path)) + "?mode=ro"
        deadline = [0.0]
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self.timeout)
        except sqlite3.Error as exc:
            raise self.error(f"cannot open the database: {exc}") from None
        try:
            # Each step (the query, then each batch of rows) must finish within the timeout.
            conn.set_progress_handler(lambda: time.monotonic() > deadline[0], 10_000)
            deadline[0] = time.monotonic() + self.timeout
            cur = conn.execute(self.query)
            self.check_columns(cur.description)
            row = 0
            while True:
                deadline[0] = time.monotonic() + self.timeout
                rows = cur.fetchmany(BATCH_ROWS)
                if not rows:
                    return
                for (value,) in rows:
                    row += 1
                    yield self.record(value, row, memo)
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted":
                raise self.error(f"the query did not finish within {self.timeout:g} s") from None
            raise self.error(f"the query failed: {exc}") from None
        except sqlite3.Error as exc:
            raise self.error(f"the query failed: {exc}") from None
        finally:
            conn.close()


class PostgresSink(_QuerySink):
    def __init__(self, spec: str, timeout: float) -> None:
        super().__init__(spec, timeout)
        parts = checked_url(self, spec, one_port=False)
        params = split_params(parts.query, None, self.error)
        self.use_query(params.pop("query", ""), "postgresql://USER:PASSWORD@HOST:PORT/DB?query=SELECT ...")
        # Everything but the query goes to libpq as it is (quote, not quote_plus:
        # libpq does not read '+' as a space).
        params.setdefault("connect_timeout", str(max(2, round(timeout))))
        self.conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path,
                                    urlencode(params, quote_via=quote), ""))

    def records(self, memo: RecordMemo | None = None) -> Iterator[Any]:
        try:
            import psycopg
        except ImportError:
            raise self.error("the postgresql sink needs psycopg: "
                             "pip install 'clickstream-conformance[postgres]'") from None
        try:
            conn = psycopg.connect(self.conninfo)
        except psycopg.Error as exc:
            raise self.error(f"cannot connect: {_first_line(exc)}") from None
        try:
            conn.read_only = True  # the server refuses any write the query might try
            conn.execute("SELECT set_config('statement_timeout', %s, false)",
                         [str(int(self.timeout * 1000))])
            # A named (server-side) cursor: rows come BATCH_ROWS at a time.
            with conn.cursor(name="clickstream_conformance_sink") as cur:
                cur.itersize = BATCH_ROWS
                cur.execute(self.query)
                self.check_columns(cur.description)
                # json and jsonb arrive parsed already; text and bytea are JSON text.
                parsed = cur.description[0].type_code in JSON_TYPE_OIDS
                for row, (value,) in enumerate(cur, 1):
                    yield value if parsed else self.record(value, row, memo)
        except psycopg.errors.QueryCanceled:
            raise self.error(f"the query did not finish within {self.timeout:g} s") from None
        except psycopg.Error as exc:
            raise self.error(f"the query failed: {_first_line(exc)}") from None
        finally:
            conn.close()


def _first_line(exc: Exception) -> str:
    # PostgreSQL adds LINE/HINT lines pointing into the SQL; the first line says what is wrong.
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
