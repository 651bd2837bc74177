"""A circuit breaker per upstream host: stop calling a host that keeps failing, and find out when it is back.

closed --(mostly failing)--> open --(cooldown)--> half-open --(trial succeeds)--> closed
                               ^------------------------------(trial fails)----------'

"Mostly failing" means at least ``failure_threshold`` failures, and at least half of the last ``WINDOW``
outcomes: a host that is down opens its breaker after ``failure_threshold`` attempts, while scattered failures
(one request in five timing out) are left to the retries instead of shutting the host off.

While open, every attempt fails fast with :class:`CircuitOpenError`; half-open lets one trial through.
Only transient failures count (transport errors, 5xx, 418, and 429 once retries are exhausted): a 404 or a
451 proves the host is up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import NamedTuple

from lumia_assets.sources.errors import TransientUpstreamError

logger = logging.getLogger("lumia_assets.upstream")
WINDOW = 20  # recent outcomes the failure share is measured over
FAILURE_SHARE = 0.5  # share of failures among them that opens the breaker


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Transition(NamedTuple):
    """One state change of a host's breaker, at ``time`` on the breaker's clock."""

    time: float
    host: str
    from_state: BreakerState
    to_state: BreakerState


class CircuitOpenError(TransientUpstreamError):
    """The host's breaker is open: the request was not sent."""

    def __init__(self, host: str, retry_in: float) -> None:
        super().__init__(
            f"{host}: circuit breaker open after repeated failures; not calling it for another {retry_in:.1f} s"
        )
        self.host = host


class CircuitBreaker:
    """One host's breaker, shared by every thread. Call :meth:`before_attempt`, then report the outcome."""

    def __init__(
        self,
        host: str,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, not {failure_threshold}")
        self.host = host
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._transitions: list[Transition] = []
        self._unannounced: list[Transition] = []
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._outcomes: deque[bool] = deque(maxlen=WINDOW)  # True for a failure
        self._opened_at = 0.0
        self._trial_started: float | None = None

    @property
    def state(self) -> BreakerState:
        """The current state, moving open to half-open once the cooldown has passed."""
        with self._locked() as now:
            self._cool_down(now)
            return self._state

    @property
    def transitions(self) -> list[Transition]:
        """Every state change so far, oldest first."""
        with self._lock:
            return list(self._transitions)

    def before_attempt(self) -> None:
        """Let an attempt through, or raise :class:`CircuitOpenError` (open, or a half-open trial in flight)."""
        with self._locked() as now:
            self._cool_down(now)
            if self._state is BreakerState.CLOSED:
                return
            # A trial whose outcome never came back (its thread died) frees the slot after one cooldown.
            trial_free = self._trial_started is None or now - self._trial_started >= self.cooldown_seconds
            if self._state is BreakerState.HALF_OPEN and trial_free:
                self._trial_started = now
                return
            raise CircuitOpenError(self.host, max(0.0, self._opened_at + self.cooldown_seconds - now))

    def on_success(self) -> None:
        """The host answered: count it, and close the breaker after a successful trial."""
        with self._locked() as now:
            self._outcomes.append(False)
            self._trial_started = None
            if self._state is not BreakerState.CLOSED:
                self._outcomes.clear()
                self._move(BreakerState.CLOSED, now)

    def on_failure(self) -> None:
        """A transient failure: open when the host is mostly failing, or at once when half-open."""
        with self._locked() as now:
            self._outcomes.append(True)
            self._trial_started = None
            failures = sum(self._outcomes)
            mostly_failing = failures >= self.failure_threshold and failures >= FAILURE_SHARE * len(self._outcomes)
            if self._state is BreakerState.HALF_OPEN or (self._state is BreakerState.CLOSED and mostly_failing):
                self._opened_at = now
                self._outcomes.clear()
                self._move(BreakerState.OPEN, now)

    def on_inconclusive(self) -> None:
        """An answer that proves nothing either way (a 429 to be retried): free a half-open trial slot."""
        with self._lock:
            self._trial_started = None

    @contextmanager
    def _locked(self) -> Iterator[float]:
        """Hold the lock (yielding the time); announce the transitions made once it is released."""
        try:
            with self._lock:
                yield self._clock()
        finally:
            with self._lock:
                announce, self._unannounced = self._unannounced, []
            for transition in announce:
                level = logging.WARNING if transition.to_state is BreakerState.OPEN else logging.INFO
                logger.log(
                    level, "circuit breaker for %s: %s -> %s", self.host, transition.from_state, transition.to_state
                )
                if self._on_transition is not None:
                    self._on_transition(transition)

    def _cool_down(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now - self._opened_at >= self.cooldown_seconds:
            self._move(BreakerState.HALF_OPEN, now)

    def _move(self, to_state: BreakerState, now: float) -> None:
        transition = Transition(now, self.host, self._state, to_state)
        self._state = to_state
        self._transitions.append(transition)
        self._unannounced.append(transition)
