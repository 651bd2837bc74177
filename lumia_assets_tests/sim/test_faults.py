"""Fault injection: every kind, matched by host and path, bounded by ``times`` and seeded ``probability``."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest
import requests

from lumia_assets.sim import MarketSimulator

NASDAQ = "www.nasdaqtrader.com"
OTHER_LISTED = f"/{NASDAQ}/dynamic/SymDir/otherlisted.txt"
NASDAQ_LISTED = f"/{NASDAQ}/dynamic/SymDir/nasdaqlisted.txt"
YAHOO = "query2.finance.yahoo.com"


def _get(sim: MarketSimulator, path: str, timeout: float = 5) -> requests.Response:
    return requests.get(sim.url + path, timeout=timeout)


@pytest.mark.parametrize("status", [500, 503, 418, 451, 404])
def test_a_status_fault_answers_that_status(sim: MarketSimulator, status: int) -> None:
    sim.faults.inject(NASDAQ, "status", status=status)

    assert _get(sim, OTHER_LISTED).status_code == status
    assert sim.requests()[0].status == status


def test_a_status_fault_needs_a_status() -> None:
    from lumia_assets.sim.faults import FaultPlan

    with pytest.raises(ValueError, match="status="):
        FaultPlan().inject(NASDAQ, "status")


def test_an_unknown_fault_kind_is_rejected_naming_the_kinds(sim: MarketSimulator) -> None:
    with pytest.raises(ValueError, match=r"unknown fault kind 'explode'.*truncated"):
        sim.faults.inject(NASDAQ, "explode")  # type: ignore[arg-type]


def test_a_fault_hits_only_its_host_and_matching_paths(sim: MarketSimulator) -> None:
    sim.faults.inject(NASDAQ, "status", status=503, path_contains="otherlisted")

    assert _get(sim, OTHER_LISTED).status_code == 503
    assert _get(sim, NASDAQ_LISTED).status_code == 200
    assert _get(sim, f"/{YAHOO}/v8/finance/chart/BRK-B?range=1d&interval=1d").status_code == 200


def test_a_fault_with_times_expires_after_that_many_hits(sim: MarketSimulator) -> None:
    fault = sim.faults.inject(NASDAQ, "status", status=500, times=2)

    assert [_get(sim, OTHER_LISTED).status_code for _ in range(4)] == [500, 500, 200, 200]
    assert fault.hits == 2


def test_probability_is_drawn_from_a_seeded_generator(sim: MarketSimulator) -> None:
    def statuses() -> list[int]:
        sim.faults.clear()
        sim.faults.inject(NASDAQ, "status", status=503, probability=0.5)
        return [_get(sim, OTHER_LISTED).status_code for _ in range(20)]

    first = statuses()
    assert first == statuses()
    assert 0 < first.count(503) < 20


def test_a_timeout_fault_delays_the_answer_past_the_clients_timeout(sim: MarketSimulator) -> None:
    sim.faults.inject(NASDAQ, "timeout", delay=1.0, times=1)

    with pytest.raises(requests.Timeout):
        _get(sim, OTHER_LISTED, timeout=0.2)
    assert _get(sim, OTHER_LISTED).status_code == 200
    _wait_until_logged(sim, 2)  # the delayed answer, so it cannot land in the next test's log


def _wait_until_logged(sim: MarketSimulator, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(sim.requests()) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_malformed_fault_answers_200_with_a_body_that_is_not_json(sim: MarketSimulator) -> None:
    sim.faults.inject(YAHOO, "malformed")

    response = _get(sim, f"/{YAHOO}/v8/finance/chart/BRK-B?range=1d&interval=1d")

    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_a_truncated_fault_cuts_the_real_body_short(sim: MarketSimulator) -> None:
    whole = _get(sim, OTHER_LISTED).content
    sim.faults.inject(NASDAQ, "truncated")

    cut = _get(sim, OTHER_LISTED)

    assert cut.status_code == 200
    assert 0 < len(cut.content) < len(whole)
    assert whole.startswith(cut.content)


def test_an_html_fault_answers_200_with_an_error_page(sim: MarketSimulator) -> None:
    sim.faults.inject(YAHOO, "html")

    response = _get(sim, f"/{YAHOO}/v8/finance/chart/BRK-B?range=1d&interval=1d")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Will be right back" in response.text


def test_missing_candles_are_left_out_of_the_chart(closed_market: MarketSimulator) -> None:
    sim = closed_market
    gone = date(2024, 6, 12)
    sim.faults.inject(YAHOO, "missing_candles", candles={("BRK-B", gone)})

    chart = _get(sim, f"/{YAHOO}/v8/finance/chart/BRK-B?period1=1717977600&period2=1718409600&interval=1d").json()

    timestamps = chart["chart"]["result"][0]["timestamp"]
    served = sim.equities.daily_bars("BRK.B", date(2024, 6, 10), date(2024, 6, 14))
    assert len(timestamps) == len(served) - 1 == 4
    assert gone in set(served["date"])
