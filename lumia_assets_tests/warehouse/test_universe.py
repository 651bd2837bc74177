"""Universe lifecycle: added, removed, reactivated, class details, snapshots, and the guard against a short download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.warehouse.contracts import FrameContractError
from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.store import record_symbol_status
from lumia_assets.warehouse.universe import UniverseShrinkError, sync_universe
from lumia_assets_tests.warehouse.frames import listings, statuses

DAY_ONE = datetime(2016, 2, 18, 22, 0, tzinfo=UTC)
TICKERS = [f"T{i:02d}" for i in range(20)]


def _utc(value: object) -> datetime:
    """SQLite hands timestamps back naive (stored in UTC); PostgreSQL tz-aware."""
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).to_pydatetime()


def _active(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT symbol FROM assets WHERE active")).scalars())


def _snapshots(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        query = "SELECT universe, active_count, added, removed, reactivated FROM universe_snapshots ORDER BY id"
        return [tuple(row) for row in conn.execute(sa.text(query))]


def _funds(*symbols: str) -> pd.DataFrame:
    return listings(*symbols, asset_class="mutual_fund").assign(
        fund_family="Vanguard", fund_type="N-1A", category=None, cik="0000036405", series_id=None, class_id=None
    )


def test_first_snapshot_adds_everything(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    changes = sync_universe(engine, "stock_universe", ("stock",), listings(*TICKERS), seen_at=DAY_ONE)
    assert changes.added == TICKERS
    assert changes.removed == changes.reactivated == []
    assert changes.active_count == 20


def test_next_snapshots_remove_and_reactivate_and_each_is_recorded(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), listings(*TICKERS), seen_at=DAY_ONE)
    gone = sync_universe(engine, "stock_universe", ("stock",), listings(*TICKERS[1:], "NEW"), seen_at=DAY_ONE)
    back = sync_universe(engine, "stock_universe", ("stock",), listings(*TICKERS, "NEW"), seen_at=DAY_ONE)

    assert (gone.added, gone.removed, gone.active_count) == (["NEW"], ["T00"], 20)
    assert (back.added, back.removed, back.reactivated, back.active_count) == ([], [], ["T00"], 21)
    assert _active(engine) == {*TICKERS, "NEW"}
    assert _snapshots(engine) == [
        ("stock_universe", 20, 20, 0, 0),
        ("stock_universe", 20, 1, 1, 0),
        ("stock_universe", 21, 0, 0, 1),
    ]


def test_first_seen_is_kept_and_last_seen_moves(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), listings("AAPL"), seen_at=DAY_ONE)
    sync_universe(engine, "stock_universe", ("stock",), listings("AAPL"), seen_at=DAY_ONE + timedelta(days=1))
    with engine.connect() as conn:
        first, last = conn.execute(sa.text("SELECT first_seen, last_seen FROM assets")).one()
    assert _utc(first) == DAY_ONE
    assert _utc(last) == DAY_ONE + timedelta(days=1)


def test_class_details_land_in_their_table_and_follow_renames(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "fund_universe", ("mutual_fund",), _funds("VFIAX"), seen_at=DAY_ONE)
    sync_universe(engine, "fund_universe", ("mutual_fund",), _funds("VFIAX").assign(category="Large Blend",
                  name="Vanguard 500 Index Admiral"), seen_at=DAY_ONE)  # fmt: skip
    with engine.connect() as conn:
        detail = conn.execute(sa.text("SELECT asset_class, fund_family, category FROM mutual_fund")).one()
        name = conn.execute(sa.text("SELECT name FROM assets")).scalar_one()
    assert tuple(detail) == ("mutual_fund", "Vanguard", "Large Blend")
    assert name == "Vanguard 500 Index Admiral"


def test_other_asset_classes_are_not_touched(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "fund_universe", ("mutual_fund",), _funds("VFIAX"), seen_at=DAY_ONE)
    sync_universe(engine, "stock_universe", ("stock", "etf"), listings("AAPL"), seen_at=DAY_ONE)
    assert _active(engine) == {"VFIAX", "AAPL"}


@pytest.mark.parametrize(
    ("short_listing", "message"),
    [(listings(*TICKERS[:15], "NEW"), "lacks 5 of 20"), (listings(), "snapshot is empty")],
    ids=["a quarter gone", "empty"],
)
def test_a_snapshot_that_would_gut_the_universe_is_refused_and_changes_nothing(
    warehouse_url: str, short_listing: pd.DataFrame, message: str
) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), listings(*TICKERS), seen_at=DAY_ONE)
    with pytest.raises(UniverseShrinkError, match=f"stock_universe: .*{message}"):
        sync_universe(engine, "stock_universe", ("stock",), short_listing, seen_at=DAY_ONE)
    assert _active(engine) == set(TICKERS)
    assert len(_snapshots(engine)) == 1


def test_removing_up_to_the_allowed_fraction_is_accepted(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), listings(*TICKERS), seen_at=DAY_ONE)
    changes = sync_universe(engine, "stock_universe", ("stock",), listings(*TICKERS[4:]), seen_at=DAY_ONE)
    assert changes.removed == TICKERS[:4]


def test_symbols_kept_because_their_source_was_down_stay_active(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), listings(*TICKERS), seen_at=DAY_ONE)
    changes = sync_universe(
        engine, "stock_universe", ("stock",), listings(*TICKERS[5:]), seen_at=DAY_ONE, keep=set(TICKERS[:5])
    )
    assert changes.removed == []
    assert _active(engine) == set(TICKERS)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (listings("AAPL").drop(columns="currency"), r"lacks columns \['currency'\]"),
        (_funds("VFIAX").rename(columns={"fund_family": "family"}), r"unexpected \['family'\]"),
        (listings("SPY", asset_class="etf"), r"asset classes \['etf'\], expected \['mutual_fund'\]"),
        (listings("VFIAX", asset_class="mutual_fund"), r"mutual_fund rows need the detail columns \['category'"),
    ],
)
def test_a_malformed_snapshot_is_rejected_naming_the_fault(warehouse_url: str, frame, message: str) -> None:
    engine = connect_warehouse(warehouse_url)
    with pytest.raises(FrameContractError, match=message):
        sync_universe(engine, "fund_universe", ("mutual_fund",), frame, seen_at=DAY_ONE)
    assert _snapshots(engine) == []


def test_a_naive_seen_at_is_rejected(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    with pytest.raises(ValueError, match="must be tz-aware"):
        sync_universe(engine, "stock_universe", ("stock",), listings("AAPL"), seen_at=datetime(2016, 2, 18))


def test_one_bad_day_never_delists_and_n_runs_in_a_row_do(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync = partial(sync_universe, engine, "stock_universe", ("stock",), seen_at=DAY_ONE, absent_runs_to_remove=3)
    sync(listings(*TICKERS))
    first, second = sync(listings(*TICKERS[1:])), sync(listings(*TICKERS[1:]))
    back = sync(listings(*TICKERS))  # it came back: the count starts again
    misses = [sync(listings(*TICKERS[1:])) for _ in range(3)]

    assert (first.absent, first.removed, second.absent, second.removed) == (["T00"], [], ["T00"], [])
    assert (back.reactivated, back.absent) == ([], [])
    assert [(m.absent, m.removed) for m in misses] == [(["T00"], []), (["T00"], []), ([], ["T00"])]
    assert "T00" not in _active(engine)


def test_a_fund_that_changes_ticker_is_reported_as_a_rename(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    funds = [f"F{i:02d}X" for i in range(10)]
    classes = [f"C{i:06d}" for i in range(10)]
    sync_universe(engine, "fund_universe", ("mutual_fund",), _funds(*funds).assign(class_id=classes), seen_at=DAY_ONE)
    renamed = _funds(*funds[1:], "NEWX").assign(class_id=[*classes[1:], classes[0]])
    changes = sync_universe(engine, "fund_universe", ("mutual_fund",), renamed, seen_at=DAY_ONE)
    assert changes.renamed == [("F00X", "NEWX")]
    assert changes.added == ["NEWX"]


def test_a_listed_symbol_answering_no_data_for_long_is_retired_and_one_bad_answer_never(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), listings(*TICKERS), seen_at=DAY_ONE)
    record_symbol_status(engine, statuses("no_data", "T00", "T01", checked_at=DAY_ONE))
    record_symbol_status(engine, statuses("no_data", "T00", checked_at=DAY_ONE + timedelta(days=20)))
    record_symbol_status(engine, statuses("ok", "T01", checked_at=DAY_ONE + timedelta(days=20)))
    sync = partial(sync_universe, engine, "stock_universe", ("stock",), listings(*TICKERS), seen_at=DAY_ONE)

    early = sync(no_data_before=DAY_ONE.date() - timedelta(days=1))
    late = sync(no_data_before=DAY_ONE.date() + timedelta(days=14))
    again = sync(no_data_before=DAY_ONE.date() + timedelta(days=14))

    assert (early.retired, late.retired, again.retired, again.reactivated) == ([], ["T00"], [], [])
    assert _active(engine) == set(TICKERS) - {"T00"}


def test_a_retired_symbol_not_asked_for_a_while_is_asked_again_and_stays_if_it_trades(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    sync = partial(sync_universe, engine, "stock_universe", ("stock",), listings(*TICKERS), seen_at=DAY_ONE)
    sync()
    record_symbol_status(engine, statuses("no_data", "T00", "T01", checked_at=DAY_ONE))
    long_after = DAY_ONE.date() + timedelta(days=14)
    assert sync(no_data_before=long_after).retired == ["T00", "T01"]
    week = DAY_ONE + timedelta(days=7)

    assert sync(no_data_before=long_after, reprobe_before=DAY_ONE).reprobed == []  # asked recently: stays retired
    record_symbol_status(engine, statuses("no_data", "T01", checked_at=DAY_ONE + timedelta(hours=1)))
    first = sync(no_data_before=long_after, reprobe_before=week, reprobe_limit=1)  # the longest unasked first
    assert (first.reprobed, first.retired) == (["T00"], [])
    back = sync(no_data_before=long_after, reprobe_before=week)
    assert (back.reprobed, back.reactivated, back.retired) == (["T01"], [], [])
    assert {"T00", "T01"} <= _active(engine)  # the next price run asks them once more

    record_symbol_status(engine, statuses("no_data", "T00", checked_at=week))
    record_symbol_status(engine, statuses("ok", "T01", checked_at=week))  # it trades again
    later = sync(no_data_before=long_after, reprobe_before=week)
    assert (later.retired, later.reprobed) == (["T00"], [])
    assert _active(engine) == set(TICKERS) - {"T00"}
