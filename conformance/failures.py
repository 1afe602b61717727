"""Typed failures: what a check raises when a collector breaks a requirement.

A failure names the requirement it breaks, a short title, what was expected, what
came back, and the exchange that shows it (with a curl command to reproduce). The
plugin turns a failure into an outcome by the requirement's level: MUST -> FAIL,
SHOULD -> WARN. Anything that stops a case from reaching a verdict is
``CouldNotJudge`` -> ERROR.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from conformance.wire.exchange import Exchange

# Outcome classes, after Autobahn: beyond pass/fail.
PASS, FAIL, WARN, INFO, ERROR, SKIP = "PASS", "FAIL", "WARN", "INFO", "ERROR", "SKIP"
OUTCOMES = (PASS, FAIL, WARN, INFO, ERROR, SKIP)
GATE_BREAKING = (FAIL, ERROR)


class ConformanceFailure(Exception):
    """A collector broke a requirement; subclasses name the kind of break."""

    title = "Requirement not met"

    def __init__(self, requirement: str, expected: str, actual: str,
                 exchange: "Exchange | None" = None, detail: str = "") -> None:
        self.requirement = requirement
        self.expected = expected
        self.actual = actual
        self.exchange = exchange
        self.detail = detail
        super().__init__(self.render())

    @property
    def kind(self) -> str:
        return type(self).__name__

    def render(self) -> str:
        lines = [f"[{self.requirement}] {self.kind}: {self.title}"]
        if self.detail:
            lines.append(f"  {self.detail}")
        lines.append(f"  expected: {self.expected}")
        lines.append(f"  actual:   {self.actual}")
        if self.exchange is not None:
            lines.append(f"  sent:     {self.exchange.method} {self.exchange.url} "
                         f"({self.exchange.body_size} bytes, sha256 {self.exchange.body_sha256[:16]}...)")
            lines.append(f"  reproduce: {self.exchange.curl()}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "requirement": self.requirement,
                "expected": self.expected, "actual": self.actual, "detail": self.detail}


class RejectedValidData(ConformanceFailure):
    title = "A valid request was not answered with exactly 200"


class AcceptedUnknownApp(ConformanceFailure):
    title = "A request for an unregistered or missing appId was not refused with 403"


class MissingSizeLimit(ConformanceFailure):
    title = "An oversized body was not refused with 413"


class ServerError(ConformanceFailure):
    title = "The collector answered a request with a 5xx status"


class CollectorDied(ConformanceFailure):
    title = "The collector stopped answering known-good requests after this case"


class TooSlow(ConformanceFailure):
    title = "No answer within the request timeout"


class NonEmptySuccessBody(ConformanceFailure):
    title = "A 200 answer carried a body"


class IgnoredAuth(ConformanceFailure):
    title = "The collector did not enforce the authentication cookie"


class WrongAuthStatus(ConformanceFailure):
    title = "Authentication was refused with a status other than 403"


class BadCors(ConformanceFailure):
    title = "The CORS answer would make a browser drop the request"


class AcceptedInvalidData(ConformanceFailure):
    title = "A collector that validates at ingestion accepted invalid input"


class LostEvents(ConformanceFailure):
    title = "Events of requests answered 200 are not in the sink"


class CorruptEvents(ConformanceFailure):
    title = "Stored events differ from the events sent"


class StoredRefusedEvents(ConformanceFailure):
    title = "Events of a refused request were stored"


class SdkSendsFailed(ConformanceFailure):
    title = "The real Web SDK found its sends failed and kept the events to send again"


class ClientRequestFailed(ConformanceFailure):
    """The reproduction is the client's own command (the suite's curl line would send
    without the client's habits, its User-Agent and Expect among them)."""

    title = "A real HTTP client did not get the answer the request needs"

    def __init__(self, requirement: str, expected: str, actual: str, exchange: "Exchange | None" = None,
                 detail: str = "", command: str = "") -> None:
        self.command = command
        super().__init__(requirement, expected, actual, exchange, detail)

    def render(self) -> str:
        lines = super().render().splitlines()
        if self.command:
            lines = [f"  reproduce: {self.command}" if line.startswith("  reproduce: ") else line for line in lines]
        return "\n".join(lines)


class CouldNotJudge(Exception):
    """The case could not reach a verdict: target refused, reset or is down."""

    def __init__(self, reason: str, exchange: "Exchange | None" = None) -> None:
        self.reason = reason
        self.exchange = exchange
        text = f"could not judge: {reason}"
        if exchange is not None:
            text += f"\n  reproduce: {exchange.curl()}"
        super().__init__(text)
