"""The plugin's options, as pytest sees them (``pytest --help``, group "clickstream")."""
from __future__ import annotations

import pytest

from conformance.plugin import evidence as evidence_files


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("clickstream", "Clickstream HTTP API conformance")
    group.addoption("--endpoint", metavar="URL",
                    help="collector endpoint to certify, e.g. http://127.0.0.1:8080/collect; "
                         "runs the conformance cases instead of the tests found here")
    group.addoption("--app-id", metavar="ID", help="an appId registered on the collector (required with --endpoint)")
    group.addoption("--auth-cookie", metavar="NAME=VALUE",
                    help="the collector's authentication cookie; turns on the auth profile. "
                         "The value never appears in output or reports")
    group.addoption("--origin", metavar="ORIGIN",
                    help="a web origin the collector allows, e.g. https://shop.example; turns on the web (CORS) profile")
    group.addoption("--profile", choices=("core", "strict", "websdk", "network", "h2"), action="append",
                    metavar="PROFILE",
                    help="core (default), strict, websdk, network or h2; repeat to add several. strict also "
                         "demands that invalid events and malformed bodies are refused with 4xx (collectors that "
                         "validate at ingestion); websdk drives the real Web SDK in headless Chromium "
                         "against the collector (needs --origin and `clickstream-conformance setup websdk`); "
                         "network holds slow, idle and flooding connections while a canary sends valid batches; "
                         "h2 runs the core cases that matter on the wire again over HTTP/2 (h2 by ALPN on "
                         "https, h2c with prior knowledge on http; skipped when the endpoint offers no h2)")
    group.addoption("--websdk-version", metavar="VERSION",
                    help="the @aws/clickstream-web version the websdk profile drives (default 0.12.6, "
                         "the captured one; set it up first with `clickstream-conformance setup websdk "
                         "--websdk-version VERSION`)")
    group.addoption("--request-timeout", type=float, default=10.0, metavar="SECONDS",
                    help="how long each request may take (default 10, as the Web SDK)")
    group.addoption("--conformance-examples", type=int, default=25, metavar="N",
                    help="Hypothesis examples per property-based case (default 25)")
    group.addoption("--conformance-shrink-budget", type=float, default=20.0, metavar="SECONDS",
                    help="time a property case may spend shrinking a failure to a smaller example "
                         "(default 20); the smallest found by then is reported")
    group.addoption("--conformance-report", metavar="DIR",
                    help="write a certification bundle to DIR: report.html, results.json, "
                         "junit.xml, manifest.json")
    group.addoption("--baseline", metavar="FILE",
                    help="known failures (JSON) that do not break the gate; entries that no longer "
                         "fail, or name no case, do")
    group.addoption("--sink", metavar="SPEC",
                    help="where the collector stores what it accepts, read back (never written) to "
                         "check that every event answered 200 was stored intact; turns on the delivery "
                         "profile. SPEC is jsonl:PATH (file, directory or glob; .gz too), "
                         "sqlite:PATH?query=SQL, postgresql://...?query=SQL, http(s)://URL (JSON lines "
                         "or an array) or command:CMD (JSON lines on stdout)")
    group.addoption("--sink-wait", type=float, default=10.0, metavar="SECONDS",
                    help="how long to wait for events to become visible in the sink, for pipelines "
                         "that batch (default 10)")
    group.addoption("--sink-record", default="auto", metavar="SHAPE",
                    help="how to read the sink's records: auto (default: events, arrays of events, "
                         "the deployed solution's request records) or a request-record shape such as "
                         "body=data,encoding=base64-gzip,appid=appId,query=uri")
    group.addoption("--sink-timeout", type=float, default=60.0, metavar="SECONDS",
                    help="time allowed for one full read of the sink (command, HTTP, database; default 60)")
    group.addoption("--collector-command", metavar="CMD",
                    help="a shell command that runs the collector in the foreground, listening on the "
                         "endpoint's port: the suite starts it, and with --sink kills and restarts it to "
                         "prove that every 200 survives (the durability profile); it always stops it")
    group.addoption("--collector-ready-timeout", type=float, default=30.0, metavar="SECONDS",
                    help="how long the collector command may take to listen on the endpoint's port (default 30)")
    group.addoption("--durability-kills", type=int, default=3, metavar="N",
                    help="how many times the durability cases kill and restart the collector, per signal (default 3)")
    group.addoption("--durability-seed", type=int, metavar="N",
                    help="seed of the kill schedule (default: random, recorded in the results)")
    evidence_files.add_options(parser)
    network_group = parser.getgroup("clickstream-network", "Clickstream conformance: the network profile")
    network_group.addoption("--network-seconds", type=float, default=15.0, metavar="SECONDS",
                            help="how long each hostile-network attack lasts (default 15, at most 20)")
    network_group.addoption("--network-sockets", type=int, default=512, metavar="N",
                            help="the most sockets an attack holds at once (default 512; fewer when "
                                 "ulimit -n leaves less room, which the results say)")
    _add_tls_options(parser)
    _add_summary_option(parser)


def _add_tls_options(parser: pytest.Parser) -> None:
    from conformance.wire.tls import OPTION_HELP
    group = parser.getgroup("tls", "TLS and proxies for an https endpoint (private CAs, mutual TLS)")
    group.addoption("--ca-cert", metavar="FILE", help=OPTION_HELP["ca_cert"])
    group.addoption("--client-cert", metavar="FILE", help=OPTION_HELP["client_cert"])
    group.addoption("--client-key", metavar="FILE", help=OPTION_HELP["client_key"])
    group.addoption("--insecure", action="store_true", default=False, help=OPTION_HELP["insecure"])
    group.addoption("--proxy", metavar="URL", help=OPTION_HELP["proxy"])


def _add_summary_option(parser: pytest.Parser) -> None:
    group = parser.getgroup("clickstream-summary", "Clickstream conformance: CI job summary")
    group.addoption("--summary-md", metavar="FILE",
                    help="append a Markdown summary of the run (verdict, profiles, failures with curl lines, "
                         "observed profile) to FILE, e.g. --summary-md \"$GITHUB_STEP_SUMMARY\"")

