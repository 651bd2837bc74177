"""Bulk upserts: idempotent, updating, all-or-nothing per batch, and strict about their frames."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.frames import CORPORATE_ACTION_COLUMNS
from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.store import (
    FrameContractError,
    PriceBatch,
    active_symbols,
    write_price_batch,
)
from lumia_assets.warehouse.universe import sync_universe
from lumia_assets_tests.warehouse.frames import FETCHED_AT, bars, stocks

DAYS = [date(2024, 12, 2), date(2024, 12, 3), date(2024, 12, 4)]
EMPTY = pd.DataFrame()


def _batch(prices: pd.DataFrame, actions: pd.DataFrame | None = None, statuses=None, listed_on=None) -> PriceBatch:
    return PriceBatch(
        bars=prices,
        actions=actions if actions is not None else pd.DataFrame(columns=list(CORPORATE_ACTION_COLUMNS)),
        statuses=statuses
        if statuses is not None
        else pd.DataFrame(columns=["symbol", "asset_class", "status", "detail", "checked_at"]),
        listed_on=listed_on if listed_on is not None else pd.DataFrame(columns=["symbol", "asset_class", "listed_on"]),
    )


def _prices(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text("SELECT * FROM daily_prices ORDER BY symbol, date"), conn)
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame


def test_writing_the_same_batch_twice_leaves_identical_rows(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    batch = _batch(pd.concat([bars("AAPL", DAYS), bars("BRK.B", DAYS, close=400.0)]))
    write_price_batch(engine, batch)
    first = _prices(engine)
    counts = write_price_batch(engine, batch)

    assert counts.bars == 6
    pd.testing.assert_frame_equal(first, _prices(engine))
    assert len(first) == 6
    assert first.loc[first["symbol"] == "BRK.B", "close"].tolist() == [400.0] * 3


def test_a_restated_bar_is_updated_not_duplicated(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    write_price_batch(engine, _batch(bars("AAPL", DAYS)))
    write_price_batch(engine, _batch(bars("AAPL", DAYS[:1], close=11.0)))

    prices = _prices(engine)
    assert len(prices) == 3
    assert prices.set_index("date").loc[DAYS[0], "close"] == 11.0


def test_nan_becomes_null(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    frame = bars("VFIAX", DAYS[:1], asset_class="mutual_fund").assign(volume=float("nan"))
    write_price_batch(engine, _batch(frame))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT volume FROM daily_prices")).scalar_one() is None


def test_a_failing_batch_leaves_nothing_of_itself(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    good = bars("AAPL", DAYS)
    broken_actions = pd.DataFrame(
        [{"symbol": "AAPL", "asset_class": "stock", "date": DAYS[0], "action": "bonus", "value": 1.0,
          "source": "yahoo", "fetched_at": FETCHED_AT}]
    )  # fmt: skip
    with pytest.raises(sa.exc.IntegrityError):
        write_price_batch(engine, _batch(good, actions=broken_actions))
    assert _prices(engine).empty


def test_a_frame_with_a_wrong_column_is_rejected_by_name(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    with pytest.raises(FrameContractError, match=r"missing columns \['adj_close'\]"):
        write_price_batch(engine, _batch(bars("AAPL", DAYS).drop(columns="adj_close")))


def test_a_frame_repeating_a_key_is_rejected(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    with pytest.raises(FrameContractError, match="repeat a primary key"):
        write_price_batch(engine, _batch(pd.concat([bars("AAPL", DAYS), bars("AAPL", DAYS[:1])])))


def test_symbol_status_counts_no_data_answers_in_a_row(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    now = datetime(2024, 12, 3, tzinfo=UTC)

    def status(value: str) -> pd.DataFrame:
        return pd.DataFrame(
            [{"symbol": "GONE", "asset_class": "stock", "status": value, "detail": "x", "checked_at": now}]
        )

    streaks = []
    for value in ("no_data", "no_data", "ok", "no_data"):
        write_price_batch(engine, _batch(bars("AAPL", DAYS[:1]), statuses=status(value)))
        with engine.connect() as conn:
            streaks.append(conn.execute(sa.text("SELECT consecutive_no_data FROM symbol_status")).scalar_one())
    assert streaks == [1, 2, 0, 1]


def test_listed_on_is_recorded_for_active_symbols(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), stocks("AAPL", "NEWCO"), seen_at=FETCHED_AT)
    listed = pd.DataFrame([{"symbol": "NEWCO", "asset_class": "stock", "listed_on": date(2024, 12, 3)}])
    write_price_batch(engine, replace(_batch(bars("AAPL", DAYS)), listed_on=listed))

    symbols = active_symbols(engine, ["stock"]).set_index("symbol")
    assert symbols.loc["NEWCO", "listed_on"] == date(2024, 12, 3)
    assert pd.isna(symbols.loc["AAPL", "listed_on"])
