"""The per-host circuit breaker: closed -> open -> half-open -> closed, failing fast while open."""

from __future__ import annotations

import logging

import pytest

from lumia_assets.sources.breaker import BreakerState, CircuitBreaker, CircuitOpenError, Transition
from lumia_assets.sources.errors import TransientUpstreamError
from lumia_assets_tests.fakes import FakeClock

HOST = "api.kraken.com"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
def seen() -> list[Transition]:
    return []


@pytest.fixture
def breaker(clock: FakeClock, seen: list[Transition]) -> CircuitBreaker:
    return CircuitBreaker(HOST, failure_threshold=3, cooldown_seconds=10.0, clock=clock, on_transition=seen.append)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_attempt()
        breaker.on_failure()


def test_it_opens_after_consecutive_failures_and_fails_fast_naming_the_host(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker, 1)

    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError, match=r"api\.kraken\.com: circuit breaker open") as raised:
        breaker.before_attempt()
    assert isinstance(raised.value, TransientUpstreamError)
    assert raised.value.host == HOST


def test_scattered_failures_never_open_it_however_many(breaker: CircuitBreaker) -> None:
    for _ in range(30):  # one attempt in three fails: retries handle that, the host is up
        fail(breaker, 1)
        breaker.on_success()
        breaker.on_success()

    assert breaker.state is BreakerState.CLOSED


def test_a_host_failing_most_of_the_time_opens_it(breaker: CircuitBreaker) -> None:
    fail(breaker, 1)
    for _ in range(4):
        breaker.on_success()
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED  # three failures, but three of seven outcomes

    fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN  # half of the last eight


def test_after_the_cooldown_one_trial_goes_through_and_a_success_closes(
    breaker: CircuitBreaker, clock: FakeClock, seen: list[Transition]
) -> None:
    fail(breaker, 3)
    clock.now += 10.0

    breaker.before_attempt()  # the trial
    with pytest.raises(CircuitOpenError):
        breaker.before_attempt()  # no second request while the trial is out
    breaker.on_success()

    assert breaker.state is BreakerState.CLOSED
    assert (
        seen
        == breaker.transitions
        == [
            Transition(100.0, HOST, BreakerState.CLOSED, BreakerState.OPEN),
            Transition(110.0, HOST, BreakerState.OPEN, BreakerState.HALF_OPEN),
            Transition(110.0, HOST, BreakerState.HALF_OPEN, BreakerState.CLOSED),
        ]
    )


def test_a_failed_trial_opens_the_breaker_again(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 3)
    clock.now += 10.0
    fail(breaker, 1)

    assert breaker.state is BreakerState.OPEN
    assert [t.to_state for t in breaker.transitions] == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.OPEN]


def test_an_inconclusive_trial_frees_the_slot_for_another(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 3)
    clock.now += 10.0
    breaker.before_attempt()
    breaker.on_inconclusive()

    breaker.before_attempt()
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_trial_that_never_reports_back_frees_its_slot_after_a_cooldown(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail(breaker, 3)
    clock.now += 10.0
    breaker.before_attempt()
    clock.now += 10.0

    breaker.before_attempt()


def test_transitions_are_logged(breaker: CircuitBreaker, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="lumia_assets.upstream"):
        fail(breaker, 3)

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "circuit breaker for api.kraken.com: closed -> open")
    ]


def test_the_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(HOST, failure_threshold=0)
