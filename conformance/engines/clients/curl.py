"""curl, run as itself (Debian's ``curl``): the first of the document's examples.

Its command line is built from the contract's arguments, as the document writes it
(``--location``, the headers, the body), so the reproduction command is plain curl.
``--write-out '%{json}'`` gives the status, the HTTP version, the time and curl's own
error message, read into the contract's result; ``-v`` puts curl's own account of the
exchange (its request headers, ``Expect: 100-continue`` among them) in the log.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

from conformance.engines.clients import FINDERS, ClientProgram, SetupError
from conformance.engines.clients.runner import ClientRequest, ClientRun, run_program

NAME = "curl"
HTTP1, NEGOTIATED = "http1.1", "negotiated"  # --http1.1, or what curl and the server agree (h2 over TLS)
BODY_KEPT = 4096


def find() -> ClientProgram:
    """curl on the PATH, with its version."""
    curl = shutil.which("curl")
    if curl is None:
        raise SetupError("curl not found (Debian: apt-get install curl)")
    try:
        first = subprocess.run([curl, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"{curl} --version failed: {exc}") from None
    match = re.match(r"curl (\S+)", first)
    if not match:
        raise SetupError(f"{curl} --version did not say its version: {first[:80]!r}")
    return ClientProgram(NAME, f"curl {match.group(1)}", (curl,))


FINDERS[NAME] = find


def arguments(program: ClientProgram, request: ClientRequest, http: str, out: Path, headers: Path) -> list[str]:
    """curl's command line for the request; ``http`` is HTTP1 or NEGOTIATED."""
    argv = [*program.argv, "-v", "-sS", "--location", request.url]
    for name, value in request.headers:
        argv += ["--header", f"{name}: {value}" if value else f"{name};"]
    argv += ["--data-binary", f"@{request.body_file}"]
    if http == HTTP1:
        argv.append("--http1.1")
    if request.ca_cert:
        argv += ["--cacert", request.ca_cert]
    if request.insecure:
        argv.append("--insecure")
    if request.client_cert:
        argv += ["--cert", request.client_cert]
    if request.client_key:
        argv += ["--key", request.client_key]
    if request.proxy:
        argv += ["--proxy", request.proxy]  # https through CONNECT, as the suite's wire goes
    argv += ["--connect-timeout", f"{request.connect_timeout:g}", "--max-time", f"{request.timeout:g}",
             "--output", str(out), "--dump-header", str(headers), "--write-out", "%{json}"]
    return argv


def run(program: ClientProgram, request: ClientRequest, http: str, workdir: Path,
        secrets: Sequence[str]) -> ClientRun:
    """Run curl once; its verdict in the contract's result."""
    workdir.mkdir(parents=True, exist_ok=True)
    stem = Path(request.body_file).stem
    out, headers = workdir / f"{stem}.{http}.response", workdir / f"{stem}.{http}.headers"
    for path in (out, headers):
        path.unlink(missing_ok=True)
    argv = arguments(program, request, http, out, headers)
    result = run_program(program, argv, request.timeout, secrets, translate=lambda r: translate(r, program))
    result.response_headers = last_headers(headers)
    result.response_body = out.read_bytes()[:BODY_KEPT].decode("utf-8", errors="replace") if out.exists() else ""
    return result


def translate(written: dict[str, Any], program: ClientProgram) -> dict[str, Any]:
    """curl's ``%{json}`` as the contract's result."""
    status = written.get("http_code") or written.get("response_code") or None
    if isinstance(status, int) and status < 200:  # the last code seen was 100 Continue: no final answer
        status = None
    version = str(written.get("http_version") or "0")
    protocol = {"1": "http/1.0", "1.0": "http/1.0", "1.1": "http/1.1", "2": "h2", "3": "h3"}.get(version, "")
    error = written.get("errormsg") or None
    if written.get("exitcode") and not error:
        error = f"curl exit {written['exitcode']}"
    return {"client": program.version, "status": status, "protocol": protocol,
            "elapsed_ms": round(float(written.get("time_total") or 0) * 1000, 1), "error": error}


def last_headers(path: Path) -> list[tuple[str, str]]:
    """The headers of the last answer curl dumped (after a 100 Continue or a redirect)."""
    if not path.exists():
        return []
    blocks = [b for b in path.read_text(errors="replace").replace("\r\n", "\n").split("\n\n") if b.strip()]
    if not blocks:
        return []
    lines = blocks[-1].splitlines()[1:]  # the status line first
    return [(n.strip(), v.strip()) for n, _, v in (line.partition(":") for line in lines) if n.strip()]
