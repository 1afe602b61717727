"""The composite GitHub Action (action.yml), run the way a runner runs it.

The test reads action.yml, evaluates each step's `${{ ... }}` expressions as GitHub
does (only inputs and github.action_path occur, and only in `env:` and `with:`), and
runs its `run:` steps with bash, with GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_ENV and
GITHUB_PATH set to temporary files. What the test provides itself: the `uses:` steps
(setup-python and upload-artifact, GitHub's own actions) and the effect of the install
step, the suite installed (this venv's bin comes first on PATH; tests/test_package.py
installs a built wheel into a fresh venv). Two runs: the embedded reference collector
must pass with its summary and outputs, and a broken collector must fail the step
and name its failure in the summary.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kill.mutants import BY_NAME, build_app
from tests.kill.server import AppServer

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
SECRET_COOKIE = "cs_session=action-s3cret-value"
# Fewer examples and kills than a certification: the action's plumbing is under test.
QUICK = "--request-timeout 4 --pytest-arg=--conformance-examples=3 --pytest-arg=--durability-kills=1"
STEP_TIMEOUT = 300


def load_action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text())


def evaluate(text: str, inputs: dict[str, str]) -> str:
    """Substitute `${{ inputs.X }}` and `${{ github.action_path }}`; any other expression
    fails the test, so nothing in action.yml goes unevaluated here."""
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("inputs."):
            return inputs[expression.removeprefix("inputs.")]
        if expression == "github.action_path":
            return str(ROOT)
        raise AssertionError(f"the test does not know the expression {expression!r}")
    return EXPRESSION.sub(value, str(text))


def read_key_values(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT's name=value lines (the action writes no multi-line values)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs}


@dataclass
class ActionRun:
    returncode: int
    outputs: dict[str, str]
    summary: str
    log: str
    workspace: Path
    ran: list[str] = field(default_factory=list)


def run_action(given: dict[str, str], workspace: Path) -> ActionRun:
    action = load_action()
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    unknown = set(given) - set(inputs)
    assert not unknown, f"action.yml has no inputs {unknown}"
    inputs.update(given)
    files = {name: workspace.parent / f"{name.lower()}.txt"
             for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH")}
    for path in files.values():
        path.write_text("")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    base_env.update({name: str(path) for name, path in files.items()})
    base_env.update(GITHUB_ACTION_PATH=str(ROOT), GITHUB_WORKSPACE=str(workspace), GITHUB_ACTIONS="true",
                    RUNNER_TEMP=str(workspace.parent), PATH=f"{Path(sys.executable).parent}{os.pathsep}"
                                                             f"{os.environ.get('PATH', '')}")
    log, ran, code = [], [], 0
    for step in action["runs"]["steps"]:
        if "uses" in step or step.get("id") == "install":
            continue  # provided by the test: see the module docstring
        if code != 0 and "always()" not in str(step.get("if", "")):
            continue  # a failed step skips the later ones, as on a runner
        env = {**base_env, **{k: evaluate(v, inputs) for k, v in (step.get("env") or {}).items()}}
        script = workspace.parent / f"step-{len(ran)}.sh"
        script.write_text(evaluate(step["run"], inputs))
        # GitHub's command line for `shell: bash`.
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                              env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
        log.append(done.stdout + done.stderr)
        ran.append(step.get("id") or step["name"])
        code = code or done.returncode
    return ActionRun(code, read_key_values(files["GITHUB_OUTPUT"]), files["GITHUB_STEP_SUMMARY"].read_text(),
                     "\n".join(log), workspace, ran)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


# --- what action.yml says -----------------------------------------------------------


def test_the_action_has_the_inputs_a_gate_needs() -> None:
    action = load_action()
    assert action["runs"]["using"] == "composite"
    assert {"endpoint", "app-id", "auth-cookie", "origin", "profiles", "sink", "collector-command",
            "baseline", "report-folder", "python-version"} <= set(action["inputs"])
    assert {"verdict", "report-path", "exit-code"} <= set(action["outputs"])
    assert all("steps.gate.outputs." in spec["value"] for spec in action["outputs"].values())


def test_no_input_is_pasted_into_a_script() -> None:
    """Inputs reach the scripts only through env: a value cannot become shell code."""
    for step in load_action()["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], f"step {step['name']!r} pastes an expression into its script"
            assert step.get("shell") == "bash"


def test_the_bundle_is_uploaded_whatever_the_verdict() -> None:
    steps = load_action()["runs"]["steps"]
    uses = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    assert set(uses) == {"actions/setup-python", "actions/upload-artifact"}
    upload = uses["actions/upload-artifact"]
    assert upload.get("if") == "always()"
    assert upload["with"]["path"] == "${{ inputs.report-folder }}"
    assert steps.index(upload) > [s.get("id") for s in steps].index("gate")


def test_the_install_step_installs_the_action_s_own_checkout() -> None:
    (install,) = [s for s in load_action()["runs"]["steps"] if s.get("id") == "install"]
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert 'pip install --disable-pip-version-check "$spec"' in install["run"]


# --- the steps, run -----------------------------------------------------------------


def test_the_reference_collector_passes_with_a_summary_and_outputs(workspace: Path) -> None:
    run = run_action({"auth-cookie": SECRET_COOKIE, "extra-args": QUICK, "report-folder": "bundle"}, workspace)
    assert run.ran == ["gate"]
    assert run.returncode == 0, run.log[-4000:]
    assert run.outputs["verdict"] == "CONFORMANT"
    assert run.outputs["exit-code"] == "0"
    assert run.outputs["report-path"] == str(workspace / "bundle" / "report.html")
    assert Path(run.outputs["report-path"]).is_file()
    results = json.loads(Path(run.outputs["results-path"]).read_text())
    assert results["verdict"]["text"] == "CONFORMANT"
    assert run.summary.startswith("## ✅ Clickstream conformance: CONFORMANT")
    for profile in ("core", "auth", "web", "delivery", "durability"):
        assert f"| {profile} | ✅ PASS |" in run.summary
    assert "### Observed collector profile" in run.summary and "### Failures" not in run.summary
    stored = run.summary[run.summary.index("### What the collector stored"):]
    assert re.search(r"- delivery: (\d+) events acknowledged, \1 found intact, 0 lost", stored), stored
    assert re.search(r"- durability \(SIGKILL\): 1 kill, \d+ events acknowledged, 0 lost", stored), stored
    assert f"::add-mask::{SECRET_COOKIE.split('=', 1)[1]}" in run.log  # GitHub masks it in the log
    secret = SECRET_COOKIE.split("=", 1)[1]
    assert secret not in run.summary and secret not in "".join(run.outputs.values())
    assert not [p.name for p in (workspace / "bundle").iterdir() if secret in p.read_text(errors="replace")]


def test_a_broken_collector_fails_the_step_and_the_summary_says_why(workspace: Path) -> None:
    mutant = BY_NAME["oversize_as_400"]
    with tempfile.TemporaryDirectory(prefix="action-mutant-") as tmp, \
            AppServer(build_app(mutant, str(Path(tmp) / "db.sqlite3"))) as server:
        run = run_action({"endpoint": server.url, "app-id": "shop_dev", "extra-args": QUICK}, workspace)
    assert run.returncode == 1, run.log[-4000:]
    assert run.outputs["verdict"] == "NOT CONFORMANT" and run.outputs["exit-code"] == "1"
    assert Path(run.outputs["report-path"]).is_file()
    assert run.summary.startswith("## ❌ Clickstream conformance: NOT CONFORMANT")
    assert "| core | ❌ FAIL |" in run.summary
    failures = run.summary[run.summary.index("### Failures"):]
    assert "**CS-SIZE-413** (MUST)" in failures and "```sh\n  curl " in failures


def test_a_run_that_cannot_start_says_so(workspace: Path) -> None:
    run = run_action({"endpoint": "not a url", "app-id": "shop_dev"}, workspace)
    assert run.returncode == 4, run.log[-4000:]
    assert run.outputs["verdict"] == "NO VERDICT" and run.outputs["report-path"] == ""
    assert "NO VERDICT" in run.summary and "exit 4" in run.summary
