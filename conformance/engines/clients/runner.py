"""Run one client program for the ``clients`` profile: its arguments, a hard time limit,
its result line, and its whole output kept as evidence.

The program runs in a process group of its own, so a time limit or a Ctrl-C ends it
and everything it started (a JVM's threads, Node's workers) at once. Its output is kept
capped, redacted of the run's secrets, with the command line that reproduces the run.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from conformance.engines.clients import ClientProgram
from conformance.wire.exchange import redact, shell_word

OUTPUT_CAP = 64 * 1024     # bytes of a client's output kept as evidence
GRACE_S = 15.0             # beyond the request timeout: a JVM's start, Node's, Python's
BAD_ARGUMENTS = 2          # the contract's exit code for arguments the driver refused
# Taken from each client's environment: the suite hands its own proxy (--proxy) to all alike.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass(frozen=True)
class ClientRequest:
    """One request a client sends, in the contract's terms (the method is always POST)."""

    url: str
    body_file: str
    headers: tuple[tuple[str, str], ...]
    timeout: float = 10.0
    connect_timeout: float = 5.0
    ca_cert: str | None = None
    insecure: bool = False
    client_cert: str | None = None
    client_key: str | None = None
    mode: str | None = None          # okhttp: bare | sdk
    user_agent: str | None = None    # sdk mode: the SDK's own User-Agent
    proxy: str | None = None         # http://host:port, no credentials (the suite sends none either)

    def arguments(self) -> list[str]:
        """The contract's arguments, in its order."""
        args = ["--url", self.url, "--body-file", self.body_file]
        for name, value in self.headers:
            args += ["--header", f"{name}: {value}"]
        for flag, path in (("--ca-cert", self.ca_cert), ("--client-cert", self.client_cert),
                           ("--client-key", self.client_key)):
            if path:
                args += [flag, path]
        if self.insecure:
            args.append("--insecure")
        args += ["--connect-timeout", f"{self.connect_timeout:g}", "--timeout", f"{self.timeout:g}"]
        if self.mode:
            args += ["--mode", self.mode]
        if self.user_agent:
            args += ["--user-agent", self.user_agent]
        if self.proxy:
            args += ["--proxy", self.proxy]
        return args


@dataclass
class ClientRun:
    """What one run of a client program gave: its own verdict and its output."""

    client: str                       # the client's own name and version, as it says
    command: str                      # the reproduction command, secrets redacted
    exit_code: int | None             # None: it was killed at the time limit
    status: int | None = None
    protocol: str = ""
    elapsed_ms: float = 0.0
    error: str | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: str = ""
    log: str = ""                     # everything it printed, capped and redacted
    problem: str = ""                 # set when the run broke the contract (no result line, bad exit)

    @property
    def answered(self) -> bool:
        return self.status is not None

    def outcome(self) -> str:
        """The client's verdict in a few words."""
        if self.problem:
            return self.problem
        if self.status is not None:
            body = " ".join(self.response_body.split())[:120]
            return f"status {self.status}" + (f" with body {body!r}" if body else "")
        return f"no answer: {self.error or 'no error message'}"

    def transport(self) -> str:
        """The Exchange outcome for this run: answered, timeout, refused or reset."""
        if self.status is not None:
            return "answered"
        text = (self.error or self.problem or "").lower()
        if self.exit_code is None or "timeout" in text or "timed out" in text:
            return "timeout"
        if any(words in text for words in ("refused", "failed to connect", "couldn't connect")):
            return "refused"
        return "reset"

    def cut_off(self) -> bool:
        """The connection broke (reset, broken pipe) with no final answer, and not in TLS:
        for an oversized upload, the collector refusing the body by closing on it."""
        text = (self.error or "").lower()
        tls = any(word in text for word in ("ssl", "tls", "certificate", "handshake"))
        return self.status is None and not self.problem and self.transport() == "reset" and not tls

    def evidence_text(self) -> str:
        """The bundle's log file for this run: the command, the verdict, the client's output."""
        result = {"client": self.client, "exit_code": self.exit_code, "status": self.status,
                  "protocol": self.protocol, "elapsed_ms": self.elapsed_ms, "error": self.error,
                  "problem": self.problem or None}
        return (f"$ {self.command}\n# exit {self.exit_code if self.exit_code is not None else 'killed (time limit)'}\n"
                f"# result {json.dumps(result, ensure_ascii=False)}\n--- the client's output ---\n{self.log}")


def reproduction(argv: Sequence[str], env: dict[str, str], secrets: Sequence[str]) -> str:
    """The command line that runs this client again, as a shell would take it: the auth
    cookie's value is the shell variable the failure's curl line names too."""
    prefix = [f"{k}={shell_word(v, secrets)}" for k, v in sorted(env.items())]
    return " ".join(prefix + [shell_word(a, secrets) for a in argv])


def run_program(program: ClientProgram, argv: Sequence[str], timeout: float, secrets: Sequence[str],
                env: dict[str, str] | None = None,
                translate: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> ClientRun:
    """Run ``argv`` (the program's command and its arguments) within ``timeout`` seconds
    plus a start-up grace, and read its result line; the process group is killed on the
    time limit and on Ctrl-C. ``translate``: a program that is not our driver (curl)
    prints a result of its own, turned into the contract's here; its exit codes are its own."""
    extra = {**program.env, **(env or {})}
    command = reproduction(argv, extra, secrets)
    limit = timeout + GRACE_S
    started = time.monotonic()
    environment = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**environment, **extra}, start_new_session=True)
    try:
        out, err = process.communicate(timeout=limit)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process)
        out, err = process.communicate()
        code = None
    except BaseException:  # Ctrl-C, or the run ending: nothing of ours stays behind
        _kill_group(process)
        process.communicate()
        raise
    seconds = time.monotonic() - started
    run = parse_result(program.name, command, code, out, err, secrets, translate)
    if code is None:
        run.problem = f"killed after {limit:g} s: the client gave no verdict in time"
        run.error = run.error or f"timed out (no result within {limit:g} s)"
    if not run.elapsed_ms:
        run.elapsed_ms = round(seconds * 1000, 1)
    return run


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass


def capped(data: bytes, secrets: Sequence[str], cap: int = OUTPUT_CAP) -> str:
    """Output as text, redacted, its end kept when it is over the cap (errors come last)."""
    text = redact(data.decode("utf-8", errors="replace"), secrets)
    if len(text) > cap:
        text = f"[... {len(text) - cap} characters left out ...]\n" + text[-cap:]
    return text


def parse_result(name: str, command: str, code: int | None, out: bytes, err: bytes, secrets: Sequence[str],
                 translate: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> ClientRun:
    """The contract's result line (the last line of standard output that is a JSON object),
    and the whole output as the log."""
    # Standard error first: a client's own account of the exchange (curl -v) ends up nearest
    # the top, the result line last.
    log = capped((b"--- stderr ---\n" + err + b"\n--- stdout ---\n" if err else b"") + out, secrets)
    run = ClientRun(client=name, command=command, exit_code=code, log=log)
    result = _last_json_line(out)
    if result is None:
        if code is not None:
            run.problem = (f"the driver printed no result line (exit {code})" if code != BAD_ARGUMENTS
                           else "the driver refused its arguments (exit 2)")
            run.error = _last_line(err) or _last_line(out) or None
        return run
    if translate is not None:
        result = translate(result)
    run.client = str(result.get("client") or name)
    status = result.get("status")
    run.status = status if isinstance(status, int) and not isinstance(status, bool) else None
    run.protocol = str(result.get("protocol") or "")
    elapsed = result.get("elapsed_ms")
    run.elapsed_ms = float(elapsed) if isinstance(elapsed, (int, float)) else 0.0
    error = result.get("error")
    run.error = redact(str(error), secrets) if error else None
    run.response_headers = [(str(h[0]), redact(str(h[1]), secrets)) for h in result.get("response_headers") or []
                            if isinstance(h, (list, tuple)) and len(h) == 2]
    run.response_body = redact(str(result.get("response_body") or ""), secrets)
    if translate is not None:  # its exit codes are its own; the result line says it all
        return run
    if code is not None and code not in (0, 1):
        run.problem = f"the driver exited {code}" + (" (bad arguments)" if code == BAD_ARGUMENTS else "")
    elif code == 0 and run.status is None:
        run.problem = "the driver exited 0 without a status"
    return run


def _last_json_line(out: bytes) -> dict[str, Any] | None:
    for line in reversed(out.decode("utf-8", errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def _last_line(data: bytes) -> str:
    lines = [line for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:500] if lines else ""


def run_driver(program: ClientProgram, request: ClientRequest, secrets: Sequence[str],
               env: dict[str, str] | None = None, start_up: float = 0.0) -> ClientRun:
    """Run one of our drivers (every client but curl) with the contract's arguments;
    ``start_up``: seconds its program may need beyond the usual grace (``dotnet run`` builds)."""
    return run_program(program, [*program.argv, *request.arguments()], request.timeout + start_up, secrets, env)


def driver_path(name: str) -> str:
    """Where a driver of ours is (``drivers/`` beside this module)."""
    from pathlib import Path
    path = Path(__file__).with_name("drivers") / name
    if not path.exists():
        raise FileNotFoundError(f"the driver {path} is missing from this install")
    return str(path)
