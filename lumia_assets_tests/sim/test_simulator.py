"""The simulator as a whole: deterministic bytes, start and stop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from lumia_assets.sim import MarketSimulator, SimConfig

NOW = datetime(2024, 6, 14, 21, 0, tzinfo=UTC)
PATHS = [
    "/www.nasdaqtrader.com/dynamic/SymDir/nasdaqlisted.txt",
    "/www.nasdaqtrader.com/dynamic/SymDir/otherlisted.txt",
    "/www.nasdaqtrader.com/dynamic/SymDir/mfundslist.txt",
    "/query2.finance.yahoo.com/v8/finance/chart/BRK-B?period1=1514764800&period2=1718409600&interval=1d"
    "&events=div%2Csplits%2CcapitalGains",
]


def _bodies(seed: int) -> list[bytes]:
    sim = MarketSimulator(SimConfig(profile="small", seed=seed, now=NOW)).start()
    try:
        return [requests.get(sim.url + path, timeout=5).content for path in PATHS]
    finally:
        sim.stop()


def test_two_simulators_with_one_seed_serve_identical_bytes() -> None:
    assert _bodies(11) == _bodies(11)


def test_another_seed_serves_another_market() -> None:
    first, other = _bodies(11), _bodies(12)

    assert all(a != b for a, b in zip(first, other, strict=True))


def test_the_url_names_the_bound_loopback_port() -> None:
    sim = MarketSimulator(SimConfig(profile="small", now=NOW)).start(port=0)
    try:
        assert sim.url.startswith("http://127.0.0.1:")
        assert requests.get(sim.url + PATHS[0], timeout=5).status_code == 200
    finally:
        sim.stop()


def test_a_pair_count_override_resizes_one_exchange_and_an_unknown_exchange_is_named() -> None:
    sim = MarketSimulator(SimConfig(profile="small", now=NOW, crypto_pairs={"binance": 30}))

    assert SimConfig(profile="small").sizes.crypto_pairs["binance"] == 12
    assert len(sim.crypto.pairs("binance")) == 30
    assert len(sim.crypto.pairs("kraken")) == len(MarketSimulator(SimConfig(profile="small")).crypto.pairs("kraken"))
    with pytest.raises(ValueError, match=r"unknown exchanges \['bitmex'\]"):
        SimConfig(crypto_pairs={"bitmex": 5})
