"""`clickstream-conformance certify`: run the suite through pytest and write the bundle.

Without --endpoint the embedded reference collector is started on a free loopback
port (with a throw-away database, a random auth cookie and an allowed web origin)
and certified in the core, auth, web, delivery and durability profiles (its database
is the sink; the suite starts it as its own process, so it can kill and restart it),
and the network profile (hostile clients beside a canary, 3 s an attack; --no-network
leaves it out), and the clients profile when any real client program is present (the
document's example request in curl, OkHttp, fetch, requests, HttpClient; --no-clients
leaves it out), so a fresh
install can show what a full run and its report look like.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import pytest

from conformance.plugin.options import CERTIFY, PYTEST, shared
from conformance.plugin.settings import BadOption, parse_cookie, parse_endpoint

if TYPE_CHECKING:  # pragma: no cover
    from conformance.wire.tls import TLSOptions

EMBEDDED_APP_ID = "shop_dev"
EMBEDDED_ORIGIN = "https://shop.example"
EMBEDDED_NETWORK_SECONDS = 3.0
# The profiles the embedded run adds by itself, each with its --no-PROFILE to leave it out.
ADDED_BY_EMBEDDED = ("network", "clients")
# The reference collector keeps each decoded event as JSON text in its events table.
REFERENCE_SINK_QUERY = "SELECT json FROM events"


def pytest_args(args: argparse.Namespace, endpoint: str, app_id: str) -> list[str]:
    """The pytest command line equivalent to this certification."""
    values = dict(vars(args), endpoint=endpoint, app_id=app_id, profile=args.profile or ["core"],
                  summary_md=summary_path(args))
    if not args.sink:  # the sink's settings mean nothing without one
        values.update(sink_wait=None, sink_record=None)
    for dest in ("har", "sign_key"):  # handed on absolute, as these two always were
        if values.get(dest):
            values[dest] = str(Path(values[dest]).resolve())
    argv = handed_on(values)
    argv += [f"--hypothesis-seed={args.seed}", "--conformance-report", str(Path(args.output)),
             "-p", "no:cacheprovider", "-q",
             # The suite's own asserts only guard against its bugs; rewriting them (and every
             # other plugin's, Hypothesis's included) cost about 1 s a start wherever bytecode
             # is not cached (PYTHONDONTWRITEBYTECODE, a fresh container).
             "--assert=plain"]
    if args.collector_command:
        argv.append(f"--durability-seed={zlib.crc32(str(args.seed).encode()) & 0x7FFFFFFF}")
    # An empty ini file keeps the caller's pytest configuration out of the run; the extras
    # come last, so that they win over what certify chose.
    return argv + ["-c", _empty_ini(), "--rootdir", str(Path.cwd())] + list(args.pytest_arg)


def handed_on(values: Mapping[str, Any]) -> list[str]:
    """Every option certify and pytest both have, as pytest arguments, where it has a
    value: not None, False, an empty string or list (0 is a value)."""
    argv = []
    for option in shared(CERTIFY, PYTEST):
        value = values.get(option.name)
        if value is None or value is False or value == "" or value == []:
            continue
        flag = option.flags[0]
        if value is True:
            argv.append(flag)
        else:  # --flag=value, one for each value: a value may start with "-"
            argv += [f"{flag}={v}" for v in (value if option.action == "append" else [value])]
    return argv


# `python -m pytest` would put the working directory first on sys.path, and in a checkout
# (the quick start: `pip install .` then certify) its conformance/ folder would shadow the
# installed package, which alone holds conformance.strategies and conformance.reports.
RUN_PYTEST = "import sys\nif sys.path[0] == '': del sys.path[0]\nimport pytest\nsys.exit(pytest.console_main())"


def certify(args: argparse.Namespace) -> int:
    with _target(args) as (endpoint, app_id):
        print(f"certifying {endpoint} (appId {app_id})", flush=True)
        _choose_h2(args, endpoint)
        # pytest runs in its own process: a clean import state; without --endpoint it
        # starts the embedded collector itself, as a command it owns.
        code = subprocess.call([sys.executable, "-c", RUN_PYTEST, *pytest_args(args, endpoint, app_id)])
    # Only a run that reached a verdict (exit 0 or 1) wrote a bundle of its own; any
    # report.html otherwise is an earlier run's and must not be named.
    report = Path(args.output).resolve() / "report.html"
    if code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and report.exists():
        print(f"report: {report}")
    else:
        print(f"no report named: the run reached no verdict (exit {int(code)})", file=sys.stderr)
    return code


def _choose_h2(args: argparse.Namespace, endpoint: str) -> None:
    """Real clients speak HTTP/2 to a server that offers it: so does the certification,
    when the endpoint's TLS selects h2 from the offer h2, http/1.1."""
    profiles = args.profile or ["core"]
    if "h2" in profiles or not endpoint.startswith("https:"):
        return
    try:
        from conformance.wire.h2 import alpn_offers_h2
    except ImportError:  # the h2 extra is not installed: nothing to run over HTTP/2
        return
    if alpn_offers_h2(endpoint, tls=_tls_options(args)):
        print("the endpoint offers h2 by ALPN: the h2 profile is on", flush=True)
        args.profile = [*profiles, "h2"]


def _tls_options(args: argparse.Namespace) -> "TLSOptions":
    """The run's TLS options from certify's arguments (each absent one at its default)."""
    from conformance.wire.tls import TLSOptions
    return TLSOptions(ca_cert=getattr(args, "ca_cert", None), client_cert=getattr(args, "client_cert", None),
                      client_key=getattr(args, "client_key", None), insecure=bool(getattr(args, "insecure", False)),
                      proxy=getattr(args, "proxy", None))


def _present_clients() -> set[str]:
    """{"clients"} when any real client program is here (curl almost always is): the
    embedded collector's full run then runs the document's example in each of them."""
    from conformance.engines.clients import SetupError
    from conformance.engines.clients.registry import found
    ready = sorted(name for name, program in found().items() if not isinstance(program, SetupError))
    if not ready:
        return set()
    print(f"client programs here ({', '.join(ready)}): the clients profile is on", file=sys.stderr)
    return {"clients"}


@contextlib.contextmanager
def _target(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    if args.endpoint:
        if not args.app_id:
            raise SystemExit("certify: --app-id is required with --endpoint")
        for profile in ADDED_BY_EMBEDDED:
            if getattr(args, f"no_{profile}", False):
                raise SystemExit(f"certify: --no-{profile} is for the embedded collector; with --endpoint, "
                                 f"the {profile} profile runs only when --profile {profile} asks for it")
        _check(parse_endpoint, args.endpoint)
        _check(parse_cookie, args.auth_cookie)
        yield args.endpoint, args.app_id
        return
    # The embedded collector is ours to set up: switch on the auth, web and network profiles
    # too (short attacks: the reference has no timeouts to measure, only starvation to show).
    extra = set() if getattr(args, "no_network", False) else {"network"}
    args.profile = sorted(set(args.profile or ["core"]) | extra)
    if "network" in args.profile and getattr(args, "network_seconds", None) is None:
        args.network_seconds = EMBEDDED_NETWORK_SECONDS
    args.auth_cookie = args.auth_cookie or f"conformance_session={secrets.token_urlsafe(18)}"
    if not args.origin and "websdk" in (args.profile or ()):
        # The SDK's page needs an origin a browser sends the cookie from: the collector's own
        # host (same site), since the embedded collector listens on plain http.
        args.origin = f"http://127.0.0.1:{_free_port()}"
    args.origin = args.origin or EMBEDDED_ORIGIN
    app_id = args.app_id or EMBEDDED_APP_ID
    _check(parse_cookie, args.auth_cookie)
    # After the checks: a bad option is the only line it prints.
    if "clients" not in args.profile and not getattr(args, "no_clients", False):
        args.profile = sorted(set(args.profile) | _present_clients())
    with tempfile.TemporaryDirectory(prefix="clickstream-reference-") as tmp:
        db_path = os.path.join(tmp, "collector.sqlite3")
        port = _free_port()
        # The suite starts this command itself (it owns the process: the durability
        # profile kills and restarts it) and reads its database back as the sink.
        # The collector's own module, not `conformance.cli.main serve`: the main CLI's parser
        # imports Hypothesis and the load options, which doubled every (re)start.
        args.collector_command = args.collector_command or shlex.join([
            sys.executable, "-m", "conformance.collector.serve", "--host", "127.0.0.1", "--port", str(port),
            "--app-id", app_id, "--auth-cookie", args.auth_cookie, "--allow-origin", args.origin, "--db", db_path])
        args.sink = args.sink or reference_sink(db_path)
        print(f"the embedded reference collector will listen on 127.0.0.1:{port}", file=sys.stderr)
        yield f"http://127.0.0.1:{port}/collect", app_id


def _check(parse: Callable[[str], Any], text: str | None) -> None:
    """A bad endpoint or cookie is one line and the usage exit (4), as from pytest."""
    try:
        parse(text)
    except BadOption as exc:
        print(f"certify: {exc}", file=sys.stderr)
        raise SystemExit(int(pytest.ExitCode.USAGE_ERROR)) from None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reference_sink(db_path: str) -> str:
    """The --sink spec that reads the reference collector's database."""
    return f"sqlite:{db_path}?query={REFERENCE_SINK_QUERY}"


def summary_path(args: argparse.Namespace) -> str | None:
    """--summary-md, else GitHub's step summary file when running in GitHub Actions."""
    return getattr(args, "summary_md", None) or os.environ.get("GITHUB_STEP_SUMMARY") or None


def _empty_ini() -> str:
    path = Path(tempfile.gettempdir()) / "clickstream-conformance-empty.ini"
    if not path.exists():
        path.write_text("[pytest]\n")
    return str(path)
