"""The resilient policy: rate budget + retries + breaker, alone and through HttpClient against the simulator."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from lumia_assets.sim import MarketSimulator
from lumia_assets.sim.requestlog import RequestRecord
from lumia_assets.sources.breaker import BreakerState, CircuitOpenError
from lumia_assets.sources.errors import PermanentUpstreamError, TransientUpstreamError
from lumia_assets.sources.http import HttpClient
from lumia_assets.sources.policy import ResilienceConfig, ResilientPolicy, parse_host_rates
from lumia_assets.sources.ratelimit import HostRate

BINANCE = "api.binance.com"
SERVER_TIME = f"https://{BINANCE}/api/v3/time"


def test_host_rates_parse_rate_and_optional_burst_keeping_default_weight_limits() -> None:
    rates = parse_host_rates(" api.binance.com=10:20, query2.finance.yahoo.com=4 ,")

    assert rates == {
        "api.binance.com": HostRate(10.0, 20.0, weight_limit=6000),
        "query2.finance.yahoo.com": HostRate(4.0, 8.0),  # Yahoo's default burst is twice its rate
    }
    assert parse_host_rates("") == {}


@pytest.mark.parametrize(
    "entry", ["api.binance.com", "api.binance.com=fast", "=5", "x.com=0", "x.com=5:0", "x.com=nan"]
)
def test_a_bad_host_rate_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match=f"bad rate limit entry {entry!r}"):
        parse_host_rates(f"www.sec.gov=5,{entry}")


def test_the_config_defaults() -> None:
    config = ResilienceConfig()

    assert (config.max_attempts, config.max_retry_seconds) == (5, 120.0)
    assert (config.breaker_failure_threshold, config.breaker_cooldown_seconds) == (5, 30.0)
    assert config.host_rates == {}


@dataclass
class FakeResponse:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


def test_a_429_left_after_every_retry_counts_as_one_breaker_failure() -> None:
    config = ResilienceConfig(max_attempts=3, breaker_failure_threshold=2)
    policy = ResilientPolicy(config, sleep=lambda _: None, jitter=lambda: 0.0)

    def limited() -> FakeResponse:
        return FakeResponse(429, {"Retry-After": "0"})

    assert policy.call("www.sec.gov", limited).status_code == 429
    assert policy.snapshot()["www.sec.gov"]["breaker_state"] == "closed"  # three 429s, one failure
    policy.call("www.sec.gov", limited)

    snapshot = policy.snapshot()["www.sec.gov"]
    assert snapshot["breaker_state"] == "open"
    assert snapshot["status_429"] == 6
    with pytest.raises(CircuitOpenError):
        policy.call("www.sec.gov", limited)


# --- against the market simulator ------------------------------------------------------------------------------


def fast_policy(rate: float, burst: float, **config: float) -> ResilientPolicy:
    """A policy for BINANCE at ``rate``/``burst``, with short retry waits."""
    return ResilientPolicy(
        ResilienceConfig(host_rates={BINANCE: HostRate(rate, burst)}, retry_base_seconds=0.02, **config)
    )


def hammer(client: HttpClient, threads: int, seconds: float) -> list[Exception]:
    """Call BINANCE's server time from ``threads`` threads for ``seconds``; returns what was raised."""
    deadline = time.monotonic() + seconds
    raised: list[Exception] = []

    def worker() -> None:
        session = client.requests_session()
        while time.monotonic() < deadline:
            try:
                session.get(SERVER_TIME)
            except Exception as exc:
                raised.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return raised


def window(records: list[RequestRecord], start: float, end: float) -> list[RequestRecord]:
    return [r for r in records if start <= r.ts < end]


@pytest.mark.slow
def test_a_429_storm_is_ridden_out_and_429s_become_rare_once_adapted(sim: MarketSimulator) -> None:
    sim.rate_limits.set(BINANCE, 50, burst=5, retry_after=1)  # we start 60% over the server's rate, 4x its burst
    client = HttpClient(upstream_url=sim.url, timeout=5, policy=fast_policy(80, 20))
    started = time.time()

    raised = hammer(client, threads=4, seconds=9.5)

    assert raised == []
    assert sum(r.status == 429 for r in sim.requests(BINANCE)) > 0  # there was a storm
    adapted = window(sim.requests(BINANCE), started + 6.5, started + 9.5)
    share = sum(r.status == 429 for r in adapted) / len(adapted)
    assert share < 0.01, f"{share:.1%} of {len(adapted)} requests answered 429 after adapting"


@pytest.mark.slow
def test_a_server_limit_below_the_budget_is_converged_to_without_a_ban(sim: MarketSimulator) -> None:
    sim.rate_limits.set(BINANCE, 50, burst=5, retry_after=1, ban_after=5)
    client = HttpClient(upstream_url=sim.url, timeout=5, policy=fast_policy(75, 20))
    started = time.time()

    raised = hammer(client, threads=4, seconds=11.0)

    assert raised == []
    records = sim.requests(BINANCE)
    assert all(r.status != 418 for r in records)
    # What converges is the budget's rate; the throughput it yields also depends on how fast this machine runs
    # four client threads and the server, so it is held to the budget rather than to the server's 50.
    rate = client.policy.snapshot()[BINANCE]["rate"]
    assert 0.9 * 50 <= rate <= 50, f"the budget settled at {rate} requests/s against a server allowing 50"
    measured = window(records, started + 6.0, started + 11.0)
    achieved = sum(r.status == 200 for r in measured) / 5.0
    assert achieved >= 0.6 * rate, f"{achieved:.1f} requests/s sent on a budget of {rate}"


def test_5xx_and_timeouts_on_a_fifth_of_requests_all_succeed_after_retries(sim: MarketSimulator) -> None:
    errors = sim.faults.inject(BINANCE, "status", status=503, probability=0.1)
    timeouts = sim.faults.inject(BINANCE, "timeout", probability=0.1, delay=0.5)
    policy = fast_policy(200, 20, max_attempts=8, breaker_failure_threshold=12)
    client = HttpClient(upstream_url=sim.url, timeout=0.25, policy=policy)

    raised = hammer(client, threads=4, seconds=1.5)

    assert raised == []
    assert errors.hits > 0 and timeouts.hits > 0
    assert sum(r.status == 200 for r in sim.requests(BINANCE)) > 50


def test_a_timeout_on_the_curl_session_is_retried(sim: MarketSimulator) -> None:
    sim.faults.inject("query2.finance.yahoo.com", "timeout", times=1, delay=0.5)
    client = HttpClient(
        upstream_url=sim.url, timeout=0.25, policy=ResilientPolicy(ResilienceConfig(retry_base_seconds=0))
    )

    response = client.yfinance_session().get("https://query2.finance.yahoo.com/v1/test/getcrumb")

    assert response.status_code == 200
    stats = client.stats.snapshot()["query2.finance.yahoo.com"]
    assert (stats.requests, stats.errors) == (2, 1)


def test_a_451_is_not_retried_and_is_permanent(sim: MarketSimulator) -> None:
    sim.faults.inject(BINANCE, "status", status=451)
    client = HttpClient(upstream_url=sim.url, timeout=5, policy=fast_policy(50, 10))

    with pytest.raises(PermanentUpstreamError, match=r"api\.binance\.com answered HTTP 451"):
        client.requests_session().get(SERVER_TIME)

    assert len(sim.requests(BINANCE)) == 1


def test_a_404_is_an_answer_and_not_retried(sim: MarketSimulator) -> None:
    client = HttpClient(upstream_url=sim.url, timeout=5, policy=fast_policy(50, 10))

    response = client.requests_session().get(f"https://{BINANCE}/api/v3/no-such-endpoint")

    assert response.status_code == 404
    assert len(sim.requests(BINANCE)) == 1


def test_the_breaker_opens_on_a_host_that_is_down_fails_fast_and_closes_when_it_is_back(sim: MarketSimulator) -> None:
    sim.faults.inject(BINANCE, "status", status=503)
    # a cooldown long enough that a loaded CI machine cannot pass it between the calls below
    policy = fast_policy(50, 10, max_attempts=2, breaker_failure_threshold=3, breaker_cooldown_seconds=3)
    session = HttpClient(upstream_url=sim.url, timeout=5, policy=policy).requests_session()

    with pytest.raises(TransientUpstreamError, match="HTTP 503"):
        session.get(SERVER_TIME)  # failures 1 and 2
    with pytest.raises(CircuitOpenError, match=r"api\.binance\.com"):
        session.get(SERVER_TIME)  # failure 3 opens the breaker, and the retry is refused
    sent = len(sim.requests(BINANCE))
    with pytest.raises(CircuitOpenError):
        session.get(SERVER_TIME)
    assert (sent, len(sim.requests(BINANCE))) == (3, 3)  # nothing reached the host while open

    sim.faults.clear()  # the host is back
    time.sleep(3)
    assert session.get(SERVER_TIME).status_code == 200

    snapshot = policy.snapshot()[BINANCE]
    assert snapshot["breaker_state"] == "closed"
    assert [(t["from"], t["to"]) for t in snapshot["breaker_transitions"]] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert [t.to_state for t in policy.breaker(BINANCE).transitions] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]
