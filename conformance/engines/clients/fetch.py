"""JavaScript ``fetch``: Node's own global fetch (Node 20 or later) runs the document's example
(``drivers/fetch_upload.mjs``). Node reads its trust from the environment at start:
NODE_EXTRA_CA_CERTS for --ca-cert (beside Node's own CAs), NODE_TLS_REJECT_UNAUTHORIZED=0
for --insecure. Node's fetch cannot present a client certificate."""
from __future__ import annotations

import re
import shutil
import subprocess
from typing import Sequence

from conformance.engines.clients import FINDERS, ClientProgram, SetupError
from conformance.engines.clients.runner import ClientRequest, ClientRun, driver_path, run_driver

NAME = "fetch"
NODE_MAJOR = 20  # the first with a stable global fetch


def find() -> ClientProgram:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise SetupError("node not found (Node 20 or later; Debian: apt-get install nodejs)")
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"{node} --version failed: {exc}") from None
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < NODE_MAJOR:
        raise SetupError(f"Node {version or '(no version)'} is too old: fetch needs Node {NODE_MAJOR} or later")
    return ClientProgram(NAME, f"node {version}", (node, driver_path("fetch_upload.mjs")))


FINDERS[NAME] = find


def run(program: ClientProgram, request: ClientRequest, secrets: Sequence[str]) -> ClientRun:
    env = {}
    if request.ca_cert:
        env["NODE_EXTRA_CA_CERTS"] = request.ca_cert
    if request.insecure:
        env["NODE_TLS_REJECT_UNAUTHORIZED"] = "0"
    return run_driver(program, request, secrets, env)


def unsupported(request: ClientRequest) -> str | None:
    """Why this client cannot send ``request`` as asked, or None."""
    if request.client_cert:
        return "Node's global fetch cannot present a client certificate (--client-cert)"
    if request.proxy:
        return f"Node's global fetch takes no proxy (the run goes through {request.proxy})"
    return None
