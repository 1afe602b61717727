"""Read back what a collector stored (its "sink"), read-only and streamed.

    sink = open_sink("sqlite:/tmp/collector.sqlite3?query=SELECT json FROM events")
    sink.probe()
    for record in sink.records():
        found = events_in(record)

Every failure is a :class:`SinkError` whose message is one line naming the sink
with its passwords redacted. Nothing here ever writes to a sink.
"""
from __future__ import annotations

from .base import MAX_RECORD_BYTES, BadRecord, Sink, SinkError, redact_spec
from .command import CommandSink
from .http import HttpSink
from .jsonl import JsonLinesSink
from .records import ENCODINGS, Found, RecordShape, events_in, parse_record_shape
from .sql import PostgresSink, SqliteSink

# The sink forms, for --help and for the error an unknown one gets.
SCHEMES: tuple[str, ...] = (
    "jsonl:PATH",
    "sqlite:PATH?query=SQL",
    "postgresql://USER:PASSWORD@HOST:PORT/DB?query=SQL",
    "http(s)://[USER:PASSWORD@]HOST[:PORT]/PATH",
    "command:CMD",
)

SCHEMES_HELP = """\
jsonl:PATH            JSON lines in a file, every file of a directory, or a glob
                      (quote it); plain or gzip. A file not created yet is empty.
sqlite:PATH?query=SQL a query returning one column of JSON text, e.g.
                      sqlite:collector.sqlite3?query=SELECT json FROM events
postgresql://USER:PASSWORD@HOST:PORT/DB?query=SQL
                      the same in PostgreSQL (json, jsonb or text column); needs psycopg
http(s)://[USER:PASSWORD@]HOST/PATH
                      a GET answered with JSON lines or one JSON array
command:CMD           JSON lines printed by /bin/sh -c CMD, e.g. command:zcat /logs/*.gz
URL-encode & and # inside a query. Passwords are redacted in all output."""

_ADAPTERS = (
    ("jsonl:", JsonLinesSink),
    ("sqlite:", SqliteSink),
    ("postgresql://", PostgresSink),
    ("postgres://", PostgresSink),
    ("http://", HttpSink),
    ("https://", HttpSink),
    ("command:", CommandSink),
)


def open_sink(spec: str, timeout: float = 60.0) -> Sink:
    """The sink a spec names. Raises SinkError for an unknown form or a malformed spec.
    ``timeout`` bounds each network operation, query step, or a command's whole run."""
    if not timeout > 0:
        raise SinkError(f"sink {redact_spec(spec)}: the timeout must be positive, not {timeout}")
    for prefix, adapter in _ADAPTERS:
        if spec.lower().startswith(prefix):
            return adapter(spec, timeout)
    raise SinkError(f"unknown sink {redact_spec(spec)!r}: use one of {', '.join(SCHEMES)}")


__all__ = [
    "SinkError", "BadRecord", "Sink", "open_sink", "redact_spec", "SCHEMES", "SCHEMES_HELP", "MAX_RECORD_BYTES",
    "RecordShape", "parse_record_shape", "Found", "events_in", "ENCODINGS",
]
