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
