"""Retries: only retryable failures, exponential backoff with full jitter, Retry-After, attempt and time bounds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from curl_cffi import requests as curl_requests

from lumia_assets.sources.retry import Retrier
from lumia_assets_tests.fakes import FakeClock


@dataclass
class FakeResponse:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(0.0)


class Script:
    """An attempt function giving ``outcomes`` in turn and counting its calls."""

    def __init__(self, outcomes: Iterable[FakeResponse | Exception]) -> None:
        self.pending = list(outcomes)
        self.calls = 0

    def __call__(self) -> FakeResponse:
        self.calls += 1
        outcome = self.pending.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def retrier(clock: FakeClock, jitter: float = 0.5, **bounds: Any) -> Retrier:
    return Retrier(**bounds, clock=clock, sleep=clock.sleep, jitter=lambda: jitter)


@pytest.mark.parametrize("status", [429, 418, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_until_an_answer(clock: FakeClock, status: int) -> None:
    attempt = Script([FakeResponse(status), FakeResponse(status), FakeResponse(200)])

    assert retrier(clock).run(attempt).status_code == 200
    assert attempt.calls == 3


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 451])
def test_other_statuses_are_answers_and_not_retried(clock: FakeClock, status: int) -> None:
    attempt = Script([FakeResponse(status)])

    assert retrier(clock).run(attempt).status_code == status
    assert clock.slept == []


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectionError("refused"),
        requests.exceptions.ReadTimeout("slow"),
        requests.exceptions.ChunkedEncodingError("reset mid-body"),
        curl_requests.exceptions.Timeout("slow"),
        curl_requests.exceptions.ConnectionError("reset"),
        ConnectionResetError("reset"),
    ],
)
def test_timeouts_and_connection_failures_are_retried(clock: FakeClock, error: Exception) -> None:
    attempt = Script([error, FakeResponse(200)])

    assert retrier(clock).run(attempt).status_code == 200


def test_other_exceptions_are_not_retried(clock: FakeClock) -> None:
    attempt = Script([ValueError("a bug")])

    with pytest.raises(ValueError, match="a bug"):
        retrier(clock).run(attempt)
    assert attempt.calls == 1


def test_when_attempts_run_out_the_last_response_is_returned(clock: FakeClock) -> None:
    attempt = Script([FakeResponse(503), FakeResponse(503), FakeResponse(502)])

    assert retrier(clock, max_attempts=3).run(attempt).status_code == 502


def test_when_attempts_run_out_the_last_exception_is_raised(clock: FakeClock) -> None:
    attempt = Script([FakeResponse(503), requests.exceptions.ReadTimeout("still slow")])

    with pytest.raises(requests.exceptions.ReadTimeout, match="still slow"):
        retrier(clock, max_attempts=2).run(attempt)


def test_backoff_is_exponential_capped_and_fully_jittered(clock: FakeClock) -> None:
    attempt = Script([FakeResponse(503)] * 6)

    retrier(clock, jitter=1.0, max_attempts=6, base_delay=1.0, max_delay=5.0).run(attempt)
    assert clock.slept == [1.0, 2.0, 4.0, 5.0, 5.0]

    assert retrier(clock, jitter=0.25, base_delay=1.0).backoff(3) == 1.0


def test_retry_after_is_a_lower_bound_for_the_wait(clock: FakeClock) -> None:
    attempt = Script([FakeResponse(429, {"Retry-After": "7"}), FakeResponse(200)])

    retrier(clock, jitter=0.0).run(attempt)

    assert clock.slept == [7.0]


def test_retrying_stops_before_a_wait_would_pass_the_time_budget(clock: FakeClock) -> None:
    attempt = Script([FakeResponse(429, {"Retry-After": "4"})] * 5)

    response = retrier(clock, jitter=0.0, max_seconds=10.0).run(attempt)

    assert response.status_code == 429
    assert clock.slept == [4.0, 4.0]  # a third wait would end at 12 s


def test_at_least_one_attempt_is_required() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        Retrier(max_attempts=0)
