"""The pytest plugin: options, endpoint mode, outcome classes, summary.

With ``--endpoint URL`` pytest runs the conformance cases shipped in
``conformance/cases`` against URL, from any directory, and nothing else. Without it
the plugin stays out of the way (the checkout's self-tests run as usual).

Outcomes (after Autobahn|Testsuite): PASS, FAIL (a MUST broken), WARN (a SHOULD
broken), INFO (observed, no verdict), ERROR (could not judge), SKIP. Only FAIL and
ERROR make pytest exit non-zero.
"""
from __future__ import annotations

import gc
import random
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conformance import __version__, catalog
from conformance.plugin import baseline, evidence as evidence_files
from conformance.wire.http1 import redact
from conformance.failures import (
    ERROR, FAIL, INFO, PASS, SKIP, WARN, ConformanceFailure, CouldNotJudge,
)
from conformance.plugin.results import RunResults
from conformance.target import CaseRecord, Settings, Target

CASES_DIR = Path(__file__).parent.parent / "cases"
SETTINGS_KEY = pytest.StashKey[Settings]()
TARGET_KEY = pytest.StashKey[Target]()
RUN_KEY = pytest.StashKey[RunResults]()
BASELINE_KEY = pytest.StashKey["baseline.Baseline"]()
PROCESS_KEY = pytest.StashKey["CollectorProcess"]()  # with --collector-command
EVIDENCE_KEY = pytest.StashKey["evidence_files.EvidenceFiles"]()  # the HAR log and the signing key

TEST_STATUS = {  # outcome -> (category, short letter, verbose word)
    PASS: ("passed", ".", "PASS"),
    FAIL: ("failed", "F", "FAIL"),
    WARN: ("warn", "W", "WARN"),
    INFO: ("info", "I", "INFO"),
    ERROR: ("error", "E", "ERROR"),
    SKIP: ("skipped", "s", "SKIP"),
}
LEVEL_RANK = {catalog.MUST: 3, catalog.SHOULD: 2, catalog.INFO: 1}
# Areas that run after all others, in this order: the hostile-network attacks after the
# cases they could disturb, and before the delivery account that judges their canary's 200s.
AREAS_LAST = {"network": 0.5, "delivery": 1, "durability": 2}


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


# --- configuration and the endpoint mode -----------------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): the catalog requirement IDs a conformance case checks")
    endpoint = config.getoption("endpoint")
    if endpoint is None:
        if config.getoption("app_id") or config.getoption("auth_cookie") or config.getoption("origin") \
                or config.getoption("sign_key") or config.getoption("har"):
            raise pytest.UsageError("--app-id, --auth-cookie, --origin, --har and --sign-key need --endpoint URL "
                                    "(or use `clickstream-conformance certify` to test the reference collector)")
        return
    if config.getoption("help") or config.getoption("version", False):
        return
    settings = settings_from_options(config)
    _start_collector(config, settings)
    reason, tls_facts = _probe(settings)
    if reason:
        raise pytest.UsageError(f"cannot reach {settings.endpoint}: {reason}")
    _probe_sink(settings)
    config.stash[SETTINGS_KEY] = settings
    config.stash[TARGET_KEY] = Target(settings)
    config.stash[RUN_KEY] = RunResults(settings, redacted_options(config, settings))
    config.stash[EVIDENCE_KEY] = evidence_files.from_options(config, settings.secrets)
    config.stash[RUN_KEY].signing = evidence_files.signing_record(config.stash[EVIDENCE_KEY])
    config.stash[RUN_KEY].tls = _tls_record(settings, tls_facts)
    baseline_path = config.getoption("baseline")
    if baseline_path:
        config.stash[BASELINE_KEY] = baseline.load(baseline_path)
    report_dir = config.getoption("conformance_report")
    if report_dir:
        _prepare_report_dir(Path(report_dir))
        if not config.option.xmlpath:
            config.option.xmlpath = str(Path(report_dir) / "junit.xml")
    config.args[:] = _case_args(config.args)
    config.pluginmanager.register(EndpointMode(config), "clickstream-endpoint-mode")


def _prepare_report_dir(directory: Path) -> None:
    """An empty bundle folder: an earlier bundle's files go, anyone else's stop the run."""
    from conformance.reports.bundle import clear_bundle_dir
    try:
        clear_bundle_dir(directory)
        directory.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as exc:
        raise pytest.UsageError(f"--conformance-report: {exc}") from None


def settings_from_options(config: pytest.Config) -> Settings:
    """Validate the options; each problem is one clear line, never a traceback."""
    endpoint = config.getoption("endpoint")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise pytest.UsageError(f"--endpoint must be an http(s) URL like http://127.0.0.1:8080/collect, got {endpoint!r}")
    if parts.query or parts.fragment:
        raise pytest.UsageError(f"--endpoint must not carry a query or fragment (the cases add appId and "
                                f"the rest), got {endpoint!r}")
    try:
        parts.port
    except ValueError:
        raise pytest.UsageError(f"--endpoint has a bad port: {endpoint!r}") from None
    app_id = config.getoption("app_id")
    if not app_id:
        raise pytest.UsageError("--app-id ID is required with --endpoint (an appId registered on the collector)")
    timeout = config.getoption("request_timeout")
    if not timeout > 0:
        raise pytest.UsageError(f"--request-timeout must be a positive number of seconds, got {timeout}")
    examples = config.getoption("conformance_examples")
    if examples < 1:
        raise pytest.UsageError(f"--conformance-examples must be at least 1, got {examples}")
    shrink_budget = config.getoption("conformance_shrink_budget")
    if not shrink_budget >= 0:
        raise pytest.UsageError(f"--conformance-shrink-budget must be 0 or more seconds, got {shrink_budget}")
    profiles = {"core"}
    cookie = parse_cookie(config.getoption("auth_cookie"))
    if cookie:
        profiles.add("auth")
    origin = config.getoption("origin")
    if origin is not None:
        o = urlsplit(origin)
        if o.scheme not in ("http", "https") or not o.hostname or o.path not in ("", "/"):
            raise pytest.UsageError(f"--origin must be a scheme and host like https://shop.example, got {origin!r}")
        origin = origin.rstrip("/")
        profiles.add("web")
    chosen = chosen_profiles(config)
    if "strict" in chosen:
        profiles.add("strict")
    websdk_options = websdk_settings(config, endpoint, origin, cookie) if "websdk" in chosen else {}
    if websdk_options:
        profiles.add("websdk")
    if "h2" in chosen:
        profiles.add(h2_profile())
    sink_options = sink_settings(config)
    if sink_options:
        profiles.add("delivery")
    network_options = network_settings(config) if "network" in chosen else {}
    if network_options:
        profiles.add("network")
    process_options = collector_settings(config)
    if sink_options and process_options:
        profiles.add("durability")
    return Settings(endpoint, app_id, cookie, origin, frozenset(profiles), timeout, examples,
                    shrink_budget=shrink_budget, tls=tls_settings(config, endpoint),
                    **sink_options, **process_options, **websdk_options, **network_options)


def network_settings(config: pytest.Config) -> dict[str, Any]:
    """The network profile's bounds, checked: at most 20 s an attack, at least one socket."""
    seconds, sockets = config.getoption("network_seconds"), config.getoption("network_sockets")
    if not 0 < seconds <= 20:
        raise pytest.UsageError(f"--network-seconds must be more than 0 and at most 20, got {seconds:g}")
    if not 1 <= sockets <= 10000:
        raise pytest.UsageError(f"--network-sockets must be between 1 and 10000, got {sockets}")
    return {"network_seconds": seconds, "network_sockets": sockets}


def tls_settings(config: pytest.Config, endpoint: str) -> Any:
    """The TLS options (conformance.wire.tls.TLSOptions), checked: a missing file, a key
    that is not the certificate's or TLS options with an http:// endpoint is one line."""
    from conformance.wire.tls import TLSProblem, check_options, options_from
    options = options_from(config.getoption("ca_cert"), config.getoption("client_cert"),
                           config.getoption("client_key"), config.getoption("insecure"),
                           config.getoption("proxy"), endpoint=endpoint)
    try:
        check_options(options, endpoint)
    except TLSProblem as exc:
        raise pytest.UsageError(str(exc)) from None
    return options


def _tls_record(settings: Settings, facts: dict[str, Any] | None) -> dict[str, Any] | None:
    from conformance.wire.tls import run_record
    return run_record(settings.tls, facts)


def chosen_profiles(config: pytest.Config) -> list[str]:
    """The --profile values given (core when none)."""
    return sorted(set(config.getoption("profile") or ["core"]))


def h2_profile() -> str:
    """The h2 profile's name, once its library is known to be installed (one line if not)."""
    try:
        import h2.connection  # noqa: F401
    except ImportError:
        raise pytest.UsageError("--profile h2 needs the h2 package: "
                                "pip install 'clickstream-conformance[h2]'") from None
    return "h2"


def websdk_settings(config: pytest.Config, endpoint: str, origin: str | None,
                    cookie: tuple[str, str] | None) -> dict[str, Any]:
    """What the websdk profile needs, checked before any case runs: one line each."""
    from conformance.engines import websdk
    if origin is None:
        raise pytest.UsageError("--profile websdk needs --origin ORIGIN, a web origin the collector allows: "
                                "the suite serves the SDK's page from it for the cross-origin send")
    end, page = urlsplit(endpoint), urlsplit(origin)
    if cookie and end.scheme == "http" and (page.scheme, page.hostname) != (end.scheme, end.hostname):
        # A browser sends a cookie cross-site only if it is Secure, which needs https.
        raise pytest.UsageError(f"--profile websdk with --auth-cookie: a browser sends no cookie from {origin} "
                                f"to the http endpoint {endpoint} (another site); give an --origin on the "
                                f"endpoint's host, e.g. http://{end.hostname}:8124, or an https endpoint")
    version = config.getoption("websdk_version") or websdk.DEFAULT_VERSION
    try:
        sdk = websdk.installed(version)
        chromium = websdk.find_chromium()
        driver = websdk.check_driver()
    except websdk.SetupError as exc:
        raise pytest.UsageError(f"--profile websdk: {exc}") from None
    return {"websdk": sdk, "chromium": chromium, "websdk_driver": driver}


def collector_settings(config: pytest.Config) -> dict[str, Any]:
    """The --collector-command options, checked."""
    command = config.getoption("collector_command")
    if command is None:
        return {}
    if not command.strip():
        raise pytest.UsageError("--collector-command must not be empty")
    ready, kills = config.getoption("collector_ready_timeout"), config.getoption("durability_kills")
    if not ready > 0:
        raise pytest.UsageError(f"--collector-ready-timeout must be a positive number of seconds, got {ready}")
    if not 1 <= kills <= 20:
        raise pytest.UsageError(f"--durability-kills must be from 1 to 20, got {kills}")
    seed = config.getoption("durability_seed")
    return {"collector_command": command, "collector_ready_timeout": ready, "durability_kills": kills,
            "durability_seed": seed if seed is not None else random.randrange(2**31)}


def _start_collector(config: pytest.Config, settings: Settings) -> None:
    """Start the collector the suite owns, before the endpoint is probed; it is stopped
    when pytest ends, however it ends."""
    if settings.collector_command is None:
        return
    from conformance.engines.process import CollectorCommandError, CollectorProcess
    process = CollectorProcess(settings.collector_command, settings.endpoint, settings.collector_ready_timeout)
    config.add_cleanup(process.stop)
    try:
        process.start()
    except CollectorCommandError as exc:
        raise pytest.UsageError(f"--collector-command: {exc}") from None
    config.stash[PROCESS_KEY] = process


def sink_settings(config: pytest.Config) -> dict[str, Any]:
    """The --sink options, checked: an unknown scheme or a malformed spec is one line."""
    spec = config.getoption("sink")
    if spec is None:
        return {}
    from conformance.engines.sinks import SinkError, open_sink
    from conformance.engines.sinks.records import parse_record_shape
    wait, read_timeout = config.getoption("sink_wait"), config.getoption("sink_timeout")
    if not wait >= 0:
        raise pytest.UsageError(f"--sink-wait must be zero or more seconds, got {wait}")
    if not read_timeout > 0:
        raise pytest.UsageError(f"--sink-timeout must be a positive number of seconds, got {read_timeout}")
    try:
        sink = open_sink(spec, timeout=read_timeout)
        shape = parse_record_shape(config.getoption("sink_record"))
    except SinkError as exc:
        raise pytest.UsageError(f"--sink: {exc}") from None
    return {"sink": sink, "sink_wait": wait, "record_shape": shape, "sink_secrets": tuple(sink.secrets)}


def _probe_sink(settings: Settings) -> None:
    """Read the sink once before any case runs, so a wrong path or query is one line."""
    if settings.sink is None:
        return
    from conformance.engines.sinks import SinkError
    try:
        settings.sink.probe()
    except SinkError as exc:
        raise pytest.UsageError(f"cannot read the sink {settings.sink.description}: {exc}") from None


def parse_cookie(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value:
        raise pytest.UsageError("--auth-cookie must look like NAME=VALUE")
    return name.strip(), value


def _probe(settings: Settings) -> tuple[str | None, dict[str, Any] | None]:
    """(why the endpoint cannot be used, or None; what its TLS negotiated, or None)."""
    from conformance.wire.http1 import probe_target
    return probe_target(settings.endpoint, settings.timeout, settings.tls)


def _case_args(args: list[str]) -> list[str]:
    """Keep arguments that point into the cases; otherwise run all of them."""
    inside = [a for a in args if _within_cases(a)]
    return inside or [str(CASES_DIR)]


def _within_cases(arg: str) -> bool:
    path = Path(arg.split("::")[0]).resolve()
    return path == CASES_DIR or CASES_DIR in path.parents


def case_name(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    area = module.__name__.rsplit(".", 1)[-1] if module else item.path.stem
    return f"{area}::{item.name}"


def requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for marker in item.iter_markers("requirement"):
        ids += [i for i in marker.args if i not in ids]
    return ids


class EndpointMode:
    """Hooks that only apply when certifying an endpoint."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.target = config.stash[TARGET_KEY]
        self.settings = config.stash[SETTINGS_KEY]
        self.run = config.stash[RUN_KEY]
        self.evidence = config.stash[EVIDENCE_KEY]

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        # A case module named on the command line is collected by pytest itself: once is enough.
        if file_path.parent == CASES_DIR and file_path.suffix == ".py" \
                and not file_path.name.startswith(("_", "conftest")) and not parent.session.isinitpath(file_path):
            return pytest.Module.from_parent(parent, path=file_path)
        return None

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # The delivery cases account for every event the run sent: they go last.
        items.sort(key=lambda item: AREAS_LAST.get(case_name(item).split("::")[0], 0))
        for item in items:
            ids = requirement_ids(item)
            if not ids:
                raise pytest.UsageError(f"conformance case {item.nodeid} names no requirement")
            for rid in ids:
                catalog.get(rid)
            if not catalog.active(ids, self.settings.profiles):
                profiles = sorted({catalog.get(i).profile for i in ids})
                item.add_marker(pytest.mark.skip(reason=_profile_skip_reason(profiles)))

    @pytest.hookimpl(tryfirst=True)  # before a skip marker ends the setup: a skipped case starts empty too
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.target.record = CaseRecord(name=case_name(item), har=self.evidence.har)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        report = yield
        if call.when == "call" or (call.when == "setup" and not report.passed):
            result = self.judge(item, call, report)
            report.conformance = result
            report.user_properties.append(("outcome", result["outcome"]))
            report.user_properties.append(("requirements", " ".join(result["requirements"])))
            self.attach_html_evidence(report, result)
        return report

    def attach_html_evidence(self, report: pytest.TestReport, result: dict[str, Any]) -> None:
        """Per-case evidence in the pytest-html report (--html), for non-passing outcomes."""
        if not self.config.pluginmanager.hasplugin("html") or result["outcome"] in (PASS, SKIP):
            return
        import pytest_html
        from conformance.reports.evidence import case_evidence_html
        summary = (f"<p><b>{result['outcome']}</b> ({result['level']}) requirements: "
                   f"{', '.join(result['requirements'])}</p>")
        extras = getattr(report, "extras", [])
        extras.append(pytest_html.extras.html(summary + case_evidence_html(result)))
        report.extras = extras

    def judge(self, item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> dict[str, Any]:
        record = self.target.record
        ids = requirement_ids(item)
        exc = call.excinfo.value if call.excinfo else None
        outcome, message, failure = self.outcome_of(ids, exc, record, report)
        if failure is not None and failure.requirement not in ids:
            ids.append(failure.requirement)
        if outcome in (PASS, WARN, INFO, SKIP) and report.outcome == "failed":
            report.outcome = "passed"
            report.longrepr = None
        return {
            "nodeid": item.nodeid,
            "case": case_name(item),
            "area": case_name(item).split("::")[0],
            "doc": (getattr(item, "obj", None).__doc__ or "").strip() if hasattr(item, "obj") else "",
            "requirements": ids,
            "level": _judged_level(outcome, failure, ids, self.settings.profiles),
            "outcome": outcome,
            "message": message,
            "failure": failure.to_dict() if failure else None,
            "warnings": [w.to_dict() for w in record.warnings],
            "observations": list(record.observations),
            "exchange_count": record.exchange_count,
            "exchanges": [{**ex.to_dict(), "curl": ex.curl()} for ex in record.exchanges],
            "duration": round(call.duration, 3),
        }

    def outcome_of(self, ids: list[str], exc: BaseException | None, record: CaseRecord,
                   report: pytest.TestReport) -> tuple[str, str, ConformanceFailure | None]:
        if report.skipped:
            return SKIP, _skip_reason(report), None
        if isinstance(exc, ConformanceFailure):
            text = "\n".join([str(exc), *getattr(exc, "__notes__", [])])
            level = catalog.get(exc.requirement).level
            return (WARN if level == catalog.SHOULD else FAIL), text, exc
        if isinstance(exc, CouldNotJudge):
            return ERROR, str(exc), None
        if exc is not None:
            return ERROR, f"could not judge: {type(exc).__name__}: {exc}", None
        if record.warnings:
            return WARN, "\n".join(str(w) for w in record.warnings), None
        if any(r.level == catalog.INFO for r in catalog.active(ids, self.settings.profiles)):
            # Its MUST checks (no 5xx, alive after) held; what remains is the observation.
            return INFO, "; ".join(o["text"] for o in record.observations) or "observed", None
        return PASS, "", None

    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        result = getattr(report, "conformance", None)
        if result is None:
            return None
        return TEST_STATUS[result["outcome"]]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = getattr(report, "conformance", None)
        if result is not None:
            self.run.add(result)

    @pytest.hookimpl(trylast=True)  # after junitxml wrote junit.xml, so the manifest covers it
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.run.finish()
        self.target.close()
        known = self.config.stash.get(BASELINE_KEY, None)
        if known is not None:
            self.run.gate_problems += known.apply(self.run.cases)
        passes, _ = self.run.gate()
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.OK if passes else pytest.ExitCode.TESTS_FAILED
        self.write_evidence(session)
        # The run's history (every event sent, every exchange) lives until the process
        # exits; pytest's closing garbage collections would walk all of it twice (0.5 s).
        gc.freeze()

    def write_evidence(self, session: pytest.Session) -> None:
        """The bundle (with exchanges.har, signed when a key was given) and the --har file."""
        har = self.evidence.har.to_bytes(__version__) if self.evidence.har is not None else None
        problem = evidence_files.write_har_file(self.evidence, har, self.settings.secrets) if har else None
        if problem:
            print(problem, file=sys.stderr)
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        report_dir = self.config.getoption("conformance_report")
        if report_dir:
            from conformance.reports.bundle import HAR, write_bundle
            write_bundle(Path(report_dir), self.run.to_dict(), secrets=self.settings.secrets,
                         extra_files={HAR: har} if har else None, signing_key=self.evidence.signing_key)
        summary_path = self.config.getoption("summary_md")
        if summary_path:
            from conformance.reports.summary import append_summary
            append_summary(Path(summary_path), self.run.to_dict(), secrets=self.settings.secrets)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        tr.section("Clickstream conformance")
        for line in self.run.summary_lines():
            tr.write_line(line)
        for case in self.run.cases:
            if case["outcome"] in (FAIL, ERROR) and not case.get("baselined"):
                tr.write_line("  baseline entry: " + baseline.entry_for(case))
        report_dir = self.config.getoption("conformance_report")
        if report_dir:
            tr.write_line(f"certification bundle: {Path(report_dir).resolve()}")


def redacted_options(config: pytest.Config, settings: Settings) -> dict[str, Any]:
    """The run's options for the report, with the cookie value redacted."""
    cookie = settings.auth_cookie
    return {
        "endpoint": settings.endpoint,
        "app_id": settings.app_id,
        "auth_cookie": f"{cookie[0]}=<redacted>" if cookie else None,
        "origin": settings.origin,
        "profile": ",".join(chosen_profiles(config)),
        "request_timeout": settings.timeout,
        "conformance_examples": settings.examples,
        "conformance_shrink_budget": settings.shrink_budget,
        "hypothesis_seed": config.getoption("hypothesis_seed", None),
        "baseline": config.getoption("baseline"),
        "sink": settings.sink.description if settings.sink is not None else None,
        "sink_wait": settings.sink_wait if settings.sink is not None else None,
        "sink_record": config.getoption("sink_record") if settings.sink is not None else None,
        # A command line may carry the cookie (the embedded collector's does).
        "collector_command": redact(settings.collector_command, settings.secrets)
                             if settings.collector_command else None,
        "durability_kills": settings.durability_kills if settings.collector_command else None,
        "durability_seed": settings.durability_seed if settings.collector_command else None,
        "websdk_version": settings.websdk.version if settings.websdk else None,
    }


def _profile_skip_reason(profiles: list[str]) -> str:
    hints = {"auth": "give --auth-cookie NAME=VALUE", "web": "give --origin ORIGIN",
             "strict": "give --profile strict", "delivery": "give --sink SPEC",
             "durability": "give --sink SPEC and --collector-command CMD",
             "websdk": "give --profile websdk and --origin ORIGIN", "network": "give --profile network",
             "h2": "give --profile h2"}
    return "profile not selected: " + ", ".join(f"{p} ({hints.get(p, '')})" for p in profiles)


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr or "skipped")


def _judged_level(outcome: str, failure: ConformanceFailure | None, ids: list[str],
                  profiles: frozenset[str]) -> str:
    """The level the outcome speaks for: the broken requirement's, SHOULD for a
    warning, INFO for an observation, else the case's highest."""
    if failure is not None:
        return catalog.get(failure.requirement).level
    return {WARN: catalog.SHOULD, INFO: catalog.INFO}.get(outcome, _case_level(ids, profiles))


def _case_level(ids: list[str], profiles: frozenset[str]) -> str:
    active = catalog.active(ids, profiles) or [catalog.get(i) for i in ids]
    return max((r.level for r in active), key=LEVEL_RANK.__getitem__, default=catalog.INFO)
