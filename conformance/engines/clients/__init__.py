"""Real HTTP client programs, for the ``clients`` profile.

The API document's "Request code example" section shows one request in five clients:
curl, C# ``HttpClient``, Java OkHttp, JavaScript ``fetch`` and Python ``requests``. The
profile runs each as a real program against the endpoint and judges it by the client's
own verdict (the status it saw, its exit code, its error).

Every client but curl is driven by a small program of ours (``drivers/``), and all of them
take the same arguments and print the same result, so the profile treats them alike. curl
runs as itself: its module builds curl's own command line from the same arguments and reads
curl's ``--write-out`` into the same result, so its reproduction command is plain curl.

    <driver> --url URL --body-file PATH
             [--header 'Name: value']...      # in order; Content-Type among them
             [--ca-cert PEM] [--insecure] [--client-cert PEM] [--client-key PEM]
             [--connect-timeout S] [--timeout S]
             [--proxy http://HOST:PORT]        # the run's --proxy (or $HTTPS_PROXY): https through a CONNECT tunnel
             [--mode bare|sdk]                 # okhttp: the document's bare example, or as the Android SDK
             [--user-agent UA]                 # sdk mode: the SDK's own User-Agent

A client's own proxy settings from the environment are taken away: it goes through the
proxy the suite goes through, or none, whatever the client would read by itself (curl and
requests read $HTTPS_PROXY, OkHttp and Node's fetch do not). The method is always POST. The cookie, when the run has one, is one of the --header lines
(``cookie: name=value``), as the Android SDK sends it. A driver prints exactly one JSON
object as its last line of standard output:

    {"client": "okhttp 4.12.0", "status": 200 | null, "protocol": "h2" | "http/1.1" | ...,
     "elapsed_ms": 12.5, "error": null | "the client's own error message",
     "response_headers": [["name", "value"], ...], "response_body": "first 4 KiB"}

and exits 0 when it got an HTTP answer (any status), 1 when it got none (TLS error, reset,
timeout: ``error`` says which, in the client's words), 2 on bad arguments. Anything else
it prints (standard error included) is the client's log, kept as evidence.

Where each program is, and what is missing, comes from ``find()``; ``clickstream-conformance
setup clients`` prepares what can be prepared (compiles the OkHttp driver) and says in one
line what is missing.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Callable


class SetupError(Exception):
    """A client program is missing or cannot be prepared; the message says how to get it."""


@dataclass(frozen=True)
class ClientProgram:
    """A client the profile can run: the command that starts its driver, before the
    contract's arguments, and the client's own version."""

    name: str                       # curl | okhttp | fetch | requests | httpclient
    version: str                    # e.g. "4.12.0", "curl 7.88.1", "node v20.20.2"
    argv: tuple[str, ...]           # the driver's command, e.g. ("java", "-cp", "...", "Upload")
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the driver


# name -> a function that finds the client or raises SetupError (filled by the client modules).
FINDERS: dict[str, Callable[[], ClientProgram]] = {}
# The modules that fill FINDERS, one per client of the document's example (``load_finders``).
CLIENT_MODULES = ("curl", "okhttp", "fetch", "requests", "httpclient")


def load_finders() -> dict[str, Callable[[], ClientProgram]]:
    """FINDERS, once every client module present has registered its finder."""
    for module in CLIENT_MODULES:
        name = f"{__name__}.{module}"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    return FINDERS


def find(names: tuple[str, ...] | None = None) -> dict[str, ClientProgram | SetupError]:
    """Every known client (or those named), found or with the reason it is not."""
    load_finders()
    found: dict[str, ClientProgram | SetupError] = {}
    for name, finder in FINDERS.items():
        if names is not None and name not in names:
            continue
        try:
            found[name] = finder()
        except SetupError as exc:
            found[name] = exc
    return found
