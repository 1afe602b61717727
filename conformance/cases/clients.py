"""Real HTTP client programs (profile ``clients``: ``--profile clients``).

The API document's "Request code example" section shows one request in curl, C#
``HttpClient``, Java OkHttp, JavaScript ``fetch`` and Python ``requests``. Each runs here as
a real program (conformance/engines/clients), with the run's appId and cookie, sending the
document's example request and an SDK-shaped set: a base64-gzip batch with
``compression=gzip`` and ``hashCode``, a body of 1,000,000 bytes, and one over 1,048,576
bytes (which must get 413). Each client has its habits, which the suite's own wire does
not: a ``User-Agent`` of its own, curl's ``Expect: 100-continue`` before a large body over
HTTP/1.1, OkHttp's h2 by ALPN.

The verdict is the client's own: the status it saw, its exit code, its error message. A
client that gets anything but the answer the request needs, or a TLS error, a reset or a
timeout, FAILs its requirement, with its own output and the command that reproduces the
run as evidence (every run's whole log goes into the bundle, client-<row>-<request>.log). A
client not installed here SKIPs with the reason. With ``--sink`` the events of every 200
are read back, as in the delivery profile.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlsplit

import pytest

from conformance.cases.delivery import judge_sent
from conformance.checks import note_held
from conformance.engines.clients import ClientProgram, SetupError
from conformance.engines.clients import registry
from conformance.engines.clients.runner import ClientRequest, ClientRun, run_driver
from conformance.engines.ledger import event_ids_in
from conformance.failures import ClientRequestFailed, CouldNotJudge
from conformance.strategies import batch_of_size, encode_base64_gzip
from conformance.target import JSON_CONTENT_TYPE, Target
from conformance.wire.exchange import EvidenceBuilder, Exchange
from conformance.wire.tls import proxy_address

LIMIT, SURE_TO_FIT = 1_048_576, 1_000_000
OBSERVED, READABLE = "CS-CLIENTS-OBSERVED", "CS-CLIENTS-413-READABLE"
# The document's example sends this header (a client behind a proxy); the SDKs do not.
EXAMPLE_FORWARDED_FOR = "101.188.67.134"
# The Android SDK's network interceptor puts Amplify's user agent in place of OkHttp's.
SDK_USER_AGENT = "amplify-android:1.37.2 md/clickstream-android"
LOG_TAIL = 2500  # characters of a client's output in a failure message (the bundle has it all)


@dataclass(frozen=True)
class Variant:
    """One way of running one client: a row of the profile."""

    name: str
    client: str                  # the FINDERS name
    requirement: str
    http: str = ""               # curl: http1.1 | negotiated
    mode: str = ""               # okhttp: bare | sdk
    https_only: bool = False     # the negotiated row: over plain http it is the HTTP/1.1 row again

    @property
    def sdk(self) -> bool:
        return self.mode == "sdk"


VARIANTS = {v.name: v for v in (
    Variant("curl-http1.1", "curl", "CS-CLIENTS-CURL", http="http1.1"),
    Variant("curl-negotiated", "curl", "CS-CLIENTS-CURL", http="negotiated", https_only=True),
    Variant("okhttp-bare", "okhttp", "CS-CLIENTS-OKHTTP", mode="bare"),
    Variant("okhttp-sdk", "okhttp", "CS-CLIENTS-OKHTTP-SDK", mode="sdk"),
    Variant("fetch", "fetch", "CS-CLIENTS-FETCH"),
    Variant("requests", "requests", "CS-CLIENTS-REQUESTS"),
    Variant("httpclient", "httpclient", "CS-CLIENTS-HTTPCLIENT"),
)}
# One row per variant, each carrying its own requirement.
VARIANT_PARAMS = [pytest.param(v.name, id=v.name, marks=pytest.mark.requirement(v.requirement))
                  for v in VARIANTS.values()]


@dataclass
class Planned:
    """A request as a client sends it: its query (in the client's order), headers, body,
    and the status it needs."""

    name: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    expected: int

    @property
    def valid(self) -> bool:
        return self.expected == 200


# --- the requests --------------------------------------------------------------------------
def example_events(target: Target) -> list[dict[str, Any]]:
    """The document's two example events, with this run's appId and event_ids."""
    return [target.event(event_type="button_click", timestamp=1667877566697,
                         attributes={"productName": "shoes", "Price": 99.9}),
            target.event(event_type="item_view", timestamp=1667877565698,
                         attributes={"productName": "book", "Price": 39.9})]


def hash_code(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:8]


def encode(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def query_for(target: Target, variant: Variant, sequence: int, body: bytes, gzip: bool,
              example: bool = False) -> str:
    """The query as this client sends it: the Android SDK's order in sdk mode, else the
    document's (appId first) with the SDK-shaped parameters after it."""
    if variant.sdk:
        return encode([("platform", "Android"), ("appId", target.app_id), ("hashCode", hash_code(body)),
                       ("event_bundle_sequence_id", str(sequence)), ("compression", "gzip" if gzip else "")])
    pairs = [("appId", target.app_id), ("platform", "Android"), ("event_bundle_sequence_id", str(sequence))]
    if not example:
        pairs += [("compression", "gzip" if gzip else ""), ("hashCode", hash_code(body))]
    return encode(pairs)


def headers_for(target: Target, variant: Variant, example: bool) -> list[tuple[str, str]]:
    """Content-Type, the document's X-Forwarded-For in its own example, and the cookie in a
    ``cookie`` header (as the Android SDK sends it) when the run has one."""
    headers = [("Content-Type", JSON_CONTENT_TYPE)]
    if example and not variant.sdk:
        headers.append(("X-Forwarded-For", EXAMPLE_FORWARDED_FOR))
    if target.settings.auth_cookie:
        name, value = target.settings.auth_cookie
        headers.append(("cookie", f"{name}={value}"))
    return headers


def plan_example(target: Target, variant: Variant) -> Planned:
    body = json.dumps(example_events(target), separators=(",", ":")).encode()
    return Planned("document-example", query_for(target, variant, 1, body, gzip=False, example=True),
                   headers_for(target, variant, example=True), body, 200)


def plan_gzip(target: Target, variant: Variant) -> Planned:
    events = [target.event(event_type="_screen_view", platform="Android",
                           attributes={"_screen_name": "ProductActivity", "index": i}) for i in range(50)]
    body = encode_base64_gzip(events)
    return Planned("base64-gzip", query_for(target, variant, 2, body, gzip=True),
                   headers_for(target, variant, example=False), body, 200)


def sized(target: Target, size: int) -> bytes:
    _, body = batch_of_size(size, app_id=target.app_id, tag=target.tag)
    assert len(body) == size, f"suite bug: built {len(body)} bytes, wanted {size}"
    return body


def plan_near_limit(target: Target, variant: Variant) -> Planned:
    body = sized(target, SURE_TO_FIT)
    return Planned("near-limit", query_for(target, variant, 3, body, gzip=False),
                   headers_for(target, variant, example=False), body, 200)


def plan_over_limit(target: Target, variant: Variant) -> Planned:
    body = sized(target, LIMIT + 1)
    return Planned("over-limit", query_for(target, variant, 4, body, gzip=False),
                   headers_for(target, variant, example=False), body, 413)


PLANS: dict[str, Callable[[Target, Variant], Planned]] = {
    "document-example": plan_example, "base64-gzip": plan_gzip,
    "near-limit": plan_near_limit, "over-limit": plan_over_limit,
}


# The oversized body's row also says whether the client could read its 413 (SHOULD).
REQUEST_PARAMS = [pytest.param(name, id=name, marks=[pytest.mark.requirement(READABLE)] if name == "over-limit" else [])
                  for name in PLANS]


# --- the session's clients -------------------------------------------------------------------
@dataclass
class Clients:
    """The client programs found (or why not), where their bodies go, and every run so far."""

    programs: dict[str, ClientProgram | SetupError]
    workdir: Path
    runs: list[tuple[str, str, ClientRun]]  # (variant, request, run)


@pytest.fixture(scope="session")
def clients() -> Iterator[Clients]:
    """The client programs, found once; the bodies' folder, removed at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="clickstream-clients-"))
    try:
        yield Clients(registry.found(), workdir, [])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def program_for(clients: Clients, variant: Variant, target: Target) -> ClientProgram:
    """The variant's program, or a SKIP saying why it cannot run here."""
    if variant.https_only and not target.settings.endpoint.startswith("https:"):
        pytest.skip("plain http: curl negotiates nothing, the curl-http1.1 row is this request")
    program = clients.programs.get(variant.client)
    if isinstance(program, SetupError) or program is None:
        pytest.skip(f"{variant.client}: {program or 'unknown client'}")
    return program


def trusted_ca(target: Target) -> str | None:
    """The CA file the clients trust besides their own: --ca-cert, else $SSL_CERT_FILE, which
    the suite's own wire trusts through OpenSSL and most of these clients ignore."""
    given = getattr(target.settings.tls, "ca_cert", None)
    from_env = os.environ.get("SSL_CERT_FILE")
    return given or (from_env if from_env and os.path.isfile(from_env) else None)


def client_request(target: Target, planned: Planned, body_file: Path, variant: Variant) -> ClientRequest:
    s, tls = target.settings, target.settings.tls
    return ClientRequest(url=f"{s.endpoint}?{planned.query}", body_file=str(body_file),
                         headers=tuple(planned.headers), timeout=s.timeout,
                         connect_timeout=min(s.timeout, 5.0),
                         ca_cert=trusted_ca(target), insecure=bool(getattr(tls, "insecure", False)),
                         client_cert=getattr(tls, "client_cert", None), client_key=getattr(tls, "client_key", None),
                         mode=variant.mode or None, user_agent=SDK_USER_AGENT if variant.sdk else None,
                         proxy=client_proxy(getattr(tls, "proxy", None)))


def client_proxy(proxy: str | None) -> str | None:
    """The run's proxy as every client takes it, http://host:port, at the address the
    suite's own wire uses: it sends no proxy credentials, so none go to the clients (nor
    into their logs)."""
    if not proxy:
        return None
    host, port = proxy_address(proxy)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_client(program: ClientProgram, variant: Variant, request: ClientRequest, workdir: Path,
               secrets: tuple[str, ...]) -> ClientRun:
    """Run the variant's client once (each client module has its own ``run``)."""
    if variant.client == "curl":
        from conformance.engines.clients import curl
        return curl.run(program, request, variant.http, workdir, secrets)
    module = __import__(f"conformance.engines.clients.{variant.client}", fromlist=["run"])
    why_not = getattr(module, "unsupported", lambda _request: None)(request)
    if why_not:
        pytest.skip(why_not)
    run = getattr(module, "run", None)  # a module with its own way of running (fetch: Node's trust)
    return run(program, request, secrets) if run else run_driver(program, request, secrets)


# --- evidence ---------------------------------------------------------------------------------
def as_exchange(run: ClientRun, planned: Planned, request: ClientRequest, case: str,
                evidence: EvidenceBuilder) -> Exchange:
    """The client's run as the suite's evidence: what it was given to send, what it saw."""
    protocol = "HTTP/2" if run.protocol.lower() in ("h2", "http/2", "http/2.0") else "HTTP/1.1"
    ex = evidence.request(case=case, method="POST", url=request.url, headers=planned.headers, body=planned.body,
                          outcome=run.transport(), detail="" if run.answered else (run.error or run.problem),
                          protocol=protocol)
    if run.answered:
        evidence.response(ex, status=run.status, headers=run.response_headers,
                          body=run.response_body.encode("utf-8", errors="replace"))
    ex.elapsed = run.elapsed_ms / 1000
    return ex


def log_name(variant: Variant, planned: Planned) -> str:
    """The bundle's file for one run's log, beside results.json (a bundle is one flat folder)."""
    return f"client-{variant.name}-{planned.name}.log"


def failure_detail(variant: Variant, program: ClientProgram, run: ClientRun, log: str) -> str:
    head = run.log[:LOG_TAIL]  # its standard error first: the client's own account
    return (f"{variant.name} ({run.client or program.version}): exit "
            f"{run.exit_code if run.exit_code is not None else 'none (killed at the time limit)'}"
            f"{', error: ' + run.error if run.error else ''}\n"
            f"  its whole output: {log} in the bundle; the start of it:\n    "
            + "\n    ".join(head.splitlines() or ["(nothing)"]))


def judge(target: Target, variant: Variant, program: ClientProgram, planned: Planned, run: ClientRun,
          ex: Exchange, log: str) -> None:
    """The client's own verdict against the status the request needs."""
    if run.problem and run.exit_code is not None:
        # The driver broke its contract (no result line, bad arguments): no verdict on the collector.
        raise CouldNotJudge(f"{variant.name}: {run.problem}; {failure_detail(variant, program, run, log)}", ex)
    if run.status is None and run.transport() == "refused":
        # Nothing listens: the collector is down, as the suite's own wire would find too.
        raise CouldNotJudge(f"{variant.name} could not connect: {run.error}", ex)
    expected = f"{planned.expected} as {variant.name} sees it"
    if planned.expected == 413 and run.cut_off():
        # The body was refused by closing on it: the MUST holds, the 413 went unread (SHOULD).
        note_held(variant.requirement)
        target.warn(ClientRequestFailed(READABLE, "413, read by the client", f"no answer ({run.error})", ex,
                                        detail=failure_detail(variant, program, run, log), command=run.command))
        return
    if run.status != planned.expected:
        actual = run.outcome() if run.status is not None else f"no answer ({run.error or run.problem})"
        raise ClientRequestFailed(variant.requirement, expected, actual, ex,
                                  detail=failure_detail(variant, program, run, log), command=run.command)
    note_held(variant.requirement)


# --- the cases ------------------------------------------------------------------------------------
@pytest.mark.parametrize("request_name", REQUEST_PARAMS)
@pytest.mark.parametrize("variant_name", VARIANT_PARAMS)
def test_client_gets_the_answer_its_request_needs(target: Target, clients: Clients,
                                                  evidence_file: Callable[[str, bytes], str],
                                                  variant_name: str, request_name: str) -> None:
    """A real client program sends the request (the document's example, a base64-gzip
    batch, 1,000,000 bytes; 1,048,577 bytes): by its own account it gets 200 (413 for the
    oversized body), with no TLS error, reset or timeout; with --sink, the events of a 200
    are then in the sink."""
    variant = VARIANTS[variant_name]
    program = program_for(clients, variant, target)
    planned = PLANS[request_name](target, variant)
    case = target.case.name
    body_file = clients.workdir / f"{variant.name}.{planned.name}.body"
    body_file.write_bytes(planned.body)
    request = client_request(target, planned, body_file, variant)
    s = target.settings
    run = run_client(program, variant, request, clients.workdir, s.secrets)
    clients.runs.append((variant.name, planned.name, run))
    log = evidence_file(log_name(variant, planned), run.evidence_text().encode("utf-8"))
    ex = as_exchange(run, planned, request, case, EvidenceBuilder(s.secrets))
    target.book(ex, planned.body, planned.query, valid=planned.valid, judged=True)
    target.observe(f"{variant.name} ({run.client}): {run.outcome()} over {run.protocol or 'an unknown protocol'} "
                   f"in {run.elapsed_ms:.0f} ms; log {log}")
    judge(target, variant, program, planned, run, ex, log)
    if target.tracking and planned.valid:
        ids = set(event_ids_in(planned.body, planned.query))
        judge_sent(target, ids)
        target.observe(f"all {len(ids)} events of the 200 read back from the sink, intact")


def summary(runs: list[tuple[str, str, ClientRun]]) -> dict[str, tuple[str, str]]:
    """variant -> (the protocols it spoke, its fastest and slowest request)."""
    table: dict[str, tuple[str, str]] = {}
    for variant in dict.fromkeys(name for name, _, _ in runs):
        mine = [run for name, _, run in runs if name == variant]
        protocols = ", ".join(sorted({run.protocol or "?" for run in mine}))
        times = sorted(run.elapsed_ms for run in mine)
        table[variant] = (protocols, f"{times[0]:.0f}-{times[-1]:.0f} ms" if len(times) > 1 else f"{times[0]:.0f} ms")
    return table


@pytest.mark.requirement(OBSERVED)
def test_client_protocols_and_times_are_observed(target: Target, clients: Clients) -> None:
    """Which protocol each client spoke with the endpoint, and how long its requests took."""
    table = summary(clients.runs)
    if not table:
        target.observe("no client program ran", key="client protocols", value="none ran")
        return
    protocols = "; ".join(f"{name} {protocol}" for name, (protocol, _) in table.items())
    times = "; ".join(f"{name} {span}" for name, (_, span) in table.items())
    target.observe(f"protocols: {protocols}", key="client protocols", value=protocols)
    target.observe(f"request times as each client measured them: {times}", key="client times", value=times)
    host = urlsplit(target.settings.endpoint).hostname
    target.observe(f"{len(clients.runs)} client runs against {host}")
