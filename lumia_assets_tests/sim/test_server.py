"""The simulator's server: /HOST/PATH routing, unknown hosts, the request log and reset."""

from __future__ import annotations

import time

import requests

from lumia_assets.sim import MarketSimulator

NASDAQ_LISTED = "/www.nasdaqtrader.com/dynamic/SymDir/nasdaqlisted.txt"


def test_a_request_is_routed_to_the_app_named_by_its_first_path_segment(sim: MarketSimulator) -> None:
    response = requests.get(sim.url + NASDAQ_LISTED, timeout=5)

    assert response.status_code == 200
    assert response.text.startswith("Symbol|Security Name|Market Category|")
    [record] = sim.requests()
    assert (record.host, record.path, record.status) == (
        "www.nasdaqtrader.com",
        "/dynamic/SymDir/nasdaqlisted.txt",
        200,
    )


def test_a_port_in_the_routed_host_is_ignored(sim: MarketSimulator) -> None:
    response = requests.get(sim.url + "/www.nasdaqtrader.com:443/dynamic/SymDir/nasdaqlisted.txt", timeout=5)

    assert response.status_code == 200
    assert sim.requests()[0].host == "www.nasdaqtrader.com"


def test_an_unknown_host_is_answered_502_naming_it(sim: MarketSimulator) -> None:
    response = requests.get(sim.url + "/api.example.com/v1/prices", timeout=5)

    assert response.status_code == 502
    assert "api.example.com" in response.text
    assert sim.requests(host="api.example.com")[0].status == 502


def test_the_request_log_filters_by_host_and_path_and_keeps_the_query(sim: MarketSimulator) -> None:
    requests.get(sim.url + NASDAQ_LISTED, timeout=5)
    requests.get(sim.url + "/www.nasdaqtrader.com/dynamic/SymDir/otherlisted.txt", timeout=5)
    requests.get(sim.url + "/query2.finance.yahoo.com/v8/finance/chart/BRK-B?range=1d&interval=1d", timeout=5)

    assert len(sim.requests()) == 3
    assert len(sim.requests(host="www.nasdaqtrader.com")) == 2
    assert [r.path for r in sim.requests(path_contains="otherlisted")] == ["/dynamic/SymDir/otherlisted.txt"]
    [chart] = sim.requests(host="query2.finance.yahoo.com")
    assert chart.method == "GET"
    assert chart.query_string == "range=1d&interval=1d"


def test_reset_clears_faults_rate_limits_the_log_and_market_changes(sim: MarketSimulator) -> None:
    symbol = sim.equities.listed("nasdaqlisted")[0].symbol
    sim.faults.inject("www.nasdaqtrader.com", "status", status=503)
    sim.rate_limits.set("www.nasdaqtrader.com", 0.001, burst=1)
    sim.equities.delist(symbol, sim.now.date())
    requests.get(sim.url + NASDAQ_LISTED, timeout=5)

    sim.reset()

    assert sim.requests() == []
    response = requests.get(sim.url + NASDAQ_LISTED, timeout=5)
    assert response.status_code == 200
    assert f"\r\n{symbol}|" in response.text


def test_keep_alive_requests_are_answered_without_delayed_ack_stalls(sim: MarketSimulator) -> None:
    session = requests.Session()
    url = f"{sim.url}/query2.finance.yahoo.com/v8/finance/chart/BRK-B?range=1mo&interval=1d"

    started = time.perf_counter()
    statuses = {session.get(url, timeout=5).status_code for _ in range(50)}
    elapsed = time.perf_counter() - started

    assert statuses == {200}
    assert elapsed < 1.5, f"50 sequential chart requests took {elapsed:.2f}s (a 40 ms stall each would be 2 s)"
