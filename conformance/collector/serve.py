"""Command line for the reference collector.

    python -m conformance.collector.serve --app-id shop_dev --db /tmp/c.sqlite3

The project's main CLI can mount the same options on a subcommand with
add_serve_arguments() and run_serve().
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sqlite3
import ssl
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .server import CollectorConfig

DEFAULT_APP_ID = "shop_dev"
# RFC 6265 cookie-name: an HTTP token.
_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# cookie-octet: printable ASCII except space, DQUOTE, comma, semicolon, backslash.
_COOKIE_VALUE = re.compile(r"^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the collector's options to a parser (or a subcommand's parser)."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8080,
                        help="port to listen on; 0 picks a free one (default 8080)")
    parser.add_argument("--app-id", dest="app_ids", action="append", metavar="ID",
                        help=f"a registered app id; repeat for several (default {DEFAULT_APP_ID})")
    parser.add_argument("--auth-cookie", metavar="NAME=VALUE",
                        help="require this cookie on every POST (403 without it)")
    parser.add_argument("--allow-origin", dest="allow_origins", action="append",
                        metavar="ORIGIN", help="a web origin allowed by CORS, e.g. "
                        "https://shop.example.com; repeat for several")
    parser.add_argument("--db", default="collector.sqlite3", metavar="PATH",
                        help="SQLite file for accepted requests (default ./collector.sqlite3)")
    parser.add_argument("--tls-cert", metavar="FILE",
                        help="serve https: the server certificate (PEM, its chain after it); needs --tls-key "
                             "unless the file holds the key too")
    parser.add_argument("--tls-key", metavar="FILE", help="the private key (PEM) of --tls-cert")


def parse_auth_cookie(text: str) -> tuple[str, str]:
    """NAME=VALUE -> (name, value); ValueError with a readable message otherwise."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise ValueError(f"--auth-cookie must look like NAME=VALUE, got {text!r}")
    if not _COOKIE_NAME.match(name):
        raise ValueError(f"--auth-cookie: {name!r} is not a valid cookie name")
    if not _COOKIE_VALUE.match(value):
        raise ValueError("--auth-cookie: the value holds characters a cookie cannot carry "
                         "(spaces, quotes, commas, semicolons, backslashes or non-ASCII)")
    return name, value


def config_from_args(args: argparse.Namespace) -> CollectorConfig:
    """Build the configuration; ValueError names the first bad option."""
    from .server import CollectorConfig
    app_ids = tuple(args.app_ids or (DEFAULT_APP_ID,))
    if any(not app_id for app_id in app_ids):
        raise ValueError("--app-id must not be empty")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, got {args.port}")
    auth_cookie = parse_auth_cookie(args.auth_cookie) if args.auth_cookie is not None else None
    origins = tuple(origin.rstrip("/") for origin in (args.allow_origins or ()))
    if any(not origin for origin in origins):
        raise ValueError("--allow-origin must not be empty")
    db_dir = os.path.dirname(os.path.abspath(args.db))
    if not os.path.isdir(db_dir):
        raise ValueError(f"--db: directory {db_dir} does not exist")
    return CollectorConfig(app_ids=app_ids, auth_cookie=auth_cookie,
                           allow_origins=origins, db_path=args.db)


def tls_context_from_args(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The https context of --tls-cert/--tls-key, or None; ValueError in one line."""
    cert, key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if cert is None:
        if key is not None:
            raise ValueError("--tls-key needs --tls-cert FILE")
        return None
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"{flag} {path}: no such file")
    from .server import server_tls_context
    try:
        return server_tls_context(cert, key)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ValueError(f"--tls-key {key} is not the key of --tls-cert {cert}") from None
        raise ValueError(f"--tls-cert/--tls-key: cannot load the certificate and key ({exc.reason or exc})") from None
    except OSError as exc:
        raise ValueError(f"--tls-cert/--tls-key: cannot read ({exc.strerror or exc})") from None


class ClientErrorsInOneLine(logging.Filter):
    """A malformed request is the client's problem: log one line, not a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg, record.args, record.exc_info = f"{record.getMessage()}: {exc}", (), None
        return True


def run_serve(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C. Exit codes: 0 stopped, 1 could not listen, 2 bad options."""
    from .server import serve
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("aiohttp.server").addFilter(ClientErrorsInOneLine())
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def announce(url: str) -> None:
        print(f"Clickstream reference collector serving {url} "
              f"(apps: {', '.join(config.app_ids)})", flush=True)
        print("Ctrl-C to stop", flush=True)

    try:
        ssl_context = tls_context_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        serve(config, host=args.host, port=args.port, on_ready=announce, ssl_context=ssl_context)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"error: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        print(f"error: cannot use the database {args.db}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.collector.serve",
                                     description="Run the reference Clickstream collector.")
    add_serve_arguments(parser)
    return run_serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
