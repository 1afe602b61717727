"""Every option of the pytest plugin, `certify` and `load`, declared once (``OPTIONS``); their parsers are made from it.

Each :class:`Option` names the surfaces it appears on: ``pytest`` (``pytest --help``, in
the plugin's groups), ``certify`` and ``load`` (argparse subcommands). Where one surface
words an option differently or has another default, the entry carries that surface's
override, so each option keeps its name, default and help on every surface.
``certify`` hands on to pytest every option both of them have (:func:`shared`).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pytest

from conformance import catalog
from conformance.load.pool import DEFAULT_MIX, KIND_HELP
from conformance.wire.har import DEFAULT_BODY_CAP

PYTEST, CERTIFY, LOAD = "pytest", "certify", "load"
ALL = (PYTEST, CERTIFY, LOAD)
SUITE = (PYTEST, CERTIFY)  # the plugin's options that certify has too

# The profiles another option switches on; the rest are chosen with --profile.
SWITCHED_ON_BY = {"auth": "--auth-cookie", "web": "--origin", "delivery": "--sink", "durability": "--collector-command"}
PROFILE_CHOICES = tuple(p for p in catalog.PROFILES if p not in SWITCHED_ON_BY)

CERTIFY_SEED = "20261126"  # certification runs are reproducible: a fixed Hypothesis seed
DEFAULT_MASTER_PORT = 5557  # Locust's own default


def format_mix(mix: Mapping[str, int]) -> str:
    """Shares as --mix takes them: single=70,batch=20,gzip=10 (kinds with none left out)."""
    return ",".join(f"{k}={v}" for k, v in mix.items() if v)


@dataclass(frozen=True)
class Group:
    """A pytest option group; ``sections`` gives the argparse group (title, description)
    on the surfaces that show one (elsewhere its options stand with the others)."""

    name: str
    title: str
    sections: Mapping[str, tuple[str, str]] = field(default_factory=dict, hash=False)


GROUPS = (
    Group("clickstream", "Clickstream HTTP API conformance"),
    Group("clickstream-evidence", "Clickstream conformance: evidence files and signing"),
    Group("clickstream-network", "Clickstream conformance: the network profile"),
    Group("tls", "TLS and proxies for an https endpoint (private CAs, mutual TLS)",
          {CERTIFY: ("TLS and proxies", "for an https endpoint (private CAs, mutual TLS)"),
           LOAD: ("TLS and proxies", "for an https endpoint; the same options as the suite's")}),
    Group("clickstream-summary", "Clickstream conformance: CI job summary"),
)


@dataclass(frozen=True)
class Option:
    """One option: its flags and add_argument keywords, the surfaces it is on, and where a
    surface differs, that surface's keywords (``overrides``: {surface: {keyword: value}})."""

    flags: tuple[str, ...]
    help: str | None
    on: tuple[str, ...]
    dest: str | None = None
    type: Callable[[str], Any] | None = None
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    action: str | None = None
    group: str = "clickstream"
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)

    @property
    def name(self) -> str:
        """The attribute its value lands in (argparse's rule: the first long flag)."""
        if self.dest:
            return self.dest
        return next(f for f in self.flags if f.startswith("--"))[2:].replace("-", "_")

    def arguments(self, surface: str) -> dict[str, Any]:
        """The add_argument keywords on ``surface``; a keyword left at None is not passed."""
        kw = {"dest": self.dest, "type": self.type, "default": self.default, "metavar": self.metavar,
              "choices": self.choices, "action": self.action, "help": self.help}
        kw.update(self.overrides.get(surface, {}))
        return {k: v for k, v in kw.items() if v is not None}


def _o(*flags: str, help: str | None, on: tuple[str, ...], certify_help: str | None = None,
       load_help: str | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
       **keywords: Any) -> Option:
    """An entry; ``certify_help``/``load_help``: the help that surface shows instead."""
    merged = {surface: dict(kw) for surface, kw in (overrides or {}).items()}
    for surface, text in ((CERTIFY, certify_help), (LOAD, load_help)):
        if text is not None:
            merged.setdefault(surface, {})["help"] = text
    return Option(flags, help, on, overrides=merged, **keywords)


_URL_HELP = "collector endpoint, e.g. http://127.0.0.1:8080/collect"
_RECORD_HELP = "how to read the sink's records (default auto)"

# The order is each parser's order (pytest's within each group; argparse's in --help).
OPTIONS: tuple[Option, ...] = (
    # --- the target
    _o("--endpoint", metavar="URL", on=ALL,
       help="collector endpoint to certify, e.g. http://127.0.0.1:8080/collect; "
            "runs the conformance cases instead of the tests found here",
       certify_help=_URL_HELP, load_help=_URL_HELP),
    _o("--app-id", metavar="ID", on=ALL, help="an appId registered on the collector (required with --endpoint)",
       certify_help="a registered appId (default shop_dev for the embedded collector)",
       load_help="a registered appId"),
    # --- load: the traffic
    _o("--users", type=int, default=10, metavar="N", on=(LOAD,), help="concurrent users (default 10)"),
    _o("--spawn-rate", type=float, metavar="N", on=(LOAD,),
       help="users started per second (default: all of them within a second)"),
    _o("--rate", type=float, metavar="REQ/S", on=(LOAD,),
       help="cap on requests per second for the whole run (default: no cap, as fast as answered)"),
    _o("--duration", default="60s", metavar="TIME", on=(LOAD,),
       help="how long the load runs: 90, 90s, 10m, 1h30m (default 60s; a soak is a long one)"),
    _o("--mix", default=format_mix(DEFAULT_MIX), metavar="KIND=SHARE,...", on=(LOAD,),
       help=f"the traffic, as shares (default {format_mix(DEFAULT_MIX)}). "
            + "; ".join(f"{k}: {v}" for k, v in KIND_HELP.items())),
    # --- what the suite sends, and which profiles
    _o("--auth-cookie", metavar="NAME=VALUE", on=ALL,
       help="the collector's authentication cookie; turns on the auth profile. "
            "The value never appears in output or reports",
       certify_help="the collector's auth cookie (auth profile)",
       load_help="the collector's auth cookie, sent with every request"),
    _o("--origin", on=SUITE, metavar="ORIGIN",
       help="a web origin the collector allows, e.g. https://shop.example; turns on the web (CORS) profile",
       certify_help="an allowed web origin (web profile)"),
    _o("--profile", on=SUITE, choices=PROFILE_CHOICES, action="append", metavar="PROFILE",
       help="core (default), strict, websdk, network, h2 or clients; repeat to add several. strict also "
            "demands that invalid events and malformed bodies are refused with 4xx (collectors that "
            "validate at ingestion); websdk drives the real Web SDK in headless Chromium "
            "against the collector (needs --origin and `clickstream-conformance setup websdk`); "
            "network holds slow, idle and flooding connections while a canary sends valid batches; "
            "h2 runs the core cases that matter on the wire again over HTTP/2 (h2 by ALPN on "
            "https, h2c with prior knowledge on http; skipped when the endpoint offers no h2); "
            "clients runs the document's example request in real client programs (curl, OkHttp, "
            "Node's fetch, Python requests, C# HttpClient; prepare them with `clickstream-conformance "
            "setup clients`; a client missing here skips its cases)",
       certify_help="core (default), strict, websdk (the real Web SDK in Chromium; set it up first with "
                    "`clickstream-conformance setup websdk`), network (slow, idle and flooding clients beside "
                    "a canary; on by itself for the embedded collector) or h2 (the wire cases again over "
                    "HTTP/2; chosen by itself when an https endpoint offers h2 by ALPN) or clients (the "
                    "document's example in real client programs; on by itself for the embedded collector "
                    "when any is present); repeat to add several",
       overrides={CERTIFY: {"metavar": None}}),  # certify's help shows the choices
    # certify's default is None: the embedded collector then gets short attacks of its own.
    _o("--network-seconds", on=SUITE, type=float, default=15.0, metavar="SECONDS", group="clickstream-network",
       help="how long each hostile-network attack lasts (default 15, at most 20)",
       certify_help="how long each network attack lasts (default 15; 3 for the embedded collector)",
       overrides={CERTIFY: {"default": None}}),
    _o("--network-sockets", type=int, default=512, metavar="N", group="clickstream-network", on=(PYTEST,),
       help="the most sockets an attack holds at once (default 512; fewer when "
            "ulimit -n leaves less room, which the results say)"),
    _o("--no-network", action="store_true", on=(CERTIFY,),
       help="embedded collector only: leave out the network profile it adds by itself "
            "(five attacks of 3 s; the quickest full certification of the other profiles)"),
    _o("--no-clients", action="store_true", on=(CERTIFY,),
       help="embedded collector only: leave out the clients profile it adds by itself when "
            "a real client program is present (curl, OkHttp, fetch, requests, HttpClient)"),
    _o("--websdk-version", on=SUITE, metavar="VERSION",
       help="the @aws/clickstream-web version the websdk profile drives (default 0.12.6, "
            "the captured one; set it up first with `clickstream-conformance setup websdk "
            "--websdk-version VERSION`)",
       certify_help="the Web SDK version for --profile websdk"),
    _o("--request-timeout", type=float, default=10.0, metavar="SECONDS", on=ALL,
       help="how long each request may take (default 10, as the Web SDK)",
       load_help="time allowed for each request; longer is a timeout, an error (default 10, as the Web SDK)",
       overrides={CERTIFY: {"help": None}}),  # certify shows none
    _o("--conformance-examples", type=int, default=25, metavar="N", on=(PYTEST,),
       help="Hypothesis examples per property-based case (default 25)"),
    _o("--conformance-shrink-budget", type=float, default=20.0, metavar="SECONDS", on=(PYTEST,),
       help="time a property case may spend shrinking a failure to a smaller example "
            "(default 20); the smallest found by then is reported"),
    _o("--conformance-report", metavar="DIR", on=(PYTEST,),
       help="write a certification bundle to DIR: report.html, results.json, "
            "junit.xml, manifest.json"),
    # certify hands its --output on to pytest as --conformance-report.
    _o("--output", "-o", default="conformance-report", metavar="DIR", on=(CERTIFY,),
       help="bundle directory (default ./conformance-report)"),
    _o("--baseline", on=SUITE, metavar="FILE",
       help="known failures (JSON) that do not break the gate; entries that no longer "
            "fail, or name no case, do",
       certify_help="known failures that do not break the gate"),
    # --- the sink (delivery), and the collector's process (durability)
    _o("--sink", metavar="SPEC", on=ALL,
       help="where the collector stores what it accepts, read back (never written) to "
            "check that every event answered 200 was stored intact; turns on the delivery "
            "profile. SPEC is jsonl:PATH (file, directory or glob; .gz too), "
            "sqlite:PATH?query=SQL, postgresql://...?query=SQL, http(s)://URL (JSON lines "
            "or an array) or command:CMD (JSON lines on stdout)",
       certify_help="read back what the collector stored (delivery profile): jsonl:PATH, "
                    "sqlite:PATH?query=SQL, postgresql://...?query=SQL, http(s)://URL or command:CMD; "
                    "see `pytest --help` for the details",
       load_help="read back what the collector stored and account for every event (see `pytest --help` "
                 "for the sink forms)"),
    _o("--sink-wait", type=float, default=10.0, metavar="SECONDS", on=ALL,
       help="how long to wait for events to become visible in the sink, for pipelines "
            "that batch (default 10)",
       certify_help="how long to wait for events to become visible in the sink (default 10)",
       load_help="after the run, how long to wait for every acknowledged event to appear (default 10)"),
    _o("--sink-record", default="auto", metavar="SHAPE", on=ALL,
       help="how to read the sink's records: auto (default: events, arrays of events, "
            "the deployed solution's request records) or a request-record shape such as "
            "body=data,encoding=base64-gzip,appid=appId,query=uri",
       certify_help=_RECORD_HELP, load_help=_RECORD_HELP),
    _o("--sink-timeout", type=float, default=60.0, metavar="SECONDS", on=(PYTEST, LOAD),
       help="time allowed for one full read of the sink (command, HTTP, database; default 60)",
       load_help="time allowed for one full read of the sink (default 60)"),
    _o("--collector-command", on=SUITE, metavar="CMD",
       help="a shell command that runs the collector in the foreground, listening on the "
            "endpoint's port: the suite starts it, and with --sink kills and restarts it to "
            "prove that every 200 survives (the durability profile); it always stops it",
       certify_help="a command that runs the collector in the foreground on the endpoint's port: the "
                    "suite starts and stops it, and with --sink kills and restarts it (durability profile)"),
    _o("--collector-ready-timeout", type=float, default=30.0, metavar="SECONDS", on=(PYTEST,),
       help="how long the collector command may take to listen on the endpoint's port (default 30)"),
    _o("--durability-kills", type=int, default=3, metavar="N", on=(PYTEST,),
       help="how many times the durability cases kill and restart the collector, per signal (default 3)"),
    _o("--durability-seed", type=int, metavar="N", on=(PYTEST,),
       help="seed of the kill schedule (default: random, recorded in the results)"),
    # --- the run's outputs
    _o("--summary-md", on=SUITE, metavar="FILE", group="clickstream-summary",
       help="append a Markdown summary of the run (verdict, profiles, failures with curl lines, "
            "observed profile) to FILE, e.g. --summary-md \"$GITHUB_STEP_SUMMARY\"",
       certify_help="append a Markdown job summary (verdict, profiles, failures with curl lines, observed "
                    "profile) to FILE; default $GITHUB_STEP_SUMMARY when set (GitHub Actions)"),
    _o("--seed", default=CERTIFY_SEED, on=(CERTIFY,), help=f"Hypothesis seed (default {CERTIFY_SEED})"),
    _o("--pytest-arg", action="append", default=[], metavar="ARG", on=(CERTIFY,),
       help="extra argument passed to pytest (repeatable), e.g. --pytest-arg=-x"),
    _o("--har", on=SUITE, metavar="FILE", group="clickstream-evidence",
       help="also write every exchange of the run as HAR 1.2 to FILE (opens in a browser's "
            "devtools; the bundle always holds it as exchanges.har)",
       certify_help="also write every exchange as HAR 1.2 to FILE (the bundle always holds exchanges.har)"),
    # certify's default is None: it hands the cap on only when one is given.
    _o("--har-body-cap", on=SUITE, type=int, default=DEFAULT_BODY_CAP, metavar="BYTES", group="clickstream-evidence",
       help=f"keep request and response bodies up to this size in the HAR; larger ones are kept "
            f"as their size and sha256 (default {DEFAULT_BODY_CAP})",
       certify_help=f"bodies up to this size are kept in the HAR (default {DEFAULT_BODY_CAP}); larger ones "
                    "are kept as size and sha256, and `reproduce` cannot re-send them",
       overrides={CERTIFY: {"default": None}}),
    _o("--sign-key", on=SUITE, metavar="FILE", group="clickstream-evidence",
       help="an Ed25519 private key (from `clickstream-conformance keygen DIR`): the bundle gets "
            "attestation.json, a signed in-toto statement over its files and verdict",
       certify_help="sign the bundle with this Ed25519 private key (make one with `clickstream-conformance "
                    "keygen DIR`): writes attestation.json, which `verify DIR --key PUB` checks"),
    # --- load: the sink while it runs, the report, the gate, distribution
    _o("--sink-poll", type=float, default=0.0, metavar="SECONDS", on=(LOAD,),
       help="also read the sink every SECONDS while the load runs, to measure delivery lag "
            "as it goes (default 0: only after the run)"),
    _o("--output", "-o", metavar="DIR", on=(LOAD,),
       help="write the load report (report.html, results.json, manifest.json)"),
    _o("--max-error-rate", default="0", metavar="RATE", on=(LOAD,),
       help="largest share of requests not answered 200, as 0.001 or 0.1%% (default 0)"),
    _o("--max-p99-ms", type=float, default=1000.0, metavar="MS", on=(LOAD,),
       help="largest 99th percentile of latency (default 1000)"),
    _o("--max-lost", type=int, default=0, metavar="N", on=(LOAD,),
       help="most acknowledged events the sink may miss, with --sink (default 0)"),
    _o("--workers", type=int, default=0, metavar="K", on=(LOAD,),
       help="run a Locust master here and K local worker processes (default 0: one process)"),
    _o("--master", action="store_true", on=(LOAD,),
       help="run only the Locust master; workers join from other machines"),
    _o("--expect-workers", type=int, default=0, metavar="K", on=(LOAD,),
       help="with --master: start once K workers joined"),
    _o("--expect-workers-timeout", type=float, default=60.0, metavar="SECONDS", on=(LOAD,),
       help="how long the master waits for its workers (default 60)"),
    _o("--master-bind-host", default="*", metavar="ADDR", on=(LOAD,),
       help="with --master: interface to listen on (default all)"),
    _o("--master-bind-port", type=int, default=DEFAULT_MASTER_PORT, metavar="PORT", on=(LOAD,),
       help=f"with --master: port to listen on (default {DEFAULT_MASTER_PORT})"),
    _o("--worker", action="store_true", on=(LOAD,),
       help="run a Locust worker that takes its settings from the master at --master-host"),
    _o("--master-host", metavar="HOST", on=(LOAD,), help="with --worker: the master's address"),
    _o("--master-port", type=int, default=DEFAULT_MASTER_PORT, metavar="PORT", on=(LOAD,),
       help=f"with --worker: the master's port (default {DEFAULT_MASTER_PORT})"),
    _o("--seed", type=int, metavar="N", on=(LOAD,),
       help="seed of the body pool (default random; recorded in the report)"),
    _o("--pool", type=int, default=100, metavar="N", dest="pool_events", on=(LOAD,),
       help="distinct events drawn for the body pool before the clock starts (default 100)"),
    _o("--no-progress", dest="progress", action="store_false", on=(LOAD,), help="no live progress line"),
    # --- TLS and proxies (conformance.wire.tls), the same on every surface
    _o("--ca-cert", metavar="FILE", group="tls", on=ALL,
       help="a PEM file of CA certificates to trust besides the system's (a private CA's, for an "
            "https endpoint whose certificate it signed)"),
    _o("--client-cert", metavar="FILE", group="tls", on=ALL,
       help="mutual TLS: the client certificate (PEM) to present; with --client-key, or holding the key"),
    _o("--client-key", metavar="FILE", group="tls", on=ALL,
       help="mutual TLS: the private key (PEM, unencrypted) of --client-cert; only its path is recorded"),
    _o("--insecure", action="store_true", default=False, group="tls", on=ALL,
       help="do not verify the server's certificate at all (for a test set-up only): every report and "
            "the verdict then say \"TLS not verified\""),
    _o("--proxy", metavar="URL", group="tls", on=ALL,
       help="send through this HTTP CONNECT proxy, http://HOST:PORT (default: $HTTPS_PROXY)"),
)


def on_surface(surface: str) -> tuple[Option, ...]:
    """The options ``surface`` has, in the table's order."""
    return tuple(o for o in OPTIONS if surface in o.on)


def shared(a: str, b: str) -> tuple[Option, ...]:
    """The options both surfaces have (those certify hands on to pytest)."""
    return tuple(o for o in OPTIONS if a in o.on and b in o.on)


def pytest_addoption(parser: pytest.Parser) -> None:
    """pytest's hook: the plugin's options, in its groups."""
    groups = {g.name: parser.getgroup(g.name, g.title) for g in GROUPS}  # created in GROUPS' order
    for option in on_surface(PYTEST):
        groups[option.group].addoption(*option.flags, **option.arguments(PYTEST))


def add_arguments(parser: argparse.ArgumentParser, surface: str) -> None:
    """Add ``surface``'s options (certify's or load's) to its argparse parser."""
    sections: dict[str, Any] = {}
    for option in on_surface(surface):
        group = next(g for g in GROUPS if g.name == option.group)
        target: Any = parser
        if surface in group.sections:
            if group.name not in sections:
                sections[group.name] = parser.add_argument_group(*group.sections[surface])
            target = sections[group.name]
        target.add_argument(*option.flags, **option.arguments(surface))
