"""`clickstream-conformance verify` and `compare`: bundles checked and compared offline."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.bundle import MANIFEST, verify_bundle
from reports.compare import compare_bundles

DEFAULT_COMPARISON = "conformance-comparison.html"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `verify` and `compare` to the clickstream-conformance command."""
    verify = subparsers.add_parser(
        "verify", help="check that a certification bundle is untouched",
        description="Check every file of a certification bundle against its manifest.json. "
                    "Exit 0 when untouched, 1 when a file was changed, removed or added, "
                    "2 when DIR is not a bundle.")
    verify.add_argument("directory", metavar="DIR", type=Path, help="the bundle directory")
    verify.set_defaults(func=run_verify)
    compare = subparsers.add_parser(
        "compare", help="put several bundles side by side",
        description="Write one HTML page with the requirement matrix of several bundles, "
                    "one column per collector. A bundle that fails `verify` is shown as "
                    "UNVERIFIED in place of its verdict, and the command exits 1 unless "
                    "--allow-unverified is given.")
    compare.add_argument("directories", metavar="DIR", type=Path, nargs="+", help="bundle directories")
    compare.add_argument("--output", "-o", metavar="FILE.html", type=Path, default=Path(DEFAULT_COMPARISON),
                         help=f"where to write the page (default {DEFAULT_COMPARISON})")
    compare.add_argument("--allow-unverified", action="store_true",
                         help="exit 0 even when a bundle fails verification (its column stays marked "
                              "UNVERIFIED, with no verdict)")
    compare.set_defaults(func=run_compare)


def run_verify(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    if not directory.is_dir():
        return _fail(f"verify: {directory}: no such directory")
    if not (directory / MANIFEST).is_file():
        return _fail(f"verify: {directory}: not a certification bundle (no {MANIFEST})")
    problems = verify_bundle(directory)
    for problem in problems:
        print(f"{directory}: {problem}")
    if problems:
        print(f"bundle {directory} was changed after it was written ({len(problems)} problem(s))")
        return 1
    print(f"bundle {directory} is untouched")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    missing = [d for d in args.directories if not d.is_dir()]
    if missing:
        return _fail("compare: no such directory: " + ", ".join(str(d) for d in missing))
    try:
        page = compare_bundles(args.directories)
        args.output.write_text(page, encoding="utf-8")
    except ValueError as exc:
        return _fail(f"compare: {exc}")
    except OSError as exc:
        return _fail(f"compare: cannot write {args.output}: {exc}")
    print(args.output)
    unverified = [d for d in args.directories if verify_bundle(d)]
    for directory in unverified:
        print(f"compare: {directory} fails verification (changed after it was written); "
              "its column is marked UNVERIFIED", file=sys.stderr)
    return 1 if unverified and not args.allow_unverified else 0


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2
