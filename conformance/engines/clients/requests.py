"""Python ``requests``: the document's Python example (``drivers/requests_upload.py``), run as
its own process with the suite's own Python (``requests`` is one of the suite's own
dependencies, so it is always there)."""
from __future__ import annotations

import subprocess
import sys
from typing import Sequence

from conformance.engines.clients import FINDERS, ClientProgram, SetupError
from conformance.engines.clients.runner import ClientRequest, ClientRun, driver_path, run_driver

NAME = "requests"


def find() -> ClientProgram:
    probe = "import requests, urllib3; print(requests.__version__, urllib3.__version__)"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"{sys.executable} could not be asked for requests: {exc}") from None
    if done.returncode != 0:
        raise SetupError(f"requests is not importable by {sys.executable}: pip install requests")
    requests_version, urllib3_version = done.stdout.split()
    # -I: the driver sees neither the working directory nor PYTHON* variables.
    return ClientProgram(NAME, f"requests {requests_version} (urllib3 {urllib3_version})",
                         (sys.executable, "-I", driver_path("requests_upload.py")))


FINDERS[NAME] = find


def run(program: ClientProgram, request: ClientRequest, secrets: Sequence[str]) -> ClientRun:
    return run_driver(program, request, secrets)
