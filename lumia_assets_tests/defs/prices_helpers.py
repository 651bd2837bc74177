"""Shared steps of the price-asset tests: materialize through Dagster, read the warehouse, compare with the truth."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from lumia_assets.defs.prices.adjusted import adjusted_daily_prices
from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices
from lumia_assets.defs.prices.hourly import crypto_hourly_prices
from lumia_assets.defs.reference.assets import crypto_coins, crypto_reference_prices
from lumia_assets.defs.resources import build_resources, warehouse_engine
from lumia_assets.defs.universe.assets import crypto_universe, fund_universe, stock_universe
from lumia_assets.settings import Settings
from lumia_assets.sim import MarketSimulator

ALL_ASSETS = [
    stock_universe,
    fund_universe,
    crypto_universe,
    equity_daily_prices,
    crypto_daily_prices,
    crypto_hourly_prices,
    adjusted_daily_prices,
    crypto_coins,
    crypto_reference_prices,
]
PRICE_VALUES = ["open", "high", "low", "close", "volume"]  # as traded
ADJUSTED_VALUES = ["open", "high", "low", "close", "volume", "adj_close"]


# The simulator has no rate limit unless a test sets one: budgets well above the production defaults keep tests fast.
FAST_BUDGETS = (
    "query2.finance.yahoo.com=100:20,api.binance.com=100:20,api.kraken.com=100:20,api.exchange.coinbase.com=100:20,"
    "api.coingecko.com=100:20"
)


def evening(day: date) -> datetime:
    """18:00 New York on ``day``: its session has closed, the next has not opened."""
    return datetime.combine(day, time(18), ZoneInfo("America/New_York")).astimezone(UTC)


def quiet_symbols(sim: MarketSimulator, asset_class: str, count: int, start: date) -> list[str]:
    """``count`` symbols of ``asset_class`` listed throughout, with no corporate action of their own from ``start``."""
    universe = sim.equities.universe()
    candidates = universe[(universe["asset_class"] == asset_class) & ~universe["test_issue"]
                          & universe["listed_on"].isna() & universe["delisted_on"].isna()]  # fmt: skip
    chosen = []
    for symbol in candidates["symbol"]:
        actions = sim.equities.corporate_actions(symbol)
        if actions.empty or (actions["date"] < start).all():
            chosen.append(symbol)
        if len(chosen) == count:
            return chosen
    raise AssertionError(f"the simulator has no {count} quiet {asset_class} symbols from {start}")


def settings_for(sim: MarketSimulator, warehouse_url: str) -> Settings:
    return replace(Settings.from_env(), warehouse_url=warehouse_url, upstream_url=sim.url, rate_limits=FAST_BUDGETS)


def materialize(
    settings: Settings,
    selection: list[dg.AssetsDefinition],
    start: date | str | None = None,
    end: date | str | None = None,
    run_config: dict[str, Any] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize ``selection``; with dates (or partition keys), the partition range ``start``..``end`` in one
    run."""
    tags = {}
    if start is not None:
        tags = {
            "dagster/asset_partition_range_start": str(start),
            "dagster/asset_partition_range_end": str(end or start),
        }
    return dg.materialize(
        ALL_ASSETS,
        selection=selection,
        resources=build_resources(settings),
        tags=tags,
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
    )


def load_universes(settings: Settings) -> None:
    result = materialize(settings, [stock_universe, fund_universe, crypto_universe])
    assert result.success


def stored_prices(warehouse_url: str, asset_classes: tuple[str, ...]) -> pd.DataFrame:
    query = sa.text(
        "SELECT symbol, asset_class, date, open, high, low, close, volume, source FROM daily_prices "
        "WHERE asset_class IN :classes ORDER BY symbol, date"
    ).bindparams(sa.bindparam("classes", expanding=True))
    with warehouse_engine(warehouse_url).connect() as conn:
        frame = pd.read_sql(query, conn, params={"classes": list(asset_classes)})
    return frame.assign(date=pd.to_datetime(frame["date"]).dt.date)


def stored_actions(warehouse_url: str) -> pd.DataFrame:
    with warehouse_engine(warehouse_url).connect() as conn:
        frame = pd.read_sql(sa.text("SELECT symbol, date, action, value FROM corporate_actions"), conn)
    return frame.assign(date=pd.to_datetime(frame["date"]).dt.date)


def active_equities(warehouse_url: str) -> pd.DataFrame:
    query = sa.text("SELECT symbol, asset_class FROM assets WHERE active AND asset_class <> 'crypto' ORDER BY symbol")
    with warehouse_engine(warehouse_url).connect() as conn:
        return pd.read_sql(query, conn)


def equity_truth(sim: MarketSimulator, symbols: list[str], start: date, end: date) -> pd.DataFrame:
    """The simulator's bars of ``symbols`` from ``start`` to ``end`` as they traded, shaped like ``stored_prices``."""
    frames = [sim.equities.as_traded_bars(symbol, start, end).assign(symbol=symbol) for symbol in symbols]
    truth = pd.concat(frames, ignore_index=True)
    return truth[["symbol", "date", *PRICE_VALUES]].sort_values(["symbol", "date"], ignore_index=True)


def served_truth(sim: MarketSimulator, symbols: list[str], start: date, end: date) -> pd.DataFrame:
    """What the simulator's Yahoo serves now for ``symbols``: split-adjusted OHLCV and ``adj_close``."""
    frames = [sim.equities.daily_bars(symbol, start, end).assign(symbol=symbol) for symbol in symbols]
    truth = pd.concat(frames, ignore_index=True)
    return truth[["symbol", "date", *ADJUSTED_VALUES]].sort_values(["symbol", "date"], ignore_index=True)


def assert_derived_equals_served(derived: pd.DataFrame, served: pd.DataFrame) -> None:
    """Derived prices equal Yahoo's to 1e-9 (relative); volumes to the whole share Yahoo rounds them to."""
    prices = ["symbol", "date", "open", "high", "low", "close", "adj_close"]
    pd.testing.assert_frame_equal(derived[prices], served[prices], rtol=1e-9)
    assert (derived["volume"] - served["volume"]).abs().max() <= 0.5


def derived_prices(warehouse_url: str, symbols: list[str], start: date, end: date) -> pd.DataFrame:
    """The warehouse's derived series (the ``adjusted_prices`` view), shaped like ``served_truth``."""
    query = sa.text(
        "SELECT symbol, date, open, high, low, close, volume, adj_close FROM adjusted_prices "
        "WHERE symbol IN :symbols AND date BETWEEN :start AND :end ORDER BY symbol, date"
    ).bindparams(sa.bindparam("symbols", expanding=True))
    with warehouse_engine(warehouse_url).connect() as conn:
        frame = pd.read_sql(query, conn, params={"symbols": symbols, "start": start, "end": end})
    return frame.assign(date=pd.to_datetime(frame["date"]).dt.date)


def crypto_truth(sim: MarketSimulator, exchange: str, symbols: list[str], start: date, end: date) -> pd.DataFrame:
    frames = [sim.crypto.daily_candles(exchange, symbol, start, end).assign(symbol=symbol) for symbol in symbols]
    truth = pd.concat(frames, ignore_index=True)
    return truth[["symbol", "date", *PRICE_VALUES]].sort_values(["symbol", "date"], ignore_index=True)


def metadata_of(result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition) -> dict[str, Any]:
    materializations = result.asset_materializations_for_node(asset.op.name)
    return {key: getattr(value, "value", value) for key, value in materializations[-1].metadata.items()}
