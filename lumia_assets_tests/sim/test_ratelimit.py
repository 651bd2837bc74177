"""Server-side rate limits: a token bucket per host, 429 with Retry-After, weight headers and 418 bans."""

from __future__ import annotations

import pytest
import requests

from lumia_assets.sim import MarketSimulator
from lumia_assets.sim.ratelimit import RateLimits
from lumia_assets_tests.fakes import FakeClock

HOST = "api.example.com"
WEIGHT = "X-MBX-USED-WEIGHT-1M"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000.0)


@pytest.fixture
def limits(clock: FakeClock) -> RateLimits:
    return RateLimits(clock=clock)


def test_requests_within_the_burst_pass_and_the_next_gets_429_with_retry_after(limits: RateLimits) -> None:
    limits.set(HOST, 1, burst=3, retry_after=2.0)

    verdicts = [limits.admit(HOST) for _ in range(4)]

    assert [v.status for v in verdicts] == [None, None, None, 429]
    assert verdicts[-1].headers["Retry-After"] == "2"


def test_the_bucket_refills_at_the_configured_rate(limits: RateLimits, clock: FakeClock) -> None:
    limits.set(HOST, 2, burst=1, retry_after=0.5)
    assert limits.admit(HOST).status is None
    assert limits.admit(HOST).status == 429

    clock.now += 0.6

    assert limits.admit(HOST).status is None


def test_a_request_costs_its_weight(limits: RateLimits) -> None:
    limits.set(HOST, 1, burst=10)

    assert limits.admit(HOST, cost=8).status is None
    assert limits.admit(HOST, cost=5).status == 429


def test_the_weight_header_reports_the_weight_used_this_minute(limits: RateLimits, clock: FakeClock) -> None:
    clock.now = 60_000.0
    limits.set(HOST, 100, burst=100, weight_header=WEIGHT)

    used = [limits.admit(HOST, cost=cost).headers[WEIGHT] for cost in (1, 5, 10)]
    clock.now += 60

    assert used == ["1", "6", "16"]
    assert limits.admit(HOST, cost=2).headers[WEIGHT] == "2"


def test_ignoring_retry_after_ban_after_times_earns_a_418(limits: RateLimits, clock: FakeClock) -> None:
    limits.set(HOST, 1, burst=1, retry_after=5.0, ban_after=2)
    limits.admit(HOST)
    assert limits.admit(HOST).status == 429

    clock.now += 1  # still inside Retry-After
    assert limits.admit(HOST).status == 429
    clock.now += 1
    assert limits.admit(HOST).status == 418
    clock.now += 10  # the 429 window is over, the ban is not
    assert limits.admit(HOST).status == 418


def test_a_client_that_waits_out_retry_after_is_never_banned(limits: RateLimits, clock: FakeClock) -> None:
    limits.set(HOST, 1, burst=1, retry_after=1.0, ban_after=1)

    statuses = []
    for _ in range(5):
        statuses += [limits.admit(HOST).status, limits.admit(HOST).status]
        clock.now += 1.5

    assert statuses == [None, 429] * 5


def test_hosts_without_a_limit_are_never_limited(limits: RateLimits) -> None:
    limits.set(HOST, 1, burst=1)

    assert all(limits.admit("other.example.com").status is None for _ in range(100))


def test_the_server_answers_429_with_retry_after_over_budget(sim: MarketSimulator) -> None:
    host = "www.nasdaqtrader.com"
    sim.rate_limits.set(host, 0.01, burst=2, retry_after=30)
    url = f"{sim.url}/{host}/dynamic/SymDir/nasdaqlisted.txt"

    responses = [requests.get(url, timeout=5) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[-1].headers["Retry-After"] == "30"
    assert [r.status for r in sim.requests(host=host)] == [200, 200, 429]


def test_every_server_answer_carries_the_weight_header(sim: MarketSimulator) -> None:
    host = "www.nasdaqtrader.com"
    sim.rate_limits.set(host, 100, burst=100, weight_header=WEIGHT)
    url = f"{sim.url}/{host}/dynamic/SymDir/otherlisted.txt"

    used = [int(requests.get(url, timeout=5).headers[WEIGHT]) for _ in range(3)]

    assert used == [1, 2, 3]


def test_without_retry_after_a_429_says_nothing_of_the_wait_but_still_blocks(
    limits: RateLimits, clock: FakeClock
) -> None:
    limits.set(HOST, 1, burst=1, retry_after=2.0, send_retry_after=False)
    assert limits.admit(HOST).status is None

    refused = limits.admit(HOST)
    clock.now += 1.5  # a token is back, but the penalty window is not over
    still_refused = limits.admit(HOST)
    clock.now += 1

    assert (refused.status, still_refused.status) == (429, 429)
    assert "Retry-After" not in refused.headers and "Retry-After" not in still_refused.headers
    assert limits.admit(HOST).status is None


def test_an_unweighted_limit_counts_requests_and_the_header_still_counts_weight(
    limits: RateLimits, clock: FakeClock
) -> None:
    clock.now = 60_000.0
    limits.set(HOST, 1, burst=3, weight_header=WEIGHT, weighted=False)

    verdicts = [limits.admit(HOST, cost=2) for _ in range(4)]

    assert [v.status for v in verdicts] == [None, None, None, 429]
    assert [v.headers[WEIGHT] for v in verdicts] == ["2", "4", "6", "8"]


def test_binance_klines_weigh_2_against_a_weighted_limit(sim: MarketSimulator) -> None:
    host = "api.binance.com"
    sim.rate_limits.set(host, 0.01, burst=5, weight_header=WEIGHT)
    url = f"{sim.url}/{host}/api/v3/klines?symbol=BTCUSDT&interval=1d&limit=5"

    responses = [requests.get(url, timeout=5) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r.headers[WEIGHT] for r in responses] == ["2", "4", "6"]
