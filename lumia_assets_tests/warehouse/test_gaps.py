"""Gap queries: missing cells against the expected dates, listing dates and symbols the upstream does not know."""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa

from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.gaps import GAP_COLUMNS, missing_cells, partition_gaps
from lumia_assets.warehouse.store import record_identity, record_symbol_status, upsert_daily_prices
from lumia_assets.warehouse.universe import sync_universe
from lumia_assets_tests.warehouse.frames import DAYS, FETCHED_AT, bars, identities, listings, statuses


def _seed(warehouse_url: str) -> sa.Engine:
    """AAPL has every bar, MSFT misses the middle day, NEWCO has only the last, ZZZZ none; SPY (an ETF) all."""
    engine = connect_warehouse(warehouse_url)
    universe = pd.concat([listings("AAPL", "MSFT", "NEWCO", "ZZZZ"), listings("SPY", asset_class="etf")])
    sync_universe(engine, "stock_universe", ("stock", "etf"), universe, seen_at=FETCHED_AT)
    upsert_daily_prices(
        engine,
        pd.concat(
            [
                bars("AAPL", DAYS),
                bars("MSFT", [DAYS[0], DAYS[2]]),
                bars("NEWCO", DAYS[2:]),
                bars("SPY", DAYS, asset_class="etf"),
            ]
        ),
    )
    return engine


def _cells(frame: pd.DataFrame) -> list[tuple]:
    return list(frame.itertuples(index=False, name=None))


def test_partition_gaps_counts_expected_present_and_missing_per_date(warehouse_url: str) -> None:
    gaps = partition_gaps(_seed(warehouse_url), ["stock"], list(reversed(DAYS)))
    assert gaps.to_dict("list") == {
        "date": DAYS,
        "expected": [4, 4, 4],
        "present": [2, 1, 3],
        "missing": [2, 3, 1],
    }


def test_missing_cells_lists_them_by_date_then_symbol_up_to_a_limit(warehouse_url: str) -> None:
    engine = _seed(warehouse_url)
    assert _cells(missing_cells(engine, ["stock", "etf"], DAYS)) == [
        ("NEWCO", "stock", DAYS[0]),
        ("ZZZZ", "stock", DAYS[0]),
        ("MSFT", "stock", DAYS[1]),
        ("NEWCO", "stock", DAYS[1]),
        ("ZZZZ", "stock", DAYS[1]),
        ("ZZZZ", "stock", DAYS[2]),
    ]
    assert _cells(missing_cells(engine, ["stock"], DAYS, limit=2)) == [
        ("NEWCO", "stock", DAYS[0]),
        ("ZZZZ", "stock", DAYS[0]),
    ]


def test_sessions_before_a_listing_and_symbols_the_upstream_does_not_know_are_not_gaps(warehouse_url: str) -> None:
    engine = _seed(warehouse_url)
    record_identity(engine, identities(("NEWCO", DAYS[2], None)))
    record_symbol_status(engine, statuses("unknown_symbol", "ZZZZ"))

    assert partition_gaps(engine, ["stock"], DAYS)["missing"].tolist() == [0, 1, 0]
    assert _cells(missing_cells(engine, ["stock"], DAYS)) == [("MSFT", "stock", DAYS[1])]


def test_a_symbol_that_merely_had_no_data_is_still_a_gap(warehouse_url: str) -> None:
    engine = _seed(warehouse_url)
    record_symbol_status(engine, statuses("no_data", "ZZZZ"))
    assert partition_gaps(engine, ["stock"], DAYS)["missing"].tolist() == [2, 3, 1]


def test_inactive_symbols_are_not_expected(warehouse_url: str) -> None:
    engine = _seed(warehouse_url)
    still_listed = pd.concat([listings("AAPL", "MSFT", "NEWCO"), listings("SPY", asset_class="etf")])
    sync_universe(engine, "stock_universe", ("stock", "etf"), still_listed, seen_at=FETCHED_AT)
    assert partition_gaps(engine, ["stock"], DAYS)["expected"].tolist() == [3, 3, 3]


def test_bars_no_cell_expects_neither_count_as_present_nor_hide_a_gap(warehouse_url: str) -> None:
    engine = _seed(warehouse_url)
    record_identity(engine, identities(("NEWCO", DAYS[2], None)))  # its bar of DAYS[0] predates the listing
    upsert_daily_prices(
        engine,
        pd.concat(
            [
                bars("ZZZZ", DAYS[1:2]),  # between the dates asked about, not one of them
                bars("NEWCO", DAYS[:1]),
                bars("ZZZZ", DAYS[:1], asset_class="etf"),  # another class
                bars("GONE", DAYS),  # no instrument
            ]
        ),
    )
    gaps = partition_gaps(engine, ["stock"], [DAYS[0], DAYS[2]])
    assert gaps.to_dict("list") == {
        "date": [DAYS[0], DAYS[2]],
        "expected": [3, 4],
        "present": [2, 3],
        "missing": [1, 1],
    }
    assert _cells(missing_cells(engine, ["stock"], [DAYS[0], DAYS[2]])) == [
        ("ZZZZ", "stock", DAYS[0]),
        ("ZZZZ", "stock", DAYS[2]),
    ]


def test_a_date_with_nothing_expected_reports_zeros(warehouse_url: str) -> None:
    engine = _seed(warehouse_url)
    assert partition_gaps(engine, ["crypto"], [date(2024, 12, 7)]).to_dict("records") == [
        {"date": date(2024, 12, 7), "expected": 0, "present": 0, "missing": 0}
    ]


def test_no_dates_means_no_rows(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    assert list(partition_gaps(engine, ["stock"], []).columns) == list(GAP_COLUMNS)
    assert missing_cells(engine, ["stock"], []).empty


def test_a_bar_from_a_provisional_source_counts_as_present_but_is_still_a_cell_to_repair(warehouse_url: str) -> None:
    engine = _seed(warehouse_url)
    upsert_daily_prices(engine, bars("ZZZZ", DAYS[:1]).assign(source="fallback"))  # stood in for the own source

    assert ("ZZZZ", "stock", DAYS[0]) not in _cells(missing_cells(engine, ["stock"], DAYS))
    assert partition_gaps(engine, ["stock"], DAYS)["present"].tolist() == [3, 1, 3]
    to_repair = _cells(missing_cells(engine, ["stock"], DAYS, provisional=("fallback",)))
    assert to_repair == [("NEWCO", "stock", DAYS[0]), ("ZZZZ", "stock", DAYS[0]), *_cells(
        missing_cells(engine, ["stock"], DAYS[1:]))]  # fmt: skip
