"""Server-side rate limits per host: 429 with Retry-After, Binance-style weight headers and 418 bans."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class HostLimit:
    """A token bucket of ``requests_per_second`` (costs are request weights) holding ``burst`` tokens."""

    requests_per_second: float
    burst: float
    retry_after: float
    weight_header: str | None
    ban_after: int | None
    send_retry_after: bool = True  # False: 429s carry no Retry-After (Yahoo's), the penalty window still applies
    weighted: bool = True  # False: every request costs 1, whatever its weight (a plain requests-per-second limit)
    tokens: float = 0.0
    updated: float = 0.0
    minute: int = 0
    used_this_minute: int = 0
    blocked_until: float = 0.0
    ignored_429s: int = 0
    banned_until: float = 0.0


@dataclass(frozen=True)
class Verdict:
    """What the limiter decided for one request: a status override (429/418) and headers to add."""

    status: int | None
    headers: dict[str, str]


class RateLimits:
    """The limits in force, per host. ``set`` replaces a host's limit; ``clear`` lifts them all."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._limits: dict[str, HostLimit] = {}
        self._clock = clock

    def set(
        self,
        host: str,
        requests_per_second: float,
        *,
        burst: float | None = None,
        retry_after: float = 1.0,
        weight_header: str | None = None,
        ban_after: int | None = None,
        send_retry_after: bool = True,
        weighted: bool = True,
    ) -> None:
        """Limit ``host``; with ``ban_after=N``, N requests ignoring a Retry-After get 418 for a minute.

        A 429 blocks the host for ``retry_after`` seconds and says so in ``Retry-After``; with
        ``send_retry_after=False`` it still blocks but does not say for how long (as Yahoo's 429s). With
        ``weighted=False`` every request costs 1 against ``requests_per_second`` whatever its weight (the weight
        header, when asked for, still counts weights).
        """
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        capacity = burst if burst is not None else max(1.0, requests_per_second)
        with self._lock:
            self._limits[host] = HostLimit(
                requests_per_second, capacity, retry_after, weight_header, ban_after, send_retry_after, weighted,
                tokens=capacity, updated=self._clock(),
            )  # fmt: skip

    def clear(self) -> None:
        """Lift every limit."""
        with self._lock:
            self._limits.clear()

    def admit(self, host: str, cost: int = 1) -> Verdict:
        """Charge ``cost`` to ``host``'s bucket; answer None (go ahead), 429 or 418."""
        with self._lock:
            limit = self._limits.get(host)
            if limit is None:
                return Verdict(None, {})
            now = self._clock()
            headers = self._weight_headers(limit, now, cost)
            charge = cost if limit.weighted else 1
            if now < limit.banned_until:
                return Verdict(418, {**headers, "Retry-After": str(math.ceil(limit.banned_until - now))})
            if now < limit.blocked_until:
                limit.ignored_429s += 1
                if limit.ban_after is not None and limit.ignored_429s >= limit.ban_after:
                    limit.banned_until = now + 60.0
                    return Verdict(418, {**headers, "Retry-After": "60"})
                return self._too_many(limit, headers, limit.blocked_until - now)
            limit.tokens = min(limit.burst, limit.tokens + (now - limit.updated) * limit.requests_per_second)
            limit.updated = now
            if limit.tokens < charge:
                limit.blocked_until = now + limit.retry_after
                return self._too_many(limit, headers, limit.retry_after)
            limit.tokens -= charge
            limit.ignored_429s = 0
            return Verdict(None, headers)

    @staticmethod
    def _too_many(limit: HostLimit, headers: dict[str, str], wait: float) -> Verdict:
        if not limit.send_retry_after:
            return Verdict(429, headers)
        return Verdict(429, {**headers, "Retry-After": str(math.ceil(wait))})

    @staticmethod
    def _weight_headers(limit: HostLimit, now: float, cost: int) -> dict[str, str]:
        if limit.weight_header is None:
            return {}
        minute = int(now // 60)
        if minute != limit.minute:
            limit.minute, limit.used_this_minute = minute, 0
        limit.used_this_minute += cost
        return {limit.weight_header: str(limit.used_this_minute)}
