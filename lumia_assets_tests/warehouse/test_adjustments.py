"""Derived adjustments: factors kept by the writer, the adjusted_prices view, and restatements found by comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.selection import PriceSelection
from lumia_assets.warehouse.adjustments import adjusted_closes_on, adjusted_series, adjusted_symbols, stale_factor_keys
from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.restatements import find_restatements
from lumia_assets.warehouse.store import PriceBatch, upsert_corporate_actions, write_price_batch
from lumia_assets.warehouse.universe import sync_universe
from lumia_assets_tests.warehouse.frames import DAYS, FETCHED_AT, actions, bars, identities, listings, statuses


def _write(engine: sa.Engine, prices: pd.DataFrame, paid: pd.DataFrame) -> None:
    write_price_batch(engine, PriceBatch(prices, paid, statuses("ok"), identities()))


def _fetched_at(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT fetched_at FROM daily_prices ORDER BY date")).scalars())


def test_a_new_dividend_changes_every_earlier_derived_value_without_rewriting_a_bar(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    _write(engine, bars("AAPL", DAYS[:2], close=100.0), actions("AAPL"))
    before = adjusted_series(engine, "AAPL", "stock", DAYS[0], DAYS[2])
    stamps = _fetched_at(engine)

    later = bars("AAPL", DAYS[2:], close=100.0).assign(fetched_at=FETCHED_AT + timedelta(days=1))
    _write(engine, later, actions("AAPL", (DAYS[2], "dividend", 2.0)))

    after = adjusted_series(engine, "AAPL", "stock", DAYS[0], DAYS[2])
    assert before["adj_close"].tolist() == [100.0, 100.0]
    assert after["adj_close"].tolist() == pytest.approx([98.0, 98.0, 100.0])
    assert after["close"].tolist() == [100.0, 100.0, 100.0]
    assert _fetched_at(engine)[:2] == stamps


def test_a_split_adjusts_earlier_prices_and_volumes_in_the_view(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    traded = pd.concat([bars("NVDA", DAYS[:2], close=100.0), bars("NVDA", DAYS[2:], close=50.0)])
    _write(engine, traded, actions("NVDA", (DAYS[2], "split", 2.0)))

    series = adjusted_series(engine, "NVDA", "stock", DAYS[0], DAYS[2])
    assert series["close"].tolist() == [50.0, 50.0, 50.0]
    assert series["volume"].tolist() == [2000.0, 2000.0, 1000.0]
    day = adjusted_closes_on(engine, DAYS[0], ["stock"])
    assert day.to_dict("records") == [{"symbol": "NVDA", "asset_class": "stock", "close": 50.0, "adj_close": 50.0}]


def test_actions_written_outside_the_price_writer_leave_stale_factors_that_are_found(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    _write(engine, bars("AAPL", DAYS, close=100.0), actions("AAPL"))
    late = actions("AAPL", (DAYS[2], "dividend", 1.0)).assign(fetched_at=datetime.now(UTC) + timedelta(hours=1))
    upsert_corporate_actions(engine, late)
    assert stale_factor_keys(engine) == {("AAPL", "stock")}


def test_restatements_are_changed_stored_values_not_news(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    _write(engine, bars("AAPL", DAYS[:2], close=100.0), actions("AAPL", (DAYS[1], "dividend", 0.5)))

    answer = bars("AAPL", DAYS, close=100.0)
    answer.loc[answer["date"] == DAYS[0], "close"] = 101.0
    told = actions("AAPL", (DAYS[1], "dividend", 0.6), (DAYS[2], "dividend", 0.7))
    found = find_restatements(engine, answer, told)

    assert found.to_dict("records") == [
        {"symbol": "AAPL", "asset_class": "stock", "date": DAYS[0], "what": "bar.close", "old_value": 100.0,
         "new_value": 101.0},
        {"symbol": "AAPL", "asset_class": "stock", "date": DAYS[1], "what": "dividend", "old_value": 0.5,
         "new_value": 0.6},
    ]  # fmt: skip
    assert find_restatements(engine, bars("AAPL", DAYS, close=100.0), actions("AAPL", (DAYS[1], "dividend", 0.5))).empty


def test_a_restate_plans_only_the_adjusted_symbols_the_selection_prices(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    universe = pd.concat([listings("AAPL"), listings("SPY", asset_class="etf")])
    sync_universe(engine, "stock_universe", ("stock", "etf"), universe, seen_at=FETCHED_AT)
    _write(engine, bars("AAPL", DAYS), actions("AAPL", (DAYS[1], "dividend", 1.0)))
    spy = actions("SPY", (DAYS[2], "dividend", 1.0)).assign(asset_class="etf")
    _write(engine, bars("SPY", DAYS, asset_class="etf"), spy)
    equities = ("stock", "etf", "mutual_fund")

    assert adjusted_symbols(engine, equities) == [("SPY", "etf"), ("AAPL", "stock")]
    assert adjusted_symbols(engine, equities, selection=PriceSelection(asset_classes=("etf",))) == [("SPY", "etf")]
    assert adjusted_symbols(engine, equities, since=DAYS[2]) == [("SPY", "etf")]
