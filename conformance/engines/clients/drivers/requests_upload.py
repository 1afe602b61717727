"""The document's Python example in ``requests``: POST the body with the given headers and
print the contract's one JSON result line (conformance/engines/clients/__init__.py).

Run as its own process with the suite's Python. ``requests`` trusts its own CA bundle
(certifi), not the system's: with --ca-cert it trusts that file as well, through a
combined bundle in a temporary file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

BODY_KEPT = 4096


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # the contract: exit 2, one line
        print(f"requests_upload: {message}", file=sys.stderr)
        sys.exit(2)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = Parser(prog="requests_upload", add_help=False)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--ca-cert")
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--client-cert")
    parser.add_argument("--client-key")
    parser.add_argument("--connect-timeout", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--mode")
    parser.add_argument("--user-agent")
    parser.add_argument("--proxy")
    args = parser.parse_args(argv)
    headers = {}
    for line in args.header:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            parser.error(f"--header must be 'Name: value', got {line!r}")
        headers[name.strip()] = value.strip()
    args.headers = headers
    return args


def trust(args: argparse.Namespace) -> tuple[bool | str, str | None]:
    """``verify`` for requests, and the temporary bundle to remove afterwards."""
    if args.insecure:
        return False, None
    if not args.ca_cert:
        return True, None
    import certifi
    with open(certifi.where(), "rb") as base, open(args.ca_cert, "rb") as extra:
        data = base.read() + b"\n" + extra.read()
    handle, path = tempfile.mkstemp(prefix="requests-ca-", suffix=".pem")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    return path, path


def main(argv: list[str]) -> int:
    args = arguments(argv)
    import requests
    with open(args.body_file, "rb") as body_file:
        payload = body_file.read()
    verify, bundle = trust(args)
    cert = (args.client_cert, args.client_key) if args.client_cert and args.client_key else args.client_cert
    result = {"client": f"python-requests {requests.__version__} (urllib3)", "status": None,
              "protocol": "http/1.1", "elapsed_ms": 0, "error": None, "response_headers": [], "response_body": ""}
    started = time.perf_counter()
    code = 0
    try:
        proxies = {"http": args.proxy, "https": args.proxy} if args.proxy else None
        response = requests.request("POST", args.url, headers=args.headers, data=payload, verify=verify,
                                    cert=cert, timeout=(args.connect_timeout, args.timeout), proxies=proxies)
        result["status"] = response.status_code
        result["response_headers"] = list(response.headers.items())
        result["response_body"] = response.text[:BODY_KEPT]
        print(f"{response.status_code} {response.reason} ({len(response.content)} bytes)")
    except requests.RequestException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        print(result["error"], file=sys.stderr)
        code = 1
    finally:
        if bundle:
            os.unlink(bundle)
    # urllib3 speaks HTTP/1.1 only.
    result["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    print(json.dumps(result, ensure_ascii=False))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
