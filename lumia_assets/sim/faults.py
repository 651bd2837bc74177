"""Fault injection, per upstream host: error statuses, timeouts, bad bodies, missing candles.

sim.faults.inject("api.binance.com", "status", status=503, probability=0.2)
sim.faults.inject("www.nasdaqtrader.com", "truncated", path_contains="otherlisted")
sim.faults.inject("query2.finance.yahoo.com", "missing_candles", candles={("AAPL", date(2024, 12, 2))})
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

FaultKind = Literal["status", "timeout", "malformed", "truncated", "html", "missing_candles"]
FAULT_KINDS: tuple[str, ...] = ("status", "timeout", "malformed", "truncated", "html", "missing_candles")
MALFORMED_BODY = b'{"result": [{"meta": {"currency": "USD", <<garbage>>'
HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service unavailable</title></head>"
    b"<body><h1>Will be right back...</h1><p>Please try again later.</p></body></html>"
)


@dataclass
class Fault:
    """One injected fault. ``times`` bounds how many requests it hits; ``None`` means forever."""

    host: str
    kind: str
    probability: float = 1.0
    times: int | None = None
    path_contains: str | None = None
    status: int | None = None
    delay: float | None = None
    candles: frozenset[tuple[str, date]] = field(default_factory=frozenset)
    body: dict[str, object] | list[object] | None = None  # a "status" fault's JSON body (default: bare text)
    hits: int = 0

    def matches(self, host: str, path: str) -> bool:
        return host == self.host and (self.path_contains is None or self.path_contains in path)

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times


class FaultPlan:
    """The faults in force. Draws are seeded, so a test sees the same sequence each run."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._seed = seed
        self._random = random.Random(seed)

    def inject(
        self,
        host: str,
        kind: FaultKind,
        *,
        probability: float = 1.0,
        times: int | None = None,
        path_contains: str | None = None,
        status: int | None = None,
        delay: float | None = None,
        candles: Iterable[tuple[str, date]] = (),
        body: dict[str, object] | list[object] | None = None,
    ) -> Fault:
        """Add a fault for ``host``; returns it (its ``hits`` count how often it fired)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {FAULT_KINDS}")
        if kind == "status" and status is None:
            raise ValueError("a 'status' fault needs status=, e.g. 503")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability {probability} is not between 0 and 1")
        fault = Fault(host, kind, probability, times, path_contains, status, delay, frozenset(candles), body)
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        """Lift one fault that ``inject`` returned."""
        with self._lock:
            self._faults.remove(fault)

    def clear(self) -> None:
        """Lift every fault and restart the seeded draws."""
        with self._lock:
            self._faults.clear()
            self._random.seed(self._seed)

    def draw(self, host: str, path: str) -> Fault | None:
        """The request-level fault (any kind but missing_candles) that hits this request, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == "missing_candles" or fault.spent or not fault.matches(host, path):
                    continue
                if self._random.random() < fault.probability:
                    fault.hits += 1
                    return fault
        return None

    def missing_candles(self, host: str, path: str) -> frozenset[tuple[str, date]]:
        """Every (symbol, day) this host must leave out of its answer to this request."""
        with self._lock:
            return frozenset().union(
                *(f.candles for f in self._faults if f.kind == "missing_candles" and f.matches(host, path))
            )
