"""Small named checks on one exchange. Each raises a typed failure or returns None.

Checks never send anything; the cases send through ``Target`` and hand the exchange
here. A check that passes notes its requirement as held (``note_held``), so that a
case stopped later by another requirement's failure shows this one as judged.

Transport problems (timeout, refused) are dealt with in ``Target.send``; a check sees
answered exchanges and resets (a reset is an answer of sorts: the collector closed the
connection instead of giving a status).
"""
from __future__ import annotations

from typing import Iterable, MutableSet

from conformance.wire.exchange import Exchange
from conformance.failures import (
    AcceptedUnknownApp,
    ConformanceFailure,
    MissingSizeLimit,
    NonEmptySuccessBody,
    RejectedValidData,
    ServerError,
)


# The methods a collector must implement: anything else may get 501.
IMPLEMENTED_METHODS = ("POST", "OPTIONS")

# The running case's held requirements: one case runs at a time, its worker threads
# included, so one slot that the target points at each case's set is enough.
_held: list[MutableSet[str]] = [set()]


def judging(held: MutableSet[str]) -> None:
    """From now on, note the requirements whose checks pass in ``held`` (a case's set)."""
    _held[0] = held


def note_held(requirement: str) -> None:
    """A check of ``requirement`` passed: the running case judged it."""
    _held[0].add(requirement)


def describe(ex: Exchange) -> str:
    """What came back, in a few words: status and a body excerpt, or the transport outcome."""
    if ex.status is None:
        return f"{ex.outcome}: {ex.detail}".strip().rstrip(":")
    body = ex.response_body_excerpt.strip().replace("\n", " ")
    suffix = f" with body {body[:120]!r}" if body else ""
    early = " (answered before the upload finished)" if ex.early_answer else ""
    return f"{ex.status} {ex.reason}{suffix}{early}"


def expect_accepted(ex: Exchange, requirement: str) -> None:
    """Exactly 200: SDKs treat anything else, 201 and 204 included, as a failed send."""
    if ex.status != 200:
        failure = ServerError if is_server_error(ex) else RejectedValidData
        raise failure(requirement, "200", describe(ex), ex)
    note_held(requirement)


def expect_status(ex: Exchange, expected: Iterable[int], requirement: str,
                  failure: type[ConformanceFailure] = ConformanceFailure) -> None:
    """The status is one of ``expected``; otherwise ``failure`` for ``requirement``."""
    allowed = sorted(set(expected))
    if ex.status not in allowed:
        raise failure(requirement, _statuses(allowed), describe(ex), ex)
    note_held(requirement)


def _statuses(allowed: list[int]) -> str:
    """'403 or 413', or 'a 4xx status' for a whole class."""
    if allowed == list(range(allowed[0], allowed[0] + 100)) and allowed[0] % 100 == 0:
        return f"a {allowed[0] // 100}xx status"
    return " or ".join(map(str, allowed))


def expect_app_refused(ex: Exchange, requirement: str = "CS-APPID-403",
                       also: Iterable[int] = ()) -> None:
    """403 for a bad appId (``also`` admits 413 when the body is oversized too)."""
    expect_status(ex, {403, *also}, requirement, AcceptedUnknownApp)


def expect_too_large(ex: Exchange, requirement: str = "CS-SIZE-413") -> None:
    """413, readable by the client even when sent before the upload finished."""
    expect_status(ex, {413}, requirement, MissingSizeLimit)


def expect_no_server_error(ex: Exchange, requirement: str = "CS-ROBUST") -> None:
    """Any answer but a 5xx; a reset is tolerated here, the canary judges liveness.
    501 to a method other than POST and OPTIONS is no fault (verdicts.md MUST 9)."""
    if is_server_error(ex) and not is_unimplemented_method(ex):
        expected = "no 5xx status" + ("" if ex.method.upper() in IMPLEMENTED_METHODS
                                      else " (501 Not Implemented allowed for this method)")
        raise ServerError(requirement, expected, describe(ex), ex)
    note_held(requirement)


def is_unimplemented_method(ex: Exchange) -> bool:
    """501 Not Implemented for a method the collector need not implement: what RFC 9110
    (section 15.6.2) asks of a server that does not recognise a method."""
    return ex.status == 501 and ex.method.upper() not in IMPLEMENTED_METHODS


def expect_empty_success_body(ex: Exchange, requirement: str = "CS-OK-EMPTY") -> None:
    """The document says a success returns nothing else."""
    if ex.status != 200:
        return  # nothing to judge: only a 200 is meant to be empty
    if ex.response_body_size > 0:
        raise NonEmptySuccessBody(requirement, "an empty body", describe(ex), ex)
    note_held(requirement)


def is_server_error(ex: Exchange) -> bool:
    return ex.status is not None and 500 <= ex.status <= 599


def status_class(ex: Exchange) -> str:
    """'200', '4xx' etc. for observations; the transport outcome when unanswered."""
    if ex.status is None:
        return ex.outcome
    if ex.status == 200:
        return "200"
    return f"{ex.status // 100}xx ({ex.status})"
