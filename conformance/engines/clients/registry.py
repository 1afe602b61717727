"""Every client module the ``clients`` profile knows, imported so that each registers its
finder in ``FINDERS``; a module not in this install (OkHttp's, before it lands) is left out,
and its rows then SKIP because no finder names it."""
from __future__ import annotations

import importlib

from conformance.engines.clients import FINDERS, ClientProgram, SetupError, find

MODULES = ("curl", "okhttp", "fetch", "requests", "httpclient")


def load() -> None:
    """Import every client module there is."""
    for name in MODULES:
        try:
            importlib.import_module(f"conformance.engines.clients.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"conformance.engines.clients.{name}":
                raise


def found() -> dict[str, ClientProgram | SetupError]:
    """Every known client, found or with the reason it is not (a client without a module too)."""
    load()
    programs = find()
    for name in MODULES:
        if name not in FINDERS:
            programs[name] = SetupError(f"no {name} driver in this install")
    return programs
