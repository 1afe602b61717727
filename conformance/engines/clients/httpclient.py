"""C# ``HttpClient``: the document's C# example (``drivers/httpclient/``, a console project),
run with ``dotnet run``. It runs only where ``dotnet`` (the .NET 8 SDK or later) is on the
PATH; elsewhere its cases SKIP with that reason."""
from __future__ import annotations

import shutil
import subprocess
from typing import Sequence

from conformance.engines.clients import FINDERS, ClientProgram, SetupError
from conformance.engines.clients.runner import ClientRequest, ClientRun, driver_path, run_driver

NAME = "httpclient"
BUILD_S = 120.0  # the first `dotnet run` of a machine restores and builds the project
NOT_FOUND = "dotnet not on PATH (the .NET 8 SDK runs the C# HttpClient example)"


def find() -> ClientProgram:
    dotnet = shutil.which("dotnet")
    if dotnet is None:
        raise SetupError(NOT_FOUND)
    try:
        version = subprocess.run([dotnet, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"{dotnet} --version failed: {exc}") from None
    if not version:
        raise SetupError(f"{dotnet} --version said nothing: is an SDK installed (not only a runtime)?")
    return ClientProgram(NAME, f".NET SDK {version}",
                         (dotnet, "run", "--project", driver_path("httpclient"), "--"))


FINDERS[NAME] = find


def run(program: ClientProgram, request: ClientRequest, secrets: Sequence[str]) -> ClientRun:
    # dotnet run builds first: the first run of a machine takes longer than the request's timeout.
    return run_driver(program, request, secrets, {"DOTNET_CLI_TELEMETRY_OPTOUT": "1", "DOTNET_NOLOGO": "1"},
                      start_up=BUILD_S)
