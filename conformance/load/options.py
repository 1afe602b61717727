"""The `load` subcommand's settings and their checks (each problem: one line, exit 4)."""
from __future__ import annotations

import argparse
import random
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

from conformance.load.pool import DEFAULT_MIX, KINDS
# The options are declared in the one table (conformance.plugin.options), with the
# constants of their defaults; format_mix stays importable from here for the report.
from conformance.plugin.options import DEFAULT_MASTER_PORT, format_mix
from conformance.plugin.settings import BadOption, parse_cookie, parse_endpoint
from conformance.wire.tls import TLSOptions, TLSProblem, check_options
from conformance.wire.tls import options_from as tls_options_from

USAGE_EXIT = 4


class OptionError(ValueError):
    """A bad option; the message is the one line the user sees."""


@dataclass(frozen=True)
class LoadOptions:
    """A load run's settings, checked."""

    endpoint: str = ""
    app_id: str = ""
    users: int = 10
    spawn_rate: float = 10.0
    rate: float | None = None
    duration: float = 60.0
    mix: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MIX))
    auth_cookie: tuple[str, str] | None = None
    request_timeout: float = 10.0
    sink: str | None = None
    sink_wait: float = 10.0
    sink_record: str = "auto"
    sink_timeout: float = 60.0
    sink_poll: float = 0.0
    output: str | None = None
    max_error_rate: float = 0.0
    max_p99_ms: float = 1000.0
    max_lost: int = 0
    workers: int = 0
    master: bool = False
    expect_workers: int = 0
    expect_workers_timeout: float = 60.0
    master_bind_host: str = "*"
    master_bind_port: int = DEFAULT_MASTER_PORT
    worker: bool = False
    master_host: str = "127.0.0.1"
    master_port: int = DEFAULT_MASTER_PORT
    seed: int = 0
    pool_events: int = 100
    progress: bool = True
    tls: TLSOptions = field(default_factory=TLSOptions)  # the same trust as the suite's (conformance.wire.tls)

    @property
    def path(self) -> str:
        return urlsplit(self.endpoint).path or "/"

    @property
    def host(self) -> str:
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def mode(self) -> str:
        if self.worker:
            return "worker"
        if self.master:
            return "master"
        return "workers" if self.workers else "local"

    @property
    def senders_expected(self) -> int:
        return self.expect_workers if self.master else self.workers

    def redacted(self) -> dict[str, Any]:
        """The options for the report: the cookie value hidden."""
        out = asdict(self)
        out["tls"] = self.tls.describe()
        if self.auth_cookie:
            out["auth_cookie"] = f"{self.auth_cookie[0]}=<redacted>"
        return out


def one_line_errors(parser: argparse.ArgumentParser) -> None:
    """Make argparse's own errors (unknown option, not a number) one line and exit 4."""
    def error(message: str) -> NoReturn:
        print(f"{parser.prog}: {message}", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    parser.error = error  # type: ignore[method-assign]


def options_from_args(args: argparse.Namespace) -> LoadOptions:
    """Check every option; OptionError names the first bad one."""
    if args.worker:
        return _worker_options(args)
    endpoint = args.endpoint
    if not endpoint:
        raise OptionError("--endpoint URL is required (or --worker --master-host HOST)")
    try:
        parse_endpoint(endpoint)
        cookie = parse_cookie(args.auth_cookie)
    except BadOption as exc:
        raise OptionError(str(exc)) from None
    if not args.app_id:
        raise OptionError("--app-id ID is required (an appId registered on the collector)")
    _positive(args.users, "--users", integer=True)
    spawn_rate = args.spawn_rate if args.spawn_rate is not None else float(args.users)
    _positive(spawn_rate, "--spawn-rate")
    if args.rate is not None:
        _positive(args.rate, "--rate")
    _positive(args.request_timeout, "--request-timeout")
    _positive(args.sink_timeout, "--sink-timeout")
    for value, name in ((args.sink_wait, "--sink-wait"), (args.sink_poll, "--sink-poll"), (args.max_p99_ms, "--max-p99-ms"),
                        (args.max_lost, "--max-lost")):
        if not value >= 0:
            raise OptionError(f"{name} must be zero or more, got {value}")
    if args.sink is None and (args.sink_poll or args.sink_record != "auto"):
        raise OptionError("--sink-poll and --sink-record need --sink SPEC")
    if args.pool_events < 1:
        raise OptionError(f"--pool must be at least 1, got {args.pool_events}")
    _check_distribution(args)
    tls = tls_options_from(args.ca_cert, args.client_cert, args.client_key, args.insecure, args.proxy,
                           endpoint=endpoint)
    try:
        check_options(tls, endpoint)
    except TLSProblem as exc:
        raise OptionError(str(exc)) from None
    return LoadOptions(
        tls=tls, endpoint=endpoint, app_id=args.app_id, users=args.users, spawn_rate=spawn_rate, rate=args.rate,
        duration=parse_duration(args.duration), mix=parse_mix(args.mix), auth_cookie=cookie,
        request_timeout=args.request_timeout, sink=args.sink, sink_wait=args.sink_wait, sink_record=args.sink_record,
        sink_timeout=args.sink_timeout, sink_poll=args.sink_poll, output=args.output,
        max_error_rate=parse_rate(args.max_error_rate), max_p99_ms=args.max_p99_ms, max_lost=args.max_lost,
        workers=args.workers, master=args.master, expect_workers=args.expect_workers,
        expect_workers_timeout=args.expect_workers_timeout, master_bind_host=args.master_bind_host,
        master_bind_port=args.master_bind_port, seed=args.seed if args.seed is not None else random.randrange(2**31),
        pool_events=args.pool_events, progress=args.progress)


def _worker_options(args: argparse.Namespace) -> LoadOptions:
    if not args.master_host:
        raise OptionError("--worker needs --master-host HOST (the machine running --master)")
    if args.endpoint or args.app_id or args.master or args.workers:
        raise OptionError("--worker takes the endpoint, appId and the rest from its master: "
                          "give it only --master-host and --master-port")
    _port(args.master_port, "--master-port")
    return LoadOptions(worker=True, master_host=args.master_host, master_port=args.master_port, progress=False)


def _check_distribution(args: argparse.Namespace) -> None:
    if args.workers < 0:
        raise OptionError(f"--workers must be zero or more, got {args.workers}")
    if args.master and args.workers:
        raise OptionError("--master and --workers are two ways of running the master: give one")
    if args.master and args.expect_workers < 1:
        raise OptionError("--master needs --expect-workers K (K at least 1)")
    if args.expect_workers and not args.master:
        raise OptionError("--expect-workers goes with --master (for local workers use --workers K)")
    if args.master_host:
        raise OptionError("--master-host goes with --worker")
    _positive(args.expect_workers_timeout, "--expect-workers-timeout")
    _port(args.master_bind_port, "--master-bind-port")


def parse_duration(text: str) -> float:
    """'90', '90s', '10m', '1h30m', '2m30s' -> seconds."""
    spec = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", spec):
        seconds = float(spec)
    elif re.fullmatch(r"(\d+h)?(\d+m)?(\d+s)?", spec) and spec:
        units = {"h": 3600, "m": 60, "s": 1}
        seconds = float(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", spec)))
    else:
        raise OptionError(f"--duration must look like 90, 90s, 10m or 1h30m, got {text!r}")
    if seconds <= 0:
        raise OptionError(f"--duration must be positive, got {text!r}")
    return seconds


def parse_mix(text: str) -> dict[str, int]:
    """'single=70,batch=20,gzip=10' -> shares; kinds not named get none."""
    mix = {kind: 0 for kind in KINDS}
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, sep, share = (s.strip() for s in item.partition("="))
        if kind not in mix:
            raise OptionError(f"--mix: unknown kind {kind!r}; the kinds are {', '.join(KINDS)}")
        if not sep or not share.isdigit():
            raise OptionError(f"--mix: {kind} needs a whole-number share, as in {kind}=20")
        mix[kind] = int(share)
    if not any(mix.values()):
        raise OptionError(f"--mix must give at least one kind a share, got {text!r}")
    return mix


def parse_rate(text: str) -> float:
    """'0', '0.001' or '0.1%' -> a fraction from 0 to 1."""
    spec = str(text).strip()
    try:
        value = float(spec[:-1]) / 100 if spec.endswith("%") else float(spec)
    except ValueError:
        raise OptionError(f"--max-error-rate must be a fraction like 0.001 or a percentage like 0.1%, got {text!r}") from None
    if not 0 <= value <= 1:
        raise OptionError(f"--max-error-rate must be from 0 to 1 (0% to 100%), got {text!r}")
    return value


def _positive(value: float, name: str, integer: bool = False) -> None:
    if not value > 0:
        kind = "a positive whole number" if integer else "positive"
        raise OptionError(f"{name} must be {kind}, got {value}")


def _port(value: int, name: str) -> None:
    if not 0 < value < 65536:
        raise OptionError(f"{name} must be a port from 1 to 65535, got {value}")


__all__ = ["LoadOptions", "OptionError", "options_from_args", "one_line_errors",
           "parse_duration", "parse_mix", "parse_rate", "format_mix", "USAGE_EXIT"]
