"""The resilient :class:`~lumia_assets.sources.http.UpstreamPolicy`: rate budget, retries and circuit breaker.

Each attempt of a logical request goes: breaker check -> budget acquire -> attempt -> outcome fed to the
budget (status and rate-limit headers) and the breaker -> retry while retryable. Once retries are spent,
the last response is returned (so ``raise_for_failure`` raises the right error) or the last exception is
re-raised. One :class:`ResilientPolicy` is shared by every session and thread of a run.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lumia_assets.settings import parse_rate_spec
from lumia_assets.sources.breaker import CircuitBreaker, Transition
from lumia_assets.sources.ratelimit import HostBudget, HostRate, RateBudgets, host_rate
from lumia_assets.sources.retry import Retrier, is_retryable_status

ResponseT = TypeVar("ResponseT")


@dataclass(frozen=True)
class ResilienceConfig:
    """How hard to try each upstream: retry bounds, breaker sensitivity, and per-host rate overrides."""

    max_attempts: int = 5
    max_retry_seconds: float = 120.0
    retry_base_seconds: float = 0.5
    retry_max_wait_seconds: float = 30.0
    breaker_failure_threshold: int = 5
    breaker_cooldown_seconds: float = 30.0
    host_rates: Mapping[str, HostRate] = field(default_factory=dict)


def parse_host_rates(spec: str) -> dict[str, HostRate]:
    """Parse ``"api.binance.com=10:20,query2.finance.yahoo.com=5"`` (comma-separated ``HOST=RATE[:BURST]``).

    A missing burst keeps the host's default burst-to-rate ratio; the host's default weight limit is kept.
    """
    rates = {}
    for host, (rate, burst) in parse_rate_spec(spec).items():
        default = host_rate(host)
        burst = burst if burst is not None else max(1.0, rate * default.burst / default.rate)
        rates[host] = dataclasses.replace(default, rate=rate, burst=burst)
    return rates


class ResilientPolicy:
    """Rate budget, retries with backoff, and a circuit breaker per host, for every upstream request."""

    def __init__(
        self,
        config: ResilienceConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.config = config or ResilienceConfig()
        self.budgets = RateBudgets(self.config.host_rates, clock, sleep)
        self.retrier = Retrier(
            self.config.max_attempts,
            self.config.max_retry_seconds,
            self.config.retry_base_seconds,
            self.config.retry_max_wait_seconds,
            clock=clock,
            sleep=sleep,
            jitter=jitter,
        )
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, host: str) -> CircuitBreaker:
        """``host``'s circuit breaker, shared by every caller."""
        with self._lock:
            breaker = self._breakers.get(host)
            if breaker is None:
                breaker = self._breakers[host] = CircuitBreaker(
                    host,
                    self.config.breaker_failure_threshold,
                    self.config.breaker_cooldown_seconds,
                    self._clock,
                    self._on_transition,
                )
            return breaker

    def call(self, host: str, attempt: Callable[[], ResponseT]) -> ResponseT:
        """Attempt a request to ``host`` under its budget and breaker, retrying what is retryable."""
        budget, breaker = self.budgets.for_host(host), self.breaker(host)
        response: Any = self.retrier.run(lambda: self._attempt(budget, breaker, attempt))
        if response.status_code == 429:  # still rate limited after every retry: the host is not serving us
            breaker.on_failure()
        return response

    @staticmethod
    def _attempt(budget: HostBudget, breaker: CircuitBreaker, attempt: Callable[[], ResponseT]) -> ResponseT:
        breaker.before_attempt()
        budget.acquire()
        try:
            response: Any = attempt()
        except Exception:
            breaker.on_failure()
            raise
        budget.record(response.status_code, response.headers)
        if response.status_code == 429:
            breaker.on_inconclusive()
        elif is_retryable_status(response.status_code):
            breaker.on_failure()
        else:
            breaker.on_success()
        return response

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per host: the budget's rate, 429s and waits, and the breaker's state and transitions, for metadata."""
        with self._lock:
            breakers = dict(self._breakers)
        budgets = self.budgets.snapshot()
        return {
            host: {
                **budgets[host],
                "breaker_state": str(breaker.state),
                "breaker_transitions": [
                    {"time": t.time, "from": str(t.from_state), "to": str(t.to_state)} for t in breaker.transitions
                ],
            }
            for host, breaker in breakers.items()
        }
