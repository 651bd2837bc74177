"""Retries of retryable upstream failures, with exponential backoff and full jitter (on tenacity).

Retryable: timeouts, connection errors and resets, 5xx, 429 and 418. Never retried: every other answer
(404, 400, 401, 403, 451, ...), which says something definite about the request. Waits honour
``Retry-After`` as a lower bound; retrying stops after ``max_attempts`` attempts or before the next wait
would pass ``max_seconds`` since the first attempt, whichever comes first.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, retry_if_result, stop_after_attempt

from lumia_assets.sources.ratelimit import retry_after_seconds

ResponseT = TypeVar("ResponseT")

RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,  # refused, reset, DNS, TLS, connect timeouts
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,  # connection dropped mid-body
    ConnectionError,  # builtin: resets raised below the HTTP library
    TimeoutError,
)


class Answer(Protocol):
    """What both requests and curl_cffi responses offer."""

    status_code: int
    headers: Any


def is_retryable_status(status: int) -> bool:
    """429, 418 and 5xx are worth another attempt; every other status is an answer."""
    return status in (418, 429) or status >= 500


def curl_transport_errors() -> tuple[type[BaseException], ...]:
    """curl_cffi's timeouts and connection failures, once curl_cffi is loaded: only a curl_cffi session, which
    imported it, can raise them (it loads in equity steps only)."""
    curl = sys.modules.get("curl_cffi.requests.exceptions")
    if curl is None:
        return ()
    return (curl.ConnectionError, curl.Timeout, curl.ChunkedEncodingError, curl.IncompleteRead)


def is_retryable_exception(exc: BaseException) -> bool:
    """Timeouts and connection failures are worth another attempt; anything else is a bug or a refusal."""
    return isinstance(exc, RETRYABLE_EXCEPTIONS + curl_transport_errors())


def _is_retryable_answer(response: Answer) -> bool:
    return is_retryable_status(response.status_code)


def _last_outcome(state: RetryCallState) -> Any:
    """Give up: return the last response, or re-raise the last exception."""
    assert state.outcome is not None
    return state.outcome.result()


class Retrier:
    """Runs one attempt function until it gives a non-retryable outcome or the retry budget is spent."""

    def __init__(
        self,
        max_attempts: int = 5,
        max_seconds: float = 120.0,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self.max_attempts = max_attempts
        self.max_seconds = max_seconds
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter

    def backoff(self, attempt_number: int) -> float:
        """Full jitter: a uniform draw between 0 and ``base_delay * 2**(n-1)``, capped at ``max_delay``."""
        return self._jitter() * min(self.max_delay, self.base_delay * 2 ** (attempt_number - 1))

    def wait(self, state: RetryCallState) -> float:
        """The wait before the next attempt: the backoff, but never less than the last answer's Retry-After."""
        delay = self.backoff(state.attempt_number)
        if state.outcome is not None and not state.outcome.failed:
            retry_after = retry_after_seconds(state.outcome.result().headers)
            if retry_after is not None:
                delay = max(delay, retry_after)
        return delay

    def run(self, attempt: Callable[[], ResponseT]) -> ResponseT:
        """Call ``attempt`` until it succeeds or gives up; returns the last response or raises the last error."""
        deadline = self._clock() + self.max_seconds
        retrying = Retrying(
            sleep=self._sleep,
            stop=stop_after_attempt(self.max_attempts) | (lambda s: self._clock() + s.upcoming_sleep > deadline),
            wait=self.wait,
            retry=retry_if_exception(is_retryable_exception) | retry_if_result(_is_retryable_answer),
            retry_error_callback=_last_outcome,
        )
        return retrying(attempt)
