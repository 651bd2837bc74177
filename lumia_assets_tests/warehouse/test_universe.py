"""Universe lifecycle: added, removed, reactivated, and the guard against a short download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.universe import UniverseShrinkError, sync_universe
from lumia_assets_tests.warehouse.frames import stocks

DAY_ONE = datetime(2016, 2, 18, 22, 0, tzinfo=UTC)
TICKERS = [f"T{i:02d}" for i in range(20)]


def _utc(value: datetime | str) -> datetime:
    """SQLite hands timestamps back naive (in UTC); PostgreSQL tz-aware."""
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).to_pydatetime()


def _active(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT symbol FROM assets WHERE active")).scalars())


def test_first_snapshot_adds_everything(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    changes = sync_universe(engine, "stock_universe", ("stock",), stocks(*TICKERS), seen_at=DAY_ONE)
    assert changes.added == TICKERS
    assert changes.removed == changes.reactivated == []
    assert changes.active_count == 20


def test_next_snapshot_removes_and_reactivates(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), stocks(*TICKERS), seen_at=DAY_ONE)
    gone = sync_universe(engine, "stock_universe", ("stock",), stocks(*TICKERS[1:], "NEW"), seen_at=DAY_ONE)
    back = sync_universe(engine, "stock_universe", ("stock",), stocks(*TICKERS, "NEW"), seen_at=DAY_ONE)

    assert (gone.added, gone.removed, gone.active_count) == (["NEW"], ["T00"], 20)
    assert (back.added, back.removed, back.reactivated, back.active_count) == ([], [], ["T00"], 21)
    assert _active(engine) == {*TICKERS, "NEW"}


def test_first_seen_is_kept_and_last_seen_moves(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), stocks("AAPL"), seen_at=DAY_ONE)
    sync_universe(engine, "stock_universe", ("stock",), stocks("AAPL"), seen_at=DAY_ONE + timedelta(days=1))
    with engine.connect() as conn:
        first, last = conn.execute(sa.text("SELECT first_seen, last_seen FROM assets")).one()
    assert _utc(first) == DAY_ONE
    assert _utc(last) == DAY_ONE + timedelta(days=1)


def test_other_asset_classes_are_not_touched(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "fund_universe", ("mutual_fund",), stocks("VFIAX", asset_class="mutual_fund").assign(
        fund_family="Vanguard", fund_type="Open End", category=None, cik=None, series_id=None, class_id=None
    ), seen_at=DAY_ONE)  # fmt: skip
    sync_universe(engine, "stock_universe", ("stock", "etf"), stocks("AAPL"), seen_at=DAY_ONE)
    assert _active(engine) == {"VFIAX", "AAPL"}


@pytest.mark.parametrize("kept", [TICKERS[:10], []])
def test_a_snapshot_that_would_gut_the_universe_is_refused_and_changes_nothing(warehouse_url: str, kept) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), stocks(*TICKERS), seen_at=DAY_ONE)
    with pytest.raises(UniverseShrinkError, match="stock_universe"):
        sync_universe(engine, "stock_universe", ("stock",), stocks(*kept), seen_at=DAY_ONE)
    assert _active(engine) == set(TICKERS)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM universe_snapshots")).scalar_one() == 1


def test_symbols_kept_because_their_source_was_down_stay_active(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), stocks(*TICKERS), seen_at=DAY_ONE)
    changes = sync_universe(
        engine, "stock_universe", ("stock",), stocks(*TICKERS[5:]), seen_at=DAY_ONE, keep=set(TICKERS[:5])
    )
    assert changes.removed == []
    assert _active(engine) == set(TICKERS)
