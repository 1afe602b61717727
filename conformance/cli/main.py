"""The `clickstream-conformance` command.

Subcommands:
  certify       run the suite against a collector (default: the embedded reference
                collector) and write a certification bundle
  serve         run the reference collector
  setup websdk  install the real Web SDK for the websdk profile and find Chromium
  setup clients compile the OkHttp driver and list the clients profile's client programs
  requirements  print the requirement catalog
  validate      check request bodies (or captured requests) against the schema
  load          load and soak a collector with Locust: throughput, latency, loss
  verify        check that a certification bundle is untouched (and its signature, with --key)
  compare       put several bundles side by side
  keygen        make an Ed25519 key pair for signing bundles
  reproduce     re-send one case's requests from a bundle
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from conformance import __version__, catalog
from conformance.cli.setup import add_setup


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clickstream-conformance",
        description="Conformance suite and certification tool for Clickstream HTTP API collectors.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_certify(sub)
    _add_serve(sub)
    add_setup(sub)
    req = sub.add_parser("requirements", help="print the requirement catalog")
    req.add_argument("--profile", choices=catalog.PROFILES, help="only this profile's requirements")
    req.set_defaults(func=run_requirements)
    _add_validate(sub)
    _add_load(sub)
    _add_reports(sub)
    _add_reproduce(sub)
    return parser


def _command(sub: argparse._SubParsersAction, name: str, summary: str, description: str,
             add_arguments: Callable[[argparse.ArgumentParser], None],
             run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    """One subcommand: its help line, its description, its options and what runs it."""
    parser = sub.add_parser(name, help=summary, description=description)
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    from conformance.cli.reproduce import add_arguments, run
    _command(sub, "reproduce", "re-send one case's requests from a bundle and compare the answers",
             "Re-send the exact requests of one case, as the bundle's exchanges.har kept them, to "
             "the collector (the bundle's target, or --endpoint), and print the recorded and the new "
             "answer side by side. Exit 0 when every status is the same, 1 when one differs, 4 for "
             "bad input.", add_arguments, run)


def _add_certify(sub: argparse._SubParsersAction) -> None:
    from conformance.plugin.options import CERTIFY, add_arguments
    _command(sub, "certify", "certify a collector (the embedded reference collector when no --endpoint)",
             "Run the conformance cases against a collector and write a certification "
             "bundle. Without --endpoint, the embedded reference collector is started on "
             "a free loopback port with a random auth cookie and an allowed web origin, "
             "and certified in the core, auth, web, delivery and durability profiles (its "
             "SQLite database is read back as the sink, and the suite kills and restarts it), "
             "the network profile (unless --no-network) and the clients profile when any real "
             "client program is present (unless --no-clients).",
             lambda p: add_arguments(p, CERTIFY), run_certify)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    from conformance.collector.serve import add_serve_arguments, run_serve
    _command(sub, "serve", "run the reference collector",
             "Run the reference collector: a conforming Clickstream collector that stores what it "
             "accepts in SQLite.", add_serve_arguments, run_serve)


def _add_validate(sub: argparse._SubParsersAction) -> None:
    from conformance.strategies.validate import add_arguments, run
    _command(sub, "validate", "validate request bodies or captured requests",
             "Check JSON bodies, or JSON lines of captured requests with a 'body' field, against the "
             "request body schema and the document's limits.", add_arguments, run)


def _add_load(sub: argparse._SubParsersAction) -> None:
    from conformance.load.options import one_line_errors
    from conformance.plugin.options import LOAD, add_arguments
    parser = _command(sub, "load", "load and soak a collector (Locust): throughput, latency, loss",
                      "Send realistic traffic (Web SDK single events, batches, base64-gzip mobile batches) "
                      "with Locust, measure throughput, latency and errors, and with --sink account for every "
                      "acknowledged event. Thresholds make it a CI gate. Needs the [load] extra (Locust).",
                      lambda p: add_arguments(p, LOAD), run_load)
    one_line_errors(parser)


def _add_reports(sub: argparse._SubParsersAction) -> None:
    try:
        from conformance.reports.commands import add_commands
    except ImportError:  # the reports package is optional while it is being built
        return
    add_commands(sub)


def run_requirements(args: argparse.Namespace) -> int:
    reqs = [r for r in catalog.REQUIREMENTS if args.profile in (None, r.profile)]
    print(catalog.format_catalog(reqs))
    return 0


def run_load(args: argparse.Namespace) -> int:
    from conformance.load import INSTALL_HINT, prepare
    from conformance.load.options import USAGE_EXIT, OptionError, options_from_args
    try:
        options = options_from_args(args)
    except OptionError as exc:
        print(f"load: {exc}", file=sys.stderr)
        return USAGE_EXIT
    if not prepare():
        print(f"load: {INSTALL_HINT}", file=sys.stderr)
        return USAGE_EXIT
    from conformance.load.runner import run_load as run
    return run(options)


def run_certify(args: argparse.Namespace) -> int:
    from conformance.cli.certify import certify
    return certify(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["load"]:
        # Locust patches the standard library with gevent when imported: before anything
        # else (ssl, threading) is loaded, or the patching is incomplete.
        from conformance.load import prepare
        prepare()
    parser = build_parser()
    if argv[:1] == ["load"]:
        from conformance.load.options import one_line_errors
        one_line_errors(parser)  # an unknown option of `load` is one line and exit 4 too
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
