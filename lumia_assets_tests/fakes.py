"""Test doubles shared across the suite."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock that only moves when a test moves it or something sleeps on it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
