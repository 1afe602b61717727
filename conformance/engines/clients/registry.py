"""Every client the ``clients`` profile knows (``CLIENT_MODULES``), found or with the reason
it is not: a client whose module is not in this install gets a reason too, so its rows
SKIP saying so instead of vanishing."""
from __future__ import annotations

from conformance.engines.clients import CLIENT_MODULES, FINDERS, ClientProgram, SetupError, find


def found() -> dict[str, ClientProgram | SetupError]:
    """Every known client, found or with the reason it is not."""
    programs = find()
    for name in CLIENT_MODULES:
        if name not in FINDERS:
            programs[name] = SetupError(f"no {name} driver in this install")
    return programs


# The requirements each client's rows judge (conformance/cases/clients.py).
REQUIREMENTS = {"curl": ("CS-CLIENTS-CURL",), "okhttp": ("CS-CLIENTS-OKHTTP", "CS-CLIENTS-OKHTTP-SDK"),
                "fetch": ("CS-CLIENTS-FETCH",), "requests": ("CS-CLIENTS-REQUESTS",),
                "httpclient": ("CS-CLIENTS-HTTPCLIENT",)}


def unavailable() -> tuple[tuple[str, str], ...]:
    """(requirement, why) for each client requirement no program here can judge: its rows
    SKIP, and the profile's verdict stands on the clients that ran."""
    return tuple((rid, f"{name}: {program}") for name, program in found().items()
                 if isinstance(program, SetupError) for rid in REQUIREMENTS.get(name, ()))
