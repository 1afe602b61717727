"""The run's settings from the options, each checked (a problem is one line, never a traceback); the one endpoint and cookie parser.

pytest sees a problem as a ``pytest.UsageError``; certify and load catch :class:`BadOption`
from :func:`parse_endpoint` and :func:`parse_cookie` and say it their own way.
"""
from __future__ import annotations

import random
import re
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

import pytest

from conformance.target import Settings
from conformance.wire.exchange import redact

# RFC 6265: a cookie-name is an HTTP token; a cookie-value is cookie-octets (printable
# ASCII but space, DQUOTE, comma, semicolon and backslash), optionally in one pair of DQUOTEs.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COOKIE_VALUE = re.compile(r'("?)[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+\1')


class BadOption(ValueError):
    """A bad --endpoint or --auth-cookie; the message is the one line the user sees, and
    never holds the cookie's value."""


def parse_endpoint(endpoint: str) -> str:
    """The endpoint, checked: an http(s) URL with a host and a good port, no query or fragment."""
    try:
        parts = urlsplit(endpoint)
    except ValueError:  # a bracketed host that is no IPv6 address
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadOption(f"--endpoint must be an http(s) URL like http://127.0.0.1:8080/collect, got {endpoint!r}")
    if parts.query or parts.fragment:
        raise BadOption(f"--endpoint must not carry a query or fragment (the suite adds appId and "
                        f"the rest), got {endpoint!r}")
    try:
        parts.port
    except ValueError:
        raise BadOption(f"--endpoint has a bad port: {endpoint!r}") from None
    return endpoint


def parse_cookie(text: str | None) -> tuple[str, str] | None:
    """NAME=VALUE -> (name, value), by RFC 6265's rules; None when not given. The value is
    kept as given (quotes and all): it is what goes on the wire."""
    if text is None:
        return None
    name, sep, value = text.partition("=")
    name = name.strip(" \t")
    if not sep or not name or value.strip('"') == "":
        raise BadOption("--auth-cookie must look like NAME=VALUE")
    if not _COOKIE_NAME.fullmatch(name):
        raise BadOption(f"--auth-cookie: {name!r} is not a valid cookie name (letters, digits and "
                        "!#$%&'*+-.^_`|~ only)")
    if not _COOKIE_VALUE.fullmatch(value):
        raise BadOption("--auth-cookie: the value holds characters a cookie cannot carry (spaces, quotes, "
                        "commas, semicolons, backslashes, control or non-ASCII characters); one pair of "
                        "double quotes around it is allowed")
    return name, value


T = TypeVar("T")


def _checked(parse: Callable[[Any], T], text: Any) -> T:
    """pytest's form of a bad option: a UsageError, one line."""
    try:
        return parse(text)
    except BadOption as exc:
        raise pytest.UsageError(str(exc)) from None


def settings_from_options(config: pytest.Config) -> Settings:
    """Validate the options; each problem is one clear line, never a traceback."""
    endpoint = _checked(parse_endpoint, config.getoption("endpoint"))
    app_id = config.getoption("app_id")
    if not app_id:
        raise pytest.UsageError("--app-id ID is required with --endpoint (an appId registered on the collector)")
    timeout = config.getoption("request_timeout")
    if not timeout > 0:
        raise pytest.UsageError(f"--request-timeout must be a positive number of seconds, got {timeout}")
    examples = config.getoption("conformance_examples")
    if examples < 1:
        raise pytest.UsageError(f"--conformance-examples must be at least 1, got {examples}")
    shrink_budget = config.getoption("conformance_shrink_budget")
    if not shrink_budget >= 0:
        raise pytest.UsageError(f"--conformance-shrink-budget must be 0 or more seconds, got {shrink_budget}")
    profiles = {"core"}
    cookie = _checked(parse_cookie, config.getoption("auth_cookie"))
    if cookie:
        profiles.add("auth")
    origin = config.getoption("origin")
    if origin is not None:
        o = urlsplit(origin)
        if o.scheme not in ("http", "https") or not o.hostname or o.path not in ("", "/"):
            raise pytest.UsageError(f"--origin must be a scheme and host like https://shop.example, got {origin!r}")
        origin = origin.rstrip("/")
        profiles.add("web")
    chosen = chosen_profiles(config)
    if "strict" in chosen:
        profiles.add("strict")
    websdk_options = websdk_settings(config, endpoint, origin, cookie) if "websdk" in chosen else {}
    if websdk_options:
        profiles.add("websdk")
    if "h2" in chosen:
        profiles.add(h2_profile())
    clients_options = {}
    if "clients" in chosen:
        from conformance.engines.clients.registry import unavailable
        profiles.add("clients")  # each client missing here SKIPs its own cases, with the reason
        clients_options = {"unavailable": unavailable()}
    sink_options = sink_settings(config)
    if sink_options:
        profiles.add("delivery")
    network_options = network_settings(config) if "network" in chosen else {}
    if network_options:
        profiles.add("network")
    process_options = collector_settings(config)
    if sink_options and process_options:
        profiles.add("durability")
    return Settings(endpoint, app_id, cookie, origin, frozenset(profiles), timeout, examples,
                    shrink_budget=shrink_budget, tls=tls_settings(config, endpoint),
                    **sink_options, **process_options, **websdk_options, **network_options, **clients_options)


def network_settings(config: pytest.Config) -> dict[str, Any]:
    """The network profile's bounds, checked: at most 20 s an attack, at least one socket."""
    seconds, sockets = config.getoption("network_seconds"), config.getoption("network_sockets")
    if not 0 < seconds <= 20:
        raise pytest.UsageError(f"--network-seconds must be more than 0 and at most 20, got {seconds:g}")
    if not 1 <= sockets <= 10000:
        raise pytest.UsageError(f"--network-sockets must be between 1 and 10000, got {sockets}")
    return {"network_seconds": seconds, "network_sockets": sockets}


def tls_settings(config: pytest.Config, endpoint: str) -> Any:
    """The TLS options (conformance.wire.tls.TLSOptions), checked: a missing file, a key
    that is not the certificate's or TLS options with an http:// endpoint is one line."""
    from conformance.wire.tls import TLSProblem, check_options, options_from
    options = options_from(config.getoption("ca_cert"), config.getoption("client_cert"),
                           config.getoption("client_key"), config.getoption("insecure"),
                           config.getoption("proxy"), endpoint=endpoint)
    try:
        check_options(options, endpoint)
    except TLSProblem as exc:
        raise pytest.UsageError(str(exc)) from None
    return options


def chosen_profiles(config: pytest.Config) -> list[str]:
    """The --profile values given (core when none)."""
    return sorted(set(config.getoption("profile") or ["core"]))


def h2_profile() -> str:
    """The h2 profile's name, once its library is known to be installed (one line if not)."""
    try:
        import h2.connection  # noqa: F401
    except ImportError:
        raise pytest.UsageError("--profile h2 needs the h2 package: "
                                "pip install 'clickstream-conformance[h2]'") from None
    return "h2"


def websdk_settings(config: pytest.Config, endpoint: str, origin: str | None,
                    cookie: tuple[str, str] | None) -> dict[str, Any]:
    """What the websdk profile needs, checked before any case runs: one line each."""
    from conformance.engines import websdk
    from conformance.engines.websdk.page_server import default_port
    if origin is None:
        raise pytest.UsageError("--profile websdk needs --origin ORIGIN, a web origin the collector allows: "
                                "the suite serves the SDK's page from it for the cross-origin send")
    end, page = urlsplit(endpoint), urlsplit(origin)
    if (page.hostname, page.port or default_port(page.scheme)) == (end.hostname, end.port or default_port(end.scheme)):
        # Chromium resolves --origin's host and port to the suite's page server.
        other = 8125 if end.port == 8124 else 8124
        raise pytest.UsageError(f"--profile websdk: --origin {origin} is the endpoint's own host and port; give "
                                f"the origin of a page on another port or host (the suite serves it), e.g. "
                                f"http://{end.hostname}:{other}")
    if cookie and end.scheme == "http" and (page.scheme, page.hostname) != (end.scheme, end.hostname):
        # A browser sends a cookie cross-site only if it is Secure, which needs https.
        raise pytest.UsageError(f"--profile websdk with --auth-cookie: a browser sends no cookie from {origin} "
                                f"to the http endpoint {endpoint} (another site); give an --origin on the "
                                f"endpoint's host, e.g. http://{end.hostname}:8124, or an https endpoint")
    version = config.getoption("websdk_version") or websdk.DEFAULT_VERSION
    try:
        sdk = websdk.installed(version)
        chromium = websdk.find_chromium()
        driver = websdk.check_driver()
    except websdk.SetupError as exc:
        raise pytest.UsageError(f"--profile websdk: {exc}") from None
    return {"websdk": sdk, "chromium": chromium, "websdk_driver": driver}


def collector_settings(config: pytest.Config) -> dict[str, Any]:
    """The --collector-command options, checked."""
    command = config.getoption("collector_command")
    if command is None:
        return {}
    if not command.strip():
        raise pytest.UsageError("--collector-command must not be empty")
    ready, kills = config.getoption("collector_ready_timeout"), config.getoption("durability_kills")
    if not ready > 0:
        raise pytest.UsageError(f"--collector-ready-timeout must be a positive number of seconds, got {ready}")
    if not 1 <= kills <= 20:
        raise pytest.UsageError(f"--durability-kills must be from 1 to 20, got {kills}")
    seed = config.getoption("durability_seed")
    return {"collector_command": command, "collector_ready_timeout": ready, "durability_kills": kills,
            "durability_seed": seed if seed is not None else random.randrange(2**31)}


def sink_settings(config: pytest.Config) -> dict[str, Any]:
    """The --sink options, checked: an unknown scheme or a malformed spec is one line."""
    spec = config.getoption("sink")
    if spec is None:
        return {}
    from conformance.engines.sinks import SinkError, open_sink
    from conformance.engines.sinks.records import parse_record_shape
    wait, read_timeout = config.getoption("sink_wait"), config.getoption("sink_timeout")
    if not wait >= 0:
        raise pytest.UsageError(f"--sink-wait must be zero or more seconds, got {wait}")
    if not read_timeout > 0:
        raise pytest.UsageError(f"--sink-timeout must be a positive number of seconds, got {read_timeout}")
    try:
        sink = open_sink(spec, timeout=read_timeout)
        shape = parse_record_shape(config.getoption("sink_record"))
    except SinkError as exc:
        raise pytest.UsageError(f"--sink: {exc}") from None
    return {"sink": sink, "sink_wait": wait, "record_shape": shape, "sink_secrets": tuple(sink.secrets)}


def redacted_options(config: pytest.Config, settings: Settings) -> dict[str, Any]:
    """The run's options for the report, with the cookie value redacted."""
    cookie = settings.auth_cookie
    return {
        "endpoint": settings.endpoint,
        "app_id": settings.app_id,
        "auth_cookie": f"{cookie[0]}=<redacted>" if cookie else None,
        "origin": settings.origin,
        "profile": ",".join(chosen_profiles(config)),
        "request_timeout": settings.timeout,
        "conformance_examples": settings.examples,
        "conformance_shrink_budget": settings.shrink_budget,
        "hypothesis_seed": config.getoption("hypothesis_seed", None),
        "baseline": config.getoption("baseline"),
        "sink": settings.sink.description if settings.sink is not None else None,
        "sink_wait": settings.sink_wait if settings.sink is not None else None,
        "sink_record": config.getoption("sink_record") if settings.sink is not None else None,
        # A command line may carry the cookie (the embedded collector's does).
        "collector_command": redact(settings.collector_command, settings.secrets)
                             if settings.collector_command else None,
        "durability_kills": settings.durability_kills if settings.collector_command else None,
        "durability_seed": settings.durability_seed if settings.collector_command else None,
        "websdk_version": settings.websdk.version if settings.websdk else None,
    }
