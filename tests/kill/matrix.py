"""Run the suite against mutants and judge each run.

    python -m tests.kill.matrix [NAME ...]     # from the checkout; all mutants by default

prints one line per mutant (killed or not, by which cases, how long it took).
"""
from __future__ import annotations

import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from tests.kill.mutants import BY_NAME, MUTANTS, Mutant, build_app, suite_options
from tests.kill.server import AppServer
from tests.kill.suite import SuiteRun, run_suite

POOL_SIZE = 2  # the CI machine has 2 cores: one suite and one collector each
RUN_TIMEOUT = 240.0


def run_mutant(mutant: Mutant, workdir: Path) -> SuiteRun:
    """Serve the mutant in a background thread and run the suite against it."""
    app = build_app(mutant, str(workdir / "collector.sqlite3"), workdir)
    with AppServer(app) as server:
        if mutant.h2_gateway is not None:
            return run_behind_h2_gateway(mutant, server.url, workdir)
        return run_suite(server.url, workdir, suite_options(mutant, workdir), timeout=RUN_TIMEOUT)


def run_behind_h2_gateway(mutant: Mutant, backend_url: str, workdir: Path) -> SuiteRun:
    """The suite against the TLS/HTTP/2 gateway before ``backend_url``, with the mutant's
    flaw in the gateway; the run trusts the gateway's test CA."""
    from tests.kill.h2_gateway import H2Gateway
    from tests.tls_certs import make_certs
    certs = make_certs(workdir / "certs")
    backend_port = urlsplit(backend_url).port or 80
    with H2Gateway(backend_port, certs.cert, certs.key, flaw=mutant.h2_gateway or None) as gateway:
        return run_suite(gateway.url, workdir, suite_options(mutant, workdir), timeout=RUN_TIMEOUT,
                         env=certs.client_env())


def problems(mutant: Mutant, run: SuiteRun) -> list[str]:
    """Why this run does not show the suite catching the mutant (empty when it does)."""
    if run.results is None:
        return [f"no results.json (exit {run.returncode})"]
    failing = run.failing_requirements()
    if mutant.is_control:
        found = []
        if run.returncode != 0:
            found.append(f"a SHOULD-only break must not fail the run, exit {run.returncode}")
        if failing:
            found.append(f"FAIL/ERROR on {sorted(failing)}: {run.cases_with(['FAIL', 'ERROR'])}")
        if mutant.warns not in run.warned_requirements():
            found.append(f"no WARN for {mutant.warns}; warned {sorted(run.warned_requirements())}")
        return found
    found = []
    if run.returncode == 0:
        found.append("the run passed (exit 0)")
    missed = mutant.breaks - failing
    if missed:
        found.append(f"not caught: {sorted(missed)} (failing: {sorted(failing)})")
    if mutant.caught_by and not any(mutant.caught_by in case for r in mutant.breaks
                                    for case in run.failed_cases(r)):
        found.append(f"not caught by {mutant.caught_by} as a FAIL (failing cases: "
                     f"{run.cases_with(['FAIL'])[:5]})")
    found += row_problems(run)
    if mutant.max_seconds is not None and run.seconds > mutant.max_seconds:
        found.append(f"took {run.seconds:.0f} s, more than {mutant.max_seconds:.0f} s")
    unexpected = failing - mutant.breaks - mutant.collateral
    if unexpected and not mutant.any_collateral:
        found.append(f"imprecise: also failed {sorted(unexpected)}: "
                     f"{[c for r in sorted(unexpected) for c in run.catching_cases(r)][:8]}")
    return found


def row_problems(run: SuiteRun) -> list[str]:
    """The requirement matrix shows FAIL only on a requirement a FAIL's failure names,
    and never on an INFO requirement (issue 28: one broken requirement, one FAIL row)."""
    named = {c["failure"]["requirement"] for c in run.cases if c["outcome"] == "FAIL" and c.get("failure")}
    rows = run.results.get("requirements") or [] if run.results else []
    failed = {r["id"]: r["level"] for r in rows if r["outcome"] == "FAIL"}
    found = [f"requirement row {i} FAILs, but no failure names it" for i in sorted(failed.keys() - named)]
    return found + [f"INFO requirement {i} shows FAIL" for i, level in sorted(failed.items()) if level == "INFO"]


def describe(mutant: Mutant, run: SuiteRun) -> str:
    if mutant.is_control:
        caught = f"WARN {mutant.warns}"
    else:
        caught = "; ".join(f"{r} by {', '.join(sorted(set(run.catching_cases(r)))[:3])}"
                           for r in sorted(mutant.breaks))
    verdict = "; ".join(problems(mutant, run)) or "ok"
    return f"{mutant.name:<38} {run.seconds:5.1f}s  exit {run.returncode}  {verdict}\n    {caught}"


def main(names: list[str]) -> int:
    chosen = [BY_NAME[n] for n in names] if names else list(MUTANTS)
    root = Path(tempfile.mkdtemp(prefix="kill-matrix-"))
    with ThreadPoolExecutor(POOL_SIZE) as pool:
        runs = pool.map(lambda m: (m, run_mutant(m, _workdir(root, m))), chosen)
        bad = 0
        for mutant, run in runs:
            print(describe(mutant, run), flush=True)
            bad += bool(problems(mutant, run))
    print(f"{len(chosen) - bad} of {len(chosen)} as expected; work in {root}")
    return 1 if bad else 0


def _workdir(root: Path, mutant: Mutant) -> Path:
    path = root / mutant.name
    path.mkdir()
    return path


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
