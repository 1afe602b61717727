"""A load run's results, its verdict against the thresholds, and its report.

``build_results`` turns the ledger (and the loss account, with ``--sink``) into one
dict: results.json. The verdict fails on any breach of ``--max-error-rate``,
``--max-p99-ms`` or ``--max-lost``, on an incomplete account, an interrupted run or
an exception in the load generator, each with a reason a CI log can show. The HTML
page is rendered from the dict alone by ``conformance.reports.load``.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Sequence

from conformance import __version__
from conformance.load.account import Account
from conformance.load.options import LoadOptions, format_mix
from conformance.wire.tls import run_record
from conformance.load.tally import Bucket, RunLedger, percentile

RESULTS_FORMAT = "clickstream-conformance/load@1"
PASS, FAIL = "PASS", "FAIL"
EXIT_BREACH, EXIT_INTERRUPTED = 1, 130


def latency_ms(bucket: Bucket) -> dict[str, float | None]:
    """p50, p95, p99 and max of a bucket's latencies, in milliseconds."""
    figures = {f"p{int(q * 100)}": percentile(bucket.latency, q) for q in (0.5, 0.95, 0.99)}
    figures["max"] = max(bucket.latency) / 1000 if bucket.latency else None
    return figures


def series(ledger: RunLedger, started_at: float) -> list[dict[str, Any]]:
    """One row per second of the run: throughput, latency percentiles, errors."""
    rows = []
    for second in sorted(ledger.seconds):
        bucket = ledger.seconds[second]
        # Whole seconds since the second the run started in (the buckets are whole seconds).
        rows.append({"t": second - int(started_at), "requests": bucket.requests, "failures": bucket.failures,
                     "timeouts": bucket.timeouts, "bytes": bucket.bytes, **latency_ms(bucket)})
    return rows


def build_results(options: LoadOptions, ledger: RunLedger, delivery: Account | None, *, tag: str,
                  started_at: float, finished_at: float, interrupted: bool, hard_stopped: bool,
                  pool: dict[str, Any], senders: int, sink: str | None, sink_error: str | None,
                  sink_polls_during_run: int, generator_exceptions: Sequence[dict[str, Any]],
                  cpu_warning: bool) -> dict[str, Any]:
    total = ledger.total()
    elapsed = max(finished_at - started_at, 1e-9)
    per_sender = {str(w): s.received for w, s in sorted(ledger.senders.items())}
    results: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "suite": {"name": "clickstream-conformance", "version": __version__},
        "run": {"target": options.endpoint, "app_id": options.app_id, "mode": options.mode, "senders": senders,
                "users": options.users, "spawn_rate": options.spawn_rate, "rate_cap": options.rate,
                "duration_s": options.duration, "elapsed_s": round(elapsed, 3), "mix": format_mix(options.mix),
                "run_tag": tag, "seed": options.seed, "started_at": _iso(started_at), "finished_at": _iso(finished_at),
                "interrupted": interrupted, "hard_stopped": hard_stopped, "options": options.redacted(),
                "pool": pool, "requests_per_sender": per_sender, "generator_cpu_warning": cpu_warning,
                "generator_exceptions": list(generator_exceptions)},
        "totals": {"requests": total.requests, "requests_per_s": round(total.requests / elapsed, 1),
                   "failures": total.failures, "error_rate": total.failures / total.requests if total.requests else 0.0,
                   "timeouts": total.timeouts, "bytes_sent": total.bytes, "events_sent": total.events,
                   "latency_ms": latency_ms(total), "status": dict(sorted(ledger.statuses.items())),
                   "errors": dict(ledger.errors.most_common())},
        "by_kind": {kind: {"requests": b.requests, "failures": b.failures, "bytes": b.bytes, "events": b.events,
                           "latency_ms": latency_ms(b)} for kind, b in sorted(ledger.kinds.items())},
        "series": series(ledger, started_at),
        "delivery": None,
        "thresholds": {"max_error_rate": options.max_error_rate, "max_p99_ms": options.max_p99_ms,
                       "max_lost": options.max_lost if sink else None},
    }
    if sink is not None:
        results["delivery"] = {"sink": sink, "record_shape": options.sink_record, "wait_s": options.sink_wait,
                               "polls_during_run": sink_polls_during_run, "error": sink_error,
                               **(delivery.to_dict() if delivery is not None else {})}
    results["tls"] = run_record(options.tls, None)  # the options, and "TLS not verified" with --insecure
    results["verdict"] = verdict(results)
    if results["tls"] and results["tls"].get("note"):
        results["verdict"]["tls"] = results["tls"]["note"]
    return results


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """PASS, or FAIL with every reason."""
    run, totals, limits = results["run"], results["totals"], results["thresholds"]
    reasons: list[str] = []
    if run["interrupted"]:
        reasons.append(f"interrupted after {run['elapsed_s']:.0f} s of {run['duration_s']:g} s: not a complete run")
    if run["hard_stopped"]:
        reasons.append("the run did not stop in time and was ended hard: figures may be incomplete")
    if run["generator_exceptions"]:
        first = run["generator_exceptions"][0]
        reasons.append(f"the load generator raised {sum(e['count'] for e in run['generator_exceptions'])} "
                       f"exception(s), first: {first['message']}")
    if not totals["requests"]:
        reasons.append("no request was answered or failed: nothing was measured")
    elif totals["error_rate"] > limits["max_error_rate"]:
        top = ", ".join(f"{name} x{count}" for name, count in list(totals["errors"].items())[:3])
        reasons.append(f"error rate {totals['error_rate']:.3%} ({totals['failures']} of {totals['requests']} requests "
                       f"not answered 200: {top}) is over --max-error-rate {limits['max_error_rate']:.3%}")
    p99 = totals["latency_ms"]["p99"]
    if p99 is not None and p99 > limits["max_p99_ms"]:
        reasons.append(f"p99 latency {p99:.1f} ms is over --max-p99-ms {limits['max_p99_ms']:g}")
    reasons += _delivery_reasons(results.get("delivery"), limits)
    return {"passed": not reasons, "text": FAIL if reasons else PASS, "reasons": reasons}


def _delivery_reasons(delivery: dict[str, Any] | None, limits: dict[str, Any]) -> list[str]:
    if delivery is None:
        return []
    if delivery.get("error") and "events" not in delivery:
        return [f"could not read the sink: {delivery['error']}"]
    reasons = []
    if delivery.get("error"):
        reasons.append(f"reading the sink during the run failed: {delivery['error']}")
    events = delivery["events"]
    if events["lost"] > limits["max_lost"]:
        hint = (" (the sink holds none of this run's events: is it the collector's sink, and is --sink-record right?)"
                if not events["found"] else "")
        reasons.append(f"{events['lost']} of {events['acked']} acknowledged events are not in the sink after "
                       f"{delivery['wait_s']:g} s (--max-lost {limits['max_lost']}){hint}")
    if delivery["incomplete_senders"]:
        reasons.append(f"sender(s) {', '.join(map(str, delivery['incomplete_senders']))} did not hand over their "
                       f"whole account: the loss count is incomplete")
    return reasons


def exit_code(results: dict[str, Any]) -> int:
    if results["run"]["interrupted"]:
        return EXIT_INTERRUPTED
    return 0 if results["verdict"]["passed"] else EXIT_BREACH


def summary_lines(results: dict[str, Any]) -> list[str]:
    """The end-of-run summary for the terminal and CI logs."""
    run, totals = results["run"], results["totals"]
    lat = totals["latency_ms"]
    tls_note = f" ({results['verdict']['tls']})" if results["verdict"].get("tls") else ""
    lines = [f"load {results['verdict']['text']}{tls_note}: {run['target']} ({run['mode']}, {run['users']} users, "
             f"{run['elapsed_s']:.1f} s, mix {run['mix']})",
             f"  requests   {totals['requests']} ({totals['requests_per_s']:.1f}/s), "
             f"{totals['events_sent']} events, {totals['bytes_sent'] / 1e6:.1f} MB sent",
             "  latency    " + "  ".join(f"{k} {_ms(v)}" for k, v in lat.items()),
             f"  status     {', '.join(f'{k}: {v}' for k, v in totals['status'].items()) or 'none'}",
             f"  errors     {totals['failures']} ({totals['error_rate']:.3%}), {totals['timeouts']} timeouts"
             + (f": {', '.join(f'{k} x{v}' for k, v in totals['errors'].items())}" if totals["errors"] else "")]
    delivery = results.get("delivery")
    if delivery and "events" in delivery:
        e = delivery["events"]
        lag = delivery.get("lag_ms")
        lines.append(f"  sink       acked {e['acked']}, found {e['found']}, lost {e['lost']}, duplicated {e['duplicated']}"
                     + (f", lag p50 {lag['p50']:g} ms max {lag['max']:g} ms" if lag and delivery["polls_during_run"] else "")
                     + (f", all visible within {delivery['catch_up_s']:g} s of the last 200" if delivery["catch_up_s"] is not None else ""))
        for lost in delivery["lost_events"][:3]:
            lines.append(f"    lost {lost['event_id']} ({lost['kind']}, sender {lost['worker']}, request {lost['seq']}, "
                         f"answered 200 at {lost['answered_at']})")
    lines += [f"  FAIL: {reason}" for reason in results["verdict"]["reasons"]]
    return lines


def write_report(directory: Path, results: dict[str, Any], secrets: Sequence[str] = ()) -> Path:
    """report.html, results.json and manifest.json (which `clickstream-conformance verify` checks)."""
    from conformance.reports.load import write_load_bundle
    return write_load_bundle(directory, results, secrets)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds")


__all__ = ["build_results", "verdict", "exit_code", "summary_lines", "write_report", "RESULTS_FORMAT", "series"]
