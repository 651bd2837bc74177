"""Client-side rate budgets: the token bucket, AIMD on 429/418, Retry-After and Binance weight pacing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from lumia_assets.sources.ratelimit import (
    DEFAULT_RATE,
    PROBE_INTERVAL,
    HostBudget,
    HostRate,
    RateBudgets,
    TokenBucket,
    header_value,
    retry_after_seconds,
)
from lumia_assets_tests.fakes import FakeClock

HOST = "api.example.com"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000.0)


def budget(clock: FakeClock, rate: float = 10.0, burst: float = 10.0, weight_limit: int | None = None) -> HostBudget:
    return HostBudget(HOST, HostRate(rate, burst, weight_limit), clock, clock.sleep)


def test_the_bucket_admits_its_burst_at_once_then_paces_at_its_rate(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=4.0, burst=2.0, clock=clock, sleep=clock.sleep)

    waits = [bucket.acquire() for _ in range(4)]

    assert waits == [0.0, 0.0, pytest.approx(0.25), pytest.approx(0.25)]


def test_a_paused_bucket_waits_for_the_deadline_and_restarts_empty(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=10.0, burst=5.0, clock=clock, sleep=clock.sleep)
    bucket.pause_until(clock.now + 3.0)

    assert bucket.acquire() == pytest.approx(3.1)  # the pause, then one token's refill


def test_a_request_dearer_than_the_burst_goes_once_the_bucket_is_full(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=1.0, burst=2.0, clock=clock, sleep=clock.sleep)

    assert bucket.acquire(cost=5) == 0.0
    assert bucket.acquire() == pytest.approx(4.0)  # it ran 3 tokens into debt


def test_the_bucket_is_shared_safely_by_threads() -> None:
    bucket = TokenBucket(rate=200.0, burst=1.0)
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert time.monotonic() - started >= 39 / 200 * 0.95


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None)],
)
def test_retry_after_in_seconds(value: str, expected: float | None) -> None:
    assert retry_after_seconds({"Retry-After": value}) == expected


def test_retry_after_as_an_http_date() -> None:
    when = format_datetime(datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC), usegmt=True)
    now = datetime(2030, 1, 1, tzinfo=UTC).timestamp()

    assert retry_after_seconds({"retry-after": when}, now=lambda: now) == pytest.approx(30.0)
    assert retry_after_seconds({}) is None


def test_headers_match_case_insensitively_in_plain_dicts() -> None:
    assert header_value({"x-mbx-used-weight-1m": "12"}, "X-MBX-USED-WEIGHT-1M") == "12"
    assert header_value({"Other": "1"}, "X-MBX-USED-WEIGHT-1M") is None


def test_a_429_halves_the_rate_and_pauses_until_retry_after(clock: FakeClock) -> None:
    host = budget(clock)
    host.record(429, {"Retry-After": "2"})

    assert host.acquire() >= 2.0
    snapshot = host.snapshot()
    assert snapshot["rate"] == 5.0
    assert snapshot["status_429"] == 1
    assert snapshot["waits"] == 1


def test_a_429_without_retry_after_pauses_one_second(clock: FakeClock) -> None:
    host = budget(clock)
    host.record(429, {})

    assert host.acquire() == pytest.approx(1.0 + 1 / 5)


def test_429s_to_requests_already_in_flight_do_not_decrease_the_rate_again(clock: FakeClock) -> None:
    host = budget(clock)
    for _ in range(3):
        host.record(429, {"Retry-After": "1"})

    assert host.snapshot()["rate"] == 5.0
    assert host.snapshot()["status_429"] == 3


def test_a_418_backs_off_hard(clock: FakeClock) -> None:
    host = budget(clock)
    host.record(418, {})

    assert host.snapshot()["rate"] == 2.5
    assert host.acquire() >= 60.0


def test_the_rate_never_drops_below_its_floor(clock: FakeClock) -> None:
    host = budget(clock)
    for _ in range(10):
        host.record(418, {"Retry-After": "0"})
        clock.now += 1

    assert host.snapshot()["rate"] == pytest.approx(0.5)


def test_successes_climb_back_to_just_under_the_rate_that_met_a_429(clock: FakeClock) -> None:
    host = budget(clock)
    host.record(429, {"Retry-After": "1"})
    rates = []
    for _ in range(40):
        host.acquire()
        host.record(200, {})
        rates.append(host.snapshot()["rate"])

    assert rates[0] == 5.0
    assert rates == sorted(rates)
    assert rates[-1] == pytest.approx(9.5)  # the ceiling: 95% of the rate that met the 429


def test_a_quiet_interval_raises_the_ceiling_towards_the_configured_rate(clock: FakeClock) -> None:
    host = budget(clock)
    host.record(429, {"Retry-After": "1"})
    clock.now += PROBE_INTERVAL + 1
    host.record(200, {})

    assert host.snapshot()["ceiling"] == pytest.approx(10.0)


def test_the_ceiling_is_bounded_by_what_the_server_let_through_while_we_pressed(clock: FakeClock) -> None:
    host = budget(clock, burst=1.0)
    for sent in range(100):  # pressing on the budget: 10 requests a second for 10 s ...
        host.acquire()
        if sent % 5 in (0, 2):  # ... of which the server let 4 per second through
            host.record(200, {})
    host.record(429, {"Retry-After": "1"})

    assert host.snapshot()["ceiling"] == pytest.approx(4.0 * 0.98, rel=0.02)


def test_a_client_slower_than_its_budget_does_not_take_its_own_pace_for_the_servers_limit(clock: FakeClock) -> None:
    host = budget(clock)
    for _ in range(40):  # 4 answers a second against a budget of 10: the bucket sits full
        host.acquire()
        host.record(200, {})
        clock.now += 0.25
    host.record(429, {"Retry-After": "1"})

    assert host.snapshot()["ceiling"] == pytest.approx(10.0 * 0.95)


def test_the_bucket_counts_the_seconds_it_sat_full(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=4.0, burst=2.0, clock=clock, sleep=clock.sleep)
    bucket.acquire(cost=2)
    clock.now += 0.5  # refilled to full
    assert bucket.idle_seconds() == pytest.approx(0.0)
    clock.now += 3.0

    assert bucket.idle_seconds() == pytest.approx(3.0)


def test_weight_near_the_minute_limit_slows_the_budget_down(clock: FakeClock) -> None:
    host = budget(clock, rate=10.0, weight_limit=100)
    host.record(200, {"X-MBX-USED-WEIGHT-1M": "50"})
    clock.now += 30
    host.record(200, {"x-mbx-used-weight-1m": "80"})  # 30 weight per answer, 15 left for the last 30 s

    assert host.snapshot()["used_weight"] == 80
    assert host.snapshot()["rate"] == pytest.approx(15 / 30 / 30, abs=1e-3)


def test_weight_at_the_minute_limit_pauses_until_the_window_ends(clock: FakeClock) -> None:
    host = budget(clock, rate=10.0, weight_limit=100)
    host.record(200, {"X-MBX-USED-WEIGHT-1M": "10"})
    clock.now += 20
    host.record(200, {"X-MBX-USED-WEIGHT-1M": "99"})

    assert host.acquire() >= 40.0
    host.record(200, {"X-MBX-USED-WEIGHT-1M": "2"})  # a new window
    assert host.snapshot()["rate"] == 10.0


def test_weight_headers_are_ignored_for_hosts_without_a_weight_limit(clock: FakeClock) -> None:
    host = budget(clock)
    host.record(200, {"X-MBX-USED-WEIGHT-1M": "999999"})

    assert host.snapshot()["used_weight"] is None
    assert host.acquire() == 0.0


def test_budgets_come_from_the_defaults_or_overrides_and_are_shared() -> None:
    budgets = RateBudgets({"api.kraken.com": HostRate(3.0, 3.0)})

    assert budgets.for_host("api.binance.com").limits == HostRate(10.0, 20.0, weight_limit=6000)
    assert budgets.for_host("www.sec.gov").limits.rate == 10.0
    assert budgets.for_host("api.kraken.com").limits == HostRate(3.0, 3.0)
    assert budgets.for_host("unknown.example.org").limits == DEFAULT_RATE
    assert budgets.for_host("www.sec.gov") is budgets.for_host("www.sec.gov")
    assert set(budgets.snapshot()) == {"api.binance.com", "www.sec.gov", "api.kraken.com", "unknown.example.org"}
