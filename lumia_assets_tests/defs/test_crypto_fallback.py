"""``crypto_daily_prices`` with Kraken's and Coinbase's candles failing, through Dagster on both warehouse backends:
a dollar pair comes from Yahoo only with ``LUMIA_CRYPTO_FALLBACKS=yahoo``, only after every exchange failed, and its
rows say ``source='yahoo'``; the gap sensor asks the exchanges again until one serves those days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lumia_assets import clock
from lumia_assets.calendars import crypto_days
from lumia_assets.defs.prices.assets import crypto_daily_prices
from lumia_assets.defs.prices.checks import Scope, cross_exchange_agreement
from lumia_assets.defs.prices.sensors import HISTORY_TAG, RANGE_END, RANGE_START, price_gap_sensor
from lumia_assets.defs.resources import build_resources, warehouse_engine
from lumia_assets.engine.feeds import CRYPTO_FEED, recent_dates
from lumia_assets.settings import Settings
from lumia_assets_tests.defs.prices_helpers import materialize, metadata_of, stored_prices

pytestmark = pytest.mark.slow
YAHOO, KRAKEN, COINBASE, BINANCE = "query2.finance.yahoo.com", "api.kraken.com", "api.exchange.coinbase.com", \
    "api.binance.com"  # fmt: skip
SELECTED = "BTC/USD,ETH/USD,ETH/USDT"  # BTC/USD: every exchange fails; ETH/USD: Coinbase answers; ETH/USDT: no dollars


@pytest.fixture
def failing(sim, settings, monkeypatch) -> Settings:
    """Settings for runs in which every exchange of BTC/USD and ETH/USDT fails, and Coinbase answers for ETH/USD."""
    monkeypatch.setenv("LUMIA_INCLUDE_CRYPTO", SELECTED)
    sim.faults.inject(KRAKEN, "status", status=503, path_contains="/0/public/OHLC")
    sim.faults.inject(COINBASE, "status", status=500, path_contains="/products/BTC-USD/candles")
    sim.faults.inject(BINANCE, "status", status=503, path_contains="/klines")
    return replace(settings, max_retries=1, retry_max_seconds=1.0)


def _run(sim, settings: Settings):
    last = sim.now.date() - timedelta(days=1)
    config = {"ops": {"crypto_daily_prices": {"config": {"min_success_rate": 0.0}}}}
    result = materialize(settings, [crypto_daily_prices], last - timedelta(days=6), last, run_config=config)
    assert result.success
    return result, last


def _with_env(settings: Settings) -> Settings:
    """``settings`` with LUMIA_CRYPTO_FALLBACKS as the environment says now."""
    return replace(settings, crypto_fallbacks=Settings.from_env().crypto_fallbacks)


def test_without_the_fallback_the_pair_every_exchange_failed_for_is_a_gap(sim, warehouse_url, failing, monkeypatch):
    monkeypatch.delenv("LUMIA_CRYPTO_FALLBACKS", raising=False)

    result, _ = _run(sim, _with_env(failing))

    stored = stored_prices(warehouse_url, ("crypto",))
    assert set(stored["symbol"]) == {"ETH/USD"} and set(stored["source"]) == {"coinbaseexchange"}
    metadata = metadata_of(result, crypto_daily_prices)
    assert "BTC/USD" in metadata["failed_sample"] and "ETH/USDT" in metadata["failed_sample"]
    assert metadata["symbols_from_fallback"] == 0
    assert [r for r in sim.requests() if "yahoo" in r.host] == []


def test_with_the_fallback_the_pair_comes_from_yahoo_marked_as_aggregated(sim, warehouse_url, failing, monkeypatch):
    monkeypatch.setenv("LUMIA_CRYPTO_FALLBACKS", "yahoo")

    result, last = _run(sim, _with_env(failing))

    stored = stored_prices(warehouse_url, ("crypto",))
    assert dict(stored.groupby("symbol")["source"].unique().map(list)) == {
        "BTC/USD": ["yahoo"], "ETH/USD": ["coinbaseexchange"]
    }  # fmt: skip
    from_yahoo = stored[stored["symbol"] == "BTC/USD"].reset_index(drop=True)
    truth = sim.crypto.coin_days("BTC", last - timedelta(days=6), last).reset_index()
    assert len(truth) == 7
    pd.testing.assert_frame_equal(from_yahoo[["date", "open", "high", "low", "close"]],
                                  truth[["date", "open", "high", "low", "close"]], check_dtype=False)  # fmt: skip
    # Yahoo's dollar volume, rounded to the dollar, divided by the close: the coins traded, to that rounding
    assert (np.abs(from_yahoo["volume"] - truth["volume"]) <= 0.5 / truth["close"]).all()
    metadata = metadata_of(result, crypto_daily_prices)
    assert metadata["symbols_from_fallback"] == 1 and metadata["symbols_by_source"]["yahoo"] == 1
    assert "ETH/USDT" in metadata["failed_sample"]
    charts = [r for r in sim.requests(host=YAHOO) if "/v8/finance/chart/" in r.path]
    assert [r.path for r in charts] == ["/v8/finance/chart/BTC-USD"]  # not ETH-USD, which Coinbase answered
    coinbase = sim.requests(host=COINBASE, path_contains="/products/BTC-USD/candles")
    assert coinbase and charts[0].ts > max(r.ts for r in coinbase), "Yahoo is asked after every exchange failed"


def test_a_malformed_yahoo_answer_fails_the_pair_with_a_clear_error(sim, warehouse_url, failing, monkeypatch):
    monkeypatch.setenv("LUMIA_CRYPTO_FALLBACKS", "yahoo")
    sim.faults.inject(YAHOO, "malformed", path_contains="/v8/finance/chart/BTC-USD")

    result, _ = _run(sim, _with_env(failing))

    assert "BTC/USD" not in set(stored_prices(warehouse_url, ("crypto",))["symbol"])
    failed = metadata_of(result, crypto_daily_prices)["failed_sample"]
    assert "BTC/USD: MalformedResponseError: Yahoo's chart answer for BTC-USD is malformed" in failed


def test_the_cross_exchange_check_leaves_yahoos_rows_out(sim, warehouse_url, failing, monkeypatch) -> None:
    monkeypatch.setenv("LUMIA_CRYPTO_FALLBACKS", "yahoo")
    settings = _with_env(failing)
    _, last = _run(sim, settings)
    sim.faults.clear()
    sim.crypto.set_price_skew("kraken", "BTC/USD", 1.1)  # the exchange Yahoo's BTC/USD rows would be checked with

    days = crypto_days(last - timedelta(days=6), last)
    upstream = build_resources(settings)["upstream"]
    verdict = cross_exchange_agreement(Scope(CRYPTO_FEED, warehouse_engine(warehouse_url), upstream, None, days, ""))

    assert verdict.result.passed and verdict.result.checked == len(days)  # ETH/USD's Coinbase closes against Kraken's


def _crypto_repairs(settings: Settings, instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    """The gap sensor's crypto repair runs (not the history it backfills for newly selected pairs)."""
    context = dg.build_sensor_context(instance=instance, resources=build_resources(settings))
    requests = price_gap_sensor(context).run_requests or []
    return [r for r in requests if r.job_name == "crypto_prices_job" and HISTORY_TAG not in r.tags]


def _repair(settings: Settings, request: dg.RunRequest) -> None:
    first = date.fromisoformat(request.tags.get(RANGE_START, request.partition_key))
    last = date.fromisoformat(request.tags.get(RANGE_END, request.partition_key))
    config = request.run_config["ops"]["crypto_daily_prices"]["config"] | {"min_success_rate": 0.0}
    run_config = {"ops": {"crypto_daily_prices": {"config": config}}}
    assert materialize(settings, [crypto_daily_prices], first, last, run_config=run_config).success


def test_the_days_yahoo_filled_are_asked_of_the_exchanges_again_until_one_serves_them(
    sim, warehouse_url, failing, monkeypatch
) -> None:
    monkeypatch.setenv("LUMIA_CRYPTO_FALLBACKS", "yahoo")
    sim.set_clock(datetime.combine(sim.now.date(), time(12), UTC))  # noon: yesterday is due, and stays so below
    settings = _with_env(failing)
    _, last = _run(sim, settings)
    filled = stored_prices(warehouse_url, ("crypto",)).query("symbol == 'BTC/USD'")
    assert set(filled["source"]) == {"yahoo"} and len(filled) == 7
    instance = dg.DagsterInstance.ephemeral()

    still_down = _crypto_repairs(settings, instance)  # the exchanges still fail: Yahoo stands in again, unchanged
    assert still_down and all("BTC/USD" in r.run_config["ops"]["crypto_daily_prices"]["config"]["symbols"]
                              for r in still_down)  # fmt: skip
    for request in still_down:
        _repair(settings, request)
    again = stored_prices(warehouse_url, ("crypto",)).query("symbol == 'BTC/USD' and date in @filled.date")
    pd.testing.assert_frame_equal(again.reset_index(drop=True), filled.reset_index(drop=True))  # fetched_at too
    assert _crypto_repairs(settings, instance) == []  # each day waits its 15 minutes, as any missing cell does

    sim.faults.clear()  # the exchanges recover
    later = sim.now + timedelta(minutes=16)
    monkeypatch.setattr(clock, "utc_now", lambda: later)
    recovered = _crypto_repairs(settings, instance)
    assert recovered
    for request in recovered:
        _repair(settings, request)

    window = recent_dates(CRYPTO_FEED, settings, later)  # the sensor's days, through yesterday
    sources = stored_prices(warehouse_url, ("crypto",)).query("symbol == 'BTC/USD'").set_index("date")["source"]
    assert list(sources.index) == window and window[-1] == last  # the repairs filled the rest of the window too
    assert set(sources) == {"kraken"}, "the exchange replaced every day Yahoo stood in for"
    assert _crypto_repairs(settings, instance) == []  # served by an exchange: nothing left to repair
