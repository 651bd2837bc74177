"""Bulk upserts: idempotent, updating, all-or-nothing per batch, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.frames import CORPORATE_ACTION_COLUMNS
from lumia_assets.warehouse.contracts import FrameContractError
from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.store import (
    ACTIVE_SYMBOL_COLUMNS,
    PriceBatch,
    active_symbols,
    record_identity,
    record_symbol_status,
    upsert_corporate_actions,
    upsert_daily_prices,
    write_price_batch,
)
from lumia_assets.warehouse.universe import sync_universe
from lumia_assets_tests.warehouse.frames import DAYS, FETCHED_AT, actions, bars, identities, listings, statuses


def _table(engine: sa.Engine, name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {name} ORDER BY 1, 2, 3"), conn)


def _count(engine: sa.Engine, name: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()


def _as_utc(value: object) -> datetime:
    """SQLite hands timestamps back naive (stored in UTC); PostgreSQL tz-aware."""
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).to_pydatetime()


def test_writing_the_same_bars_twice_leaves_identical_rows(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    frame = pd.concat([bars("AAPL", DAYS), bars("BRK.B", DAYS, close=400.0)])
    assert upsert_daily_prices(engine, frame) == 6
    first = _table(engine, "daily_prices")
    assert upsert_daily_prices(engine, frame) == 6

    pd.testing.assert_frame_equal(first, _table(engine, "daily_prices"))
    assert len(first) == 6
    assert first.loc[first["symbol"] == "BRK.B", "close"].tolist() == [400.0] * 3


def test_a_restated_bar_is_updated_not_duplicated(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    upsert_daily_prices(engine, bars("AAPL", DAYS))
    upsert_daily_prices(engine, bars("AAPL", DAYS[:1], close=11.0).assign(source="ccxt"))

    prices = _table(engine, "daily_prices")
    assert prices["close"].tolist() == [11.0, 10.0, 10.0]
    assert prices["source"].tolist() == ["ccxt", "yahoo", "yahoo"]


def test_nan_is_stored_as_null(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    upsert_daily_prices(engine, bars("VFIAX", DAYS[:1], asset_class="mutual_fund").assign(volume=float("nan")))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT volume FROM daily_prices")).scalar_one() is None


def test_fetched_at_is_stored_as_the_same_instant_in_utc(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    new_york = datetime(2024, 12, 4, 20, 0, tzinfo=ZoneInfo("America/New_York"))
    upsert_daily_prices(engine, bars("AAPL", DAYS[:1]).assign(fetched_at=new_york))
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT fetched_at FROM daily_prices")).scalar_one()
    assert _as_utc(stored) == datetime(2024, 12, 5, 1, 0, tzinfo=UTC)


def test_a_null_close_mid_frame_leaves_nothing_of_the_frame(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    frame = bars("AAPL", DAYS)
    frame.loc[1, "close"] = float("nan")
    with pytest.raises(sa.exc.IntegrityError):
        upsert_daily_prices(engine, frame)
    assert _count(engine, "daily_prices") == 0


def test_corporate_actions_are_upserted_per_date_and_kind(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    upsert_corporate_actions(engine, actions("AAPL", (DAYS[0], "dividend", 0.24), (DAYS[0], "split", 4.0)))
    upsert_corporate_actions(engine, actions("AAPL", (DAYS[0], "dividend", 0.25)))

    stored = _table(engine, "corporate_actions").set_index("action")["value"].to_dict()
    assert stored == {"dividend": 0.25, "split": 4.0}


def test_symbol_status_counts_no_data_answers_in_a_row(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    streaks = []
    for status in ("no_data", "no_data", "error", "no_data", "ok", "no_data"):
        record_symbol_status(engine, statuses(status, "GONE"))
        with engine.connect() as conn:
            streaks.append(conn.execute(sa.text("SELECT consecutive_no_data FROM symbol_status")).scalar_one())
    assert streaks == [1, 2, 2, 3, 0, 1]


def test_symbol_status_keeps_the_latest_outcome(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    record_symbol_status(engine, statuses("no_data", "AAPL", "MSFT"))
    later = FETCHED_AT + timedelta(days=1)
    record_symbol_status(engine, statuses("unknown_symbol", "MSFT", checked_at=later))

    stored = _table(engine, "symbol_status").set_index("symbol")
    assert stored["status"].to_dict() == {"AAPL": "no_data", "MSFT": "unknown_symbol"}
    assert _as_utc(stored.loc["MSFT", "checked_at"]) == later


def test_a_batch_is_one_transaction_so_a_bad_part_leaves_none_of_it(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    batch = PriceBatch(
        bars=bars("AAPL", DAYS),
        actions=actions("AAPL", (DAYS[0], "dividend", 0.24)),
        statuses=statuses("ok", "AAPL"),
        identities=pd.DataFrame([{"symbol": "AAPL", "asset_class": "stock", "name": "Apple"}]),
    )
    with pytest.raises(FrameContractError, match=r"assets: .*missing columns \['listed_on'\]"):
        write_price_batch(engine, batch)
    assert [_count(engine, t) for t in ("daily_prices", "corporate_actions", "symbol_status")] == [0, 0, 0]


def test_a_batch_writes_all_its_parts(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), listings("AAPL"), seen_at=FETCHED_AT)
    batch = PriceBatch(
        bars=bars("AAPL", DAYS),
        actions=pd.DataFrame(columns=list(CORPORATE_ACTION_COLUMNS)),
        statuses=statuses("ok", "AAPL"),
        identities=identities(("AAPL", date(1980, 12, 12), None)),
    )
    counts = write_price_batch(engine, batch)
    assert (counts.bars, counts.actions, counts.statuses, counts.identities) == (3, 0, 1, 1)
    assert active_symbols(engine, ["stock"])["listed_on"].tolist() == [date(1980, 12, 12)]


def test_active_symbols_lists_only_active_rows_of_the_asked_classes(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock", "etf"), pd.concat([
        listings(*(f"S{i}" for i in range(6))), listings("SPY", asset_class="etf")
    ]), seen_at=FETCHED_AT)  # fmt: skip
    sync_universe(engine, "stock_universe", ("stock", "etf"), pd.concat([
        listings(*(f"S{i}" for i in range(5))), listings("SPY", asset_class="etf")
    ]), seen_at=FETCHED_AT)  # fmt: skip
    record_identity(engine, identities(("S1", DAYS[1], None)))

    symbols = active_symbols(engine, ["stock"])
    assert list(symbols.columns) == list(ACTIVE_SYMBOL_COLUMNS)
    assert symbols["symbol"].tolist() == ["S0", "S1", "S2", "S3", "S4"]
    assert symbols.set_index("symbol").loc["S1", "listed_on"] == DAYS[1]
    assert pd.isna(symbols.set_index("symbol").loc["S0", "listed_on"])
    assert active_symbols(engine, ["etf", "crypto"])["symbol"].tolist() == ["SPY"]


def test_listed_on_only_moves_earlier_and_a_name_fills_only_a_missing_one(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), listings("OLD", "NEW").assign(name=["Old Co", None]),
                  seen_at=FETCHED_AT)  # fmt: skip
    record_identity(engine, identities(("OLD", DAYS[1], "Renamed Co"), ("NEW", None, "New Co")))
    record_identity(engine, identities(("OLD", DAYS[2], None), ("NEW", DAYS[2], "Other Name")))
    record_identity(engine, identities(("OLD", DAYS[0], None)))

    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT symbol, listed_on, name FROM assets ORDER BY symbol")).all()
    assert [(r.symbol, pd.Timestamp(r.listed_on).date(), r.name) for r in rows] == [
        ("NEW", DAYS[2], "New Co"),
        ("OLD", DAYS[0], "Old Co"),
    ]
