"""Switching a pytest run to endpoint mode: the options checked into settings, the
collector the suite owns started, the endpoint and the sink probed, the run's objects
made, and the endpoint mode's hooks and the cases' fixtures registered."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.plugin import baseline, evidence as evidence_files, fixtures
from conformance.plugin.endpoint import (
    BASELINE_KEY, CASES_DIR, EVIDENCE_KEY, PROCESS_KEY, RUN_KEY, SETTINGS_KEY, TARGET_KEY, EndpointMode,
)
from conformance.plugin.results import RunResults
from conformance.plugin.settings import redacted_options, settings_from_options
from conformance.target import Settings, Target


def endpoint_mode(config: pytest.Config) -> None:
    """Check the options, start the collector the suite owns, probe the endpoint and the
    sink, make the run's objects, and register the hooks and fixtures of the run."""
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
    config.pluginmanager.register(fixtures, "clickstream-fixtures")


def _prepare_report_dir(directory: Path) -> None:
    """An empty bundle folder: an earlier bundle's files go, anyone else's stop the run."""
    from conformance.reports.bundle import clear_bundle_dir
    try:
        clear_bundle_dir(directory)
        directory.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as exc:
        raise pytest.UsageError(f"--conformance-report: {exc}") from None








def _tls_record(settings: Settings, facts: dict[str, Any] | None) -> dict[str, Any] | None:
    from conformance.wire.tls import run_record
    return run_record(settings.tls, facts)










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




def _probe_sink(settings: Settings) -> None:
    """Read the sink once before any case runs, so a wrong path or query is one line."""
    if settings.sink is None:
        return
    from conformance.engines.sinks import SinkError
    try:
        settings.sink.probe()
    except SinkError as exc:
        raise pytest.UsageError(f"cannot read the sink {settings.sink.description}: {exc}") from None




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
