"""Property-based cases: Hypothesis generates the batches (strategies package).

Valid batches, plain or base64(gzip), with or without hashCode, must each get 200;
a failure shrinks to a minimal batch. Invalid batches (each breaking one named rule)
are observed, refused with 4xx only under --profile strict, and never get a 5xx.
Runs are reproducible: `--hypothesis-seed` is honoured, and `certify` fixes one.
"""
from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from conformance.checks import expect_no_server_error, expect_status
from conformance.failures import AcceptedInvalidData
from conformance.engines.shrinking import PropertyGuard
from conformance.target import Target
from conformance.strategies import BODY_RULES, EVENT_RULES, batches, encode, invalid_batches, rule_kind

# No "explain" phase: it sends many more requests after shrinking, only to point at
# lines of the suite's own code.
BOUNDED_PHASES = [phase for phase in Phase if phase != Phase.explain]
SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                HealthCheck.function_scoped_fixture]


def property_settings(target: Target) -> settings:
    return settings(max_examples=target.settings.examples, deadline=None, database=None,
                    suppress_health_check=SLOW_IS_FINE, report_multiple_bugs=False, print_blob=True,
                    phases=BOUNDED_PHASES)


# (encoding, with hashCode) -> the requirement a rejection breaks
VARIANTS = {
    ("plain", False): "CS-VALID-200",
    ("base64-gzip", False): "CS-GZIP-200",
    ("plain", True): "CS-HASH-200",
    ("base64-gzip", True): "CS-HASH-200",
}


@pytest.mark.requirement("CS-VALID-200", "CS-GZIP-200", "CS-HASH-200")
@pytest.mark.parametrize("encoding, with_hash", list(VARIANTS), ids=["plain", "base64-gzip", "plain-hashCode", "base64-gzip-hashCode"])
def test_generated_valid_batches_get_200(target: Target, encoding: str, with_hash: bool) -> None:
    """Every generated valid batch (any documented field, Unicode text) -> exactly 200."""
    requirement = VARIANTS[(encoding, with_hash)]

    unjudgeable = PropertyGuard(target)

    @property_settings(target)
    @given(batch=batches(min_events=1, max_events=5, app_id=target.app_id, tag=target.tag))
    @unjudgeable.guard
    def check(batch: list) -> None:
        sent = encode(batch, encoding)
        params = {"compression": sent.compression} if sent.compression else {}
        if with_hash:
            params["hashCode"] = sent.hash_code
        target.post_valid(sent.body, requirement, **params)

    with unjudgeable:
        check()


@pytest.mark.requirement("CS-VALIDATES-EVENTS", "CS-VALIDATES-BODY", "CS-ROBUST", "CS-STRICT-EVENTS-4XX", "CS-STRICT-BODY-4XX")
@pytest.mark.parametrize("scope", ["events", "bodies"])
def test_generated_invalid_batches_are_survived(target: Target, scope: str) -> None:
    """Each generated example breaks one rule: never a 5xx; refused with 4xx under strict."""
    rules = EVENT_RULES if scope == "events" else BODY_RULES
    strict = "CS-STRICT-EVENTS-4XX" if scope == "events" else "CS-STRICT-BODY-4XX"
    answers: Counter[tuple[str, str]] = Counter()

    unjudgeable = PropertyGuard(target)

    @property_settings(target)
    @given(example=invalid_batches(rules=rules, app_id=target.app_id))
    @unjudgeable.guard
    def check(example) -> None:
        params = {"compression": example.compression} if example.compression else {}
        ex = target.post(example.body, **params)
        expect_no_server_error(ex)
        refused = ex.status is not None and 400 <= ex.status < 500
        answers[(example.rule, "refused" if refused else str(ex.status or ex.outcome))] += 1
        # Strict demands refusal of errors only: limit and naming deviations stay
        # observations, since real SDKs send events past the limits (509 attributes seen).
        if target.active(strict) and rule_kind(example.rule) == "error":
            expect_status(ex, range(400, 500), strict, AcceptedInvalidData)

    try:
        with unjudgeable:
            check()
    finally:
        _observe_validation(target, scope, answers)
    target.expect_alive(after=f"generated invalid {scope}")


def _observe_validation(target: Target, scope: str, answers: Counter) -> None:
    refused = sum(n for (_, a), n in answers.items() if a == "refused")
    total = sum(answers.values())
    if not total:
        return
    verdict = "yes" if refused == total else ("no: pass-through" if refused == 0 else "partly")
    target.observe(f"invalid {scope}: {refused} of {total} refused with 4xx; "
                   + ", ".join(f"{rule} -> {a}" for (rule, a), _ in sorted(answers.items())[:12]),
                   key=f"validates {scope} at ingestion (generated)", value=f"{verdict} ({refused}/{total} refused)")
