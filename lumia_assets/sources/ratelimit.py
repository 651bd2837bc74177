"""Client-side rate budgets per upstream host: token buckets that adapt to what the server tells us.

Each host gets a :class:`HostBudget`, shared by every thread of a run. Its :class:`TokenBucket` admits
requests at the current rate, which adapts AIMD-style:

* a 429 halves the rate and pauses the host until ``Retry-After`` has passed; it also lowers the rate the
  budget climbs back to (the *ceiling*) to just under the rate the server actually let through while we were
  pressing on the budget. Seconds in which the bucket sat full (the run was parsing, writing or otherwise not
  asking) do not count, so a client slower than its budget never mistakes its own pace for the server's limit;
* a 418 (banned for ignoring Retry-After) quarters the rate and pauses for ``Retry-After`` or 60 s;
* every run of successes adds a step back towards the ceiling, and every quiet minute raises the ceiling
  by a step towards the configured rate, so a server that loosens its limit is found again;
* Binance's ``X-MBX-USED-WEIGHT-1M`` header paces the weight left in the minute over the time left in it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

TOKEN_EPSILON = 1e-9  # refill arithmetic rounds; a hair short of a token is a token
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
WEIGHT_WINDOW_SECONDS = 60.0
WEIGHT_MARGIN = 0.95  # spend at most this share of a per-minute weight limit
DECREASE_ON_429 = 0.5
DECREASE_ON_418 = 0.25
PAUSE_ON_429 = 1.0  # when a 429 carries no Retry-After
PAUSE_ON_418 = 60.0  # when a 418 carries no Retry-After (Binance bans for minutes)
CEILING_MARGIN = 0.95  # climb back to at most this share of the rate that met a 429
LET_THROUGH_MARGIN = 0.98  # ... and of the rate the server let through since the previous pause
INCREASE_EVERY = 5  # consecutive successes per additive step
RAMP_STEPS = 5  # additive steps from the decreased rate back up to the ceiling
PROBE_FRACTION = 0.05  # the ceiling's rise per quiet PROBE_INTERVAL, as a share of the configured rate
PROBE_INTERVAL = 60.0  # seconds without a 429 before the ceiling rises one step
MIN_RATE_FRACTION = 0.05  # the rate never drops below this share of the configured rate


@dataclass(frozen=True)
class HostRate:
    """A host's configured budget: ``rate`` requests per second, ``burst`` at once, optional weight per minute."""

    rate: float
    burst: float
    weight_limit: int | None = None


# Sensible budgets per upstream. Where the upstream publishes a limit we stay at or under it; where it
# doesn't (Yahoo), we start moderately and let AIMD find the real limit from its 429s.
DEFAULT_HOST_RATES: dict[str, HostRate] = {
    # Yahoo's chart/quote API: unpublished limit, 429s come quickly above a few requests per second.
    "query1.finance.yahoo.com": HostRate(5.0, 10.0),
    "query2.finance.yahoo.com": HostRate(5.0, 10.0),
    # Yahoo's cookie and consent hosts: hit once per session, never worth hurrying.
    "fc.yahoo.com": HostRate(1.0, 3.0),
    "guce.yahoo.com": HostRate(1.0, 3.0),
    # Binance spot: REQUEST_WEIGHT 6000 per minute per IP, reported in X-MBX-USED-WEIGHT-1M.
    "api.binance.com": HostRate(10.0, 20.0, weight_limit=6000),
    # Kraken public endpoints: about one call per second.
    "api.kraken.com": HostRate(1.0, 3.0),
    # Coinbase Exchange public endpoints: 10 requests per second, bursts up to 15.
    "api.exchange.coinbase.com": HostRate(10.0, 15.0),
    # CoinGecko's free tier: 50 calls a minute; 48 a minute plus a burst of 2 never exceeds 50 in any minute.
    "api.coingecko.com": HostRate(0.8, 2.0),
    # SEC EDGAR fair access policy: at most 10 requests per second.
    "www.sec.gov": HostRate(10.0, 10.0),
    # NASDAQ Trader symbol directories: a handful of files, no published limit.
    "www.nasdaqtrader.com": HostRate(5.0, 5.0),
}
DEFAULT_RATE = HostRate(2.0, 4.0)  # any host not listed above


def host_rate(host: str) -> HostRate:
    """The default budget for ``host``: its entry in :data:`DEFAULT_HOST_RATES`, else :data:`DEFAULT_RATE`."""
    return DEFAULT_HOST_RATES.get(host, DEFAULT_RATE)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Header ``name`` from any mapping, matched case-insensitively even when the mapping is a plain dict."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def retry_after_seconds(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait according to ``Retry-After`` (delta-seconds or an HTTP date); None when absent or invalid."""
    value = header_value(headers, "Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now())
    except (TypeError, ValueError):
        return None


class TokenBucket:
    """A thread-safe token bucket holding ``burst`` tokens refilled at ``rate`` per second, which can be paused."""

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._updated = clock()
        self._paused_until = 0.0
        self._idle_seconds = 0.0

    @property
    def rate(self) -> float:
        return self._rate

    def idle_seconds(self) -> float:
        """Seconds of refill the bucket has thrown away so far because it was full: time nobody asked for."""
        with self._lock:
            self._refill(self._clock())
            return self._idle_seconds

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def acquire(self, cost: float = 1.0) -> float:
        """Block until ``cost`` tokens are available and take them; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                wait = self._take(cost)
            if wait <= 0:
                return waited
            self._sleep(wait)
            waited += wait

    def set_rate(self, rate: float, burst: float) -> None:
        """Refill at ``rate`` from now on, holding at most ``burst`` tokens."""
        with self._lock:
            self._refill(self._clock())
            self._rate, self._burst = rate, burst
            self._tokens = min(self._tokens, burst)

    def pause_until(self, deadline: float) -> None:
        """Admit nothing before ``deadline`` (extending any pause in force), then start refilling from empty."""
        with self._lock:
            self._paused_until = max(self._paused_until, deadline)
            self._tokens = 0.0
            self._updated = self._paused_until

    def _refill(self, now: float) -> None:
        if now > self._updated:
            tokens = self._tokens + (now - self._updated) * self._rate
            if tokens > self._burst:
                self._idle_seconds += (tokens - self._burst) / self._rate
            self._tokens = min(self._burst, tokens)
            self._updated = now

    def _take(self, cost: float) -> float:
        """Take ``cost`` tokens and answer 0, or answer how long to wait before trying again."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        self._refill(now)
        needed = min(cost, self._burst)  # a request dearer than the burst goes once the bucket is full
        if self._tokens >= needed - TOKEN_EPSILON:
            self._tokens -= cost
            return 0.0
        return (needed - self._tokens) / self._rate


class HostBudget:
    """One host's adaptive rate budget (see the module docstring); thread-safe, shared by all sessions."""

    def __init__(
        self,
        host: str,
        limits: HostRate,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host = host
        self.limits = limits
        self._lock = threading.Lock()
        self._clock = clock
        self._bucket = TokenBucket(limits.rate, limits.burst, clock, sleep)
        self._min_rate = limits.rate * MIN_RATE_FRACTION
        self._probe_step = limits.rate * PROBE_FRACTION
        self._step = self._probe_step
        self._rate = limits.rate
        self._ceiling = limits.rate
        self._ceiling_set_at = clock()
        self._successes = 0  # consecutive, since the last throttle
        self._run_started: float | None = None  # first success since the last throttle
        self._idle_at_run_start = 0.0  # the bucket's idle seconds then
        self._weight_cap = math.inf
        self._used_weight: int | None = None
        self._window_started = 0.0
        self._window_first_weight = 0
        self._window_answers = 0
        self._counts = {"status_429": 0, "status_418": 0, "waits": 0}
        self._waited_seconds = 0.0

    def acquire(self, cost: float = 1.0) -> float:
        """Block until the budget admits a request costing ``cost``; returns the seconds spent waiting."""
        waited = self._bucket.acquire(cost)
        if waited > 0:
            with self._lock:
                self._counts["waits"] += 1
                self._waited_seconds += waited
        return waited

    def record(self, status: int, headers: Mapping[str, str]) -> None:
        """Adapt to one answer from the host: its status and its rate-limit headers."""
        with self._lock:
            now = self._clock()
            self._read_weight(headers, now)
            if status == 429:
                self._throttle(now, headers, PAUSE_ON_429, DECREASE_ON_429, "status_429")
            elif status == 418:
                self._throttle(now, headers, PAUSE_ON_418, DECREASE_ON_418, "status_418")
            elif status < 500:
                self._succeed(now)
            self._apply()

    def snapshot(self) -> dict[str, float | int | None]:
        """The budget's state, for asset metadata."""
        with self._lock:
            return {
                "rate": round(self._bucket.rate, 3),
                "configured_rate": self.limits.rate,
                "ceiling": round(self._ceiling, 3),
                **self._counts,
                "waited_seconds": round(self._waited_seconds, 3),
                "used_weight": self._used_weight,
            }

    def _throttle(
        self, now: float, headers: Mapping[str, str], default_pause: float, factor: float, counter: str
    ) -> None:
        self._counts[counter] += 1
        retry_after = retry_after_seconds(headers)
        pause = default_pause if retry_after is None else retry_after
        if now < self._bucket.paused_until:  # answered to a request sent before the pause began
            self._bucket.pause_until(now + pause)
            return
        let_through = self._let_through(now)
        self._ceiling = max(self._min_rate, min(self._rate * CEILING_MARGIN, let_through * LET_THROUGH_MARGIN))
        self._ceiling_set_at = now
        self._rate = max(self._min_rate, self._rate * factor)
        self._step = max(self._probe_step, (self._ceiling - self._rate) / RAMP_STEPS)
        self._successes, self._run_started = 0, None
        self._bucket.pause_until(now + pause)

    def _let_through(self, now: float) -> float:
        """Successes per second since the last pause, counting only the seconds in which we pressed on the budget.

        It bounds the ceiling: close to the server's rate once the run is long, it keeps the burst at the start
        of a run from counting. Seconds the bucket sat full are left out, or a client slower than its budget
        would take its own pace for the server's limit; when it never pressed, nothing was learnt (infinity).
        """
        if self._run_started is None:
            return math.inf
        pressing = (now - self._run_started) - (self._bucket.idle_seconds() - self._idle_at_run_start)
        return self._successes / pressing if pressing > 0 else math.inf

    def _succeed(self, now: float) -> None:
        if self._run_started is None:  # answers still in flight when a pause began count from its end
            self._run_started = max(now, self._bucket.paused_until)
            self._idle_at_run_start = self._bucket.idle_seconds()
        self._successes += 1
        probes = int((now - self._ceiling_set_at) // PROBE_INTERVAL)
        if probes:
            self._ceiling = min(self.limits.rate, self._ceiling + probes * self._probe_step)
            self._ceiling_set_at += probes * PROBE_INTERVAL
        if self._successes % INCREASE_EVERY == 0:
            self._rate = min(self._ceiling, self._rate + self._step)

    def _read_weight(self, headers: Mapping[str, str], now: float) -> None:
        """Pace the weight left in Binance's minute window over the time left in it."""
        value = header_value(headers, WEIGHT_HEADER)
        if self.limits.weight_limit is None or value is None or not value.isdigit():
            return
        used = int(value)
        if self._used_weight is None or used < self._used_weight or now - self._window_started >= WEIGHT_WINDOW_SECONDS:
            self._window_started, self._window_first_weight, self._window_answers = now, used, 0
        self._used_weight = used
        self._window_answers += 1
        window_end = self._window_started + WEIGHT_WINDOW_SECONDS
        left = self.limits.weight_limit * WEIGHT_MARGIN - used
        if left <= 0:
            self._bucket.pause_until(window_end)
            self._weight_cap = math.inf  # the pause covers the rest of this window
        elif self._window_answers >= 2:
            per_request = max(1.0, (used - self._window_first_weight) / (self._window_answers - 1))
            self._weight_cap = left / per_request / (window_end - now)
        else:
            self._weight_cap = math.inf

    def _apply(self) -> None:
        rate = min(self._rate, self._weight_cap)
        # Burst shrinks with the rate so that a throttled host is not hit with a full burst after each pause.
        burst = max(1.0, self.limits.burst * rate / self.limits.rate)
        self._bucket.set_rate(rate, burst)


class RateBudgets:
    """The budget of every host, created on first use from ``overrides`` or the defaults; thread-safe."""

    def __init__(
        self,
        overrides: Mapping[str, HostRate] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._overrides = dict(overrides or {})
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._budgets: dict[str, HostBudget] = {}

    def for_host(self, host: str) -> HostBudget:
        """``host``'s budget, shared by every caller."""
        with self._lock:
            budget = self._budgets.get(host)
            if budget is None:
                limits = self._overrides.get(host) or host_rate(host)
                budget = self._budgets[host] = HostBudget(host, limits, self._clock, self._sleep)
            return budget

    def snapshot(self) -> dict[str, dict[str, float | int | None]]:
        """Every host's budget state."""
        with self._lock:
            budgets = dict(self._budgets)
        return {host: budget.snapshot() for host, budget in budgets.items()}
