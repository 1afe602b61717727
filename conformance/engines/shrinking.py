"""A property case that ends in bounded time with a verdict it can show.

Hypothesis shrinks a failing example by sending smaller ones. Against a collector
whose answers depend on what it received before (a 409 for any repeated body) or on
its clock (refusing events stamped ahead of it), shrinking can go on for minutes,
and the final replay of the smallest example may not fail again. ``PropertyGuard``
runs one property case so that:

* shrinking stops after ``Settings.shrink_budget`` seconds (Hypothesis' engine keeps
  this limit in ``MAX_SHRINKING_SECONDS`` and leaves it open to change for this use),
  and Hypothesis reports the smallest failing example found by then;
* a failure that does not reproduce on replay is still the failure it was: the
  refusal the collector gave, with its request and answer, plus a note saying it
  did not reproduce, never an ERROR;
* the first request that could not be judged (refused, timed out) ends the case
  without more attempts: each would cost a timeout.
"""
from __future__ import annotations

import contextlib
import functools
import time
from typing import Any, Callable, Iterator

from hypothesis import reporting
from hypothesis.errors import Flaky
from hypothesis.internal.conjecture import engine

from conformance.failures import ConformanceFailure, CouldNotJudge, TooSlow
from conformance.target import Target

# What Hypothesis prints when it stops shrinking at MAX_SHRINKING_SECONDS; it speaks
# of its own five-minute default, so the guard says it in its own words instead.
_SLOW_SHRINK_WARNING = "WARNING: Hypothesis has spent more than"


class PropertyGuard:
    """Wrap the check with :meth:`guard` and run the property inside ``with guard:``."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.budget: float = target.settings.shrink_budget
        self.error: CouldNotJudge | TooSlow | None = None
        self.last_failure: ConformanceFailure | None = None
        self.budget_spent = False
        self._started = 0.0
        self._stack = contextlib.ExitStack()

    def guard(self, check: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(check)
        def guarded(*args: Any, **kwargs: Any) -> None:
            if self.error is not None:
                return
            try:
                check(*args, **kwargs)
            except (CouldNotJudge, TooSlow) as exc:
                self.error = exc
            except ConformanceFailure as failure:
                # The shrinker only tries examples smaller than its best so far, so the
                # latest failure is the smallest one found.
                self.last_failure = failure
                raise
        return guarded

    def __enter__(self) -> "PropertyGuard":
        self._started = time.monotonic()
        self._stack.enter_context(_shrinking_limited_to(self.budget))
        self._stack.enter_context(reporting.with_reporter(self._report))
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        self._stack.close()
        if exc is None:
            if self.error is not None:
                raise self.error
            return False
        if isinstance(exc, ConformanceFailure):
            self._add_notes(exc, reproduced=True)
        elif isinstance(exc, Flaky) and self.last_failure is not None:
            self._add_notes(self.last_failure, reproduced=False)
            raise self.last_failure from None
        return False

    def _report(self, value: Any) -> None:
        text = str(value)
        if text.startswith(_SLOW_SHRINK_WARNING):
            self.budget_spent = True
            return
        reporting.default(value)

    def _add_notes(self, failure: ConformanceFailure, reproduced: bool) -> None:
        if self.budget_spent:
            failure.add_note(f"  shrinking stopped after its budget of {self.budget:g} s "
                             "(--conformance-shrink-budget): the example is the smallest found by then")
        if not reproduced:
            failure.add_note("  this refusal did not happen again when the example was replayed: the "
                             "collector's answer depends on earlier requests or on its clock (stateful); "
                             "the request and answer shown are the ones it refused")
        failure.add_note(f"  property case ran {time.monotonic() - self._started:.1f} s")


@contextlib.contextmanager
def _shrinking_limited_to(seconds: float) -> Iterator[None]:
    """Hypothesis stops shrinking after ``seconds`` and reports the best example so far."""
    saved = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = seconds
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = saved
