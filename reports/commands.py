"""`clickstream-conformance verify` and `compare`: bundles checked and compared offline."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from conformance.reports.attestation import check_attestation
from conformance.reports.bundle import MANIFEST, bundle_files, verify_bundle
from conformance.reports.compare import load_bundle, render_comparison, signer_line
from conformance.reports.signing import SigningError, generate_keypair, key_id, load_public_key, short_key_id

DEFAULT_COMPARISON = "conformance-comparison.html"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `verify`, `keygen` and `compare` to the clickstream-conformance command."""
    verify = _command(subparsers, "verify", run_verify, "check that a certification bundle is untouched",
                      "Check every file of a certification bundle against its manifest.json. "
                      "Exit 0 when untouched, 1 when a file was changed, removed or added, "
                      "2 when DIR is not a bundle.")
    verify.add_argument("directory", metavar="DIR", type=Path, help="the bundle directory")
    verify.add_argument("--key", metavar="PUB", type=Path,
                        help="the signer's Ed25519 public key (PEM): also check attestation.json's signature, "
                             "so a bundle whose files and manifest were both rewritten is caught; exit 1 when the "
                             "bundle is unsigned or signed by another key")
    keygen = _command(subparsers, "keygen", run_keygen, "make an Ed25519 key pair for signing certification bundles",
                      "Write conformance-signing.key (the private key, mode 0600: give it to certify "
                      "--sign-key) and conformance-signing.pub (the public key: give it to whoever checks "
                      "your bundles with verify --key) into DIR. Existing keys are never overwritten.")
    keygen.add_argument("directory", metavar="DIR", type=Path, help="where to write the key pair")
    compare = _command(subparsers, "compare", run_compare, "put several bundles side by side",
                       "Write one HTML page with the requirement matrix of several bundles, "
                       "one column per collector. A bundle that fails `verify` is shown as "
                       "UNVERIFIED in place of its verdict, and the command exits 1 unless "
                       "--allow-unverified is given.")
    compare.add_argument("directories", metavar="DIR", type=Path, nargs="+", help="bundle directories")
    compare.add_argument("--output", "-o", metavar="FILE.html", type=Path, default=Path(DEFAULT_COMPARISON),
                         help=f"where to write the page (default {DEFAULT_COMPARISON})")
    compare.add_argument("--key", metavar="PUB", type=Path, action="append", default=[],
                         help="a signer's Ed25519 public key (repeatable): bundles it signed have their "
                              "signature checked; the others show their signer as not checked")
    compare.add_argument("--allow-unverified", action="store_true",
                         help="exit 0 even when a bundle fails verification (its column stays marked "
                              "UNVERIFIED, with no verdict)")


def _command(subparsers: argparse._SubParsersAction, name: str, run: Callable[[argparse.Namespace], int],
             summary: str, description: str) -> argparse.ArgumentParser:
    """A subcommand that ``run`` carries out."""
    parser = subparsers.add_parser(name, help=summary, description=description)
    parser.set_defaults(func=run)
    return parser


def run_verify(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    if not directory.is_dir():
        return _fail(f"verify: {directory}: no such directory")
    if not (directory / MANIFEST).is_file():
        return _fail(f"verify: {directory}: not a certification bundle (no {MANIFEST})")
    try:
        public_key = load_public_key(args.key) if args.key else None
    except SigningError as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 4
    attestation = check_attestation(directory, bundle_files(directory), public_key)
    problems = verify_bundle(directory) + attestation.problems
    for problem in dict.fromkeys(problems):  # the manifest and the attestation may say the same
        print(f"{directory}: {problem}")
    if problems:
        print(f"bundle {directory} FAILS verification ({len(set(problems))} problem(s)); {attestation.status}")
        return 1
    print(f"bundle {directory} is untouched; {attestation.status}")
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    try:
        private_path, public_path = generate_keypair(args.directory)
        kid = key_id(load_public_key(public_path))
    except SigningError as exc:
        print(f"keygen: {exc}", file=sys.stderr)
        return 4
    print(f"private key: {private_path} (mode 0600; keep it secret; certify --sign-key {private_path})")
    print(f"public key:  {public_path} (share it; verify DIR --key {public_path})")
    print(f"key id:      {short_key_id(kid)} (full: {kid})")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    missing = [d for d in args.directories if not d.is_dir()]
    if missing:
        return _fail("compare: no such directory: " + ", ".join(str(d) for d in missing))
    try:
        keys = [load_public_key(k) for k in args.key]
        bundles = [load_bundle(d, keys) for d in args.directories]
        args.output.write_text(render_comparison(bundles), encoding="utf-8")
    except ValueError as exc:  # SigningError too: a bad --key
        return _fail(f"compare: {exc}")
    except OSError as exc:
        return _fail(f"compare: cannot write {args.output}: {exc}")
    print(args.output)
    for bundle in bundles:
        print(f"compare: {signer_line(bundle)}", file=sys.stderr)
    unverified = [b["dir"] for b in bundles if b["problems"]]
    for directory in unverified:
        print(f"compare: {directory} fails verification (changed after it was written); "
              "its column is marked UNVERIFIED", file=sys.stderr)
    return 1 if unverified and not args.allow_unverified else 0


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2
