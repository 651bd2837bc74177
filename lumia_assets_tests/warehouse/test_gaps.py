"""Gap queries: missing cells against the expected dates, listing dates and known-missing symbols."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.gaps import missing_cells, partition_gaps
from lumia_assets.warehouse.store import PriceBatch, write_price_batch
from lumia_assets.warehouse.universe import sync_universe
from lumia_assets_tests.warehouse.frames import FETCHED_AT, bars, stocks

DAYS = [date(2024, 12, 2), date(2024, 12, 3), date(2024, 12, 4)]
NO_ACTIONS = pd.DataFrame(columns=["symbol", "asset_class", "date", "action", "value", "source", "fetched_at"])
NO_STATUS = pd.DataFrame(columns=["symbol", "asset_class", "status", "detail", "checked_at"])
NO_LISTING = pd.DataFrame(columns=["symbol", "asset_class", "listed_on"])


def _seed(warehouse_url: str, statuses: pd.DataFrame = NO_STATUS, listed_on: pd.DataFrame = NO_LISTING):
    engine = connect_warehouse(warehouse_url)
    sync_universe(engine, "stock_universe", ("stock",), stocks("AAPL", "MSFT", "NEWCO", "ZZZZ"), seen_at=FETCHED_AT)
    prices = pd.concat([bars("AAPL", DAYS), bars("MSFT", [DAYS[0], DAYS[2]]), bars("NEWCO", DAYS[2:])])
    write_price_batch(engine, PriceBatch(prices, NO_ACTIONS, statuses, listed_on))
    return engine


def test_partition_gaps_counts_expected_present_and_missing_per_date(warehouse_url: str) -> None:
    engine = _seed(warehouse_url)
    gaps = partition_gaps(engine, ["stock"], DAYS)
    assert gaps.to_dict("list") == {
        "date": DAYS,
        "expected": [4, 4, 4],
        "present": [2, 1, 3],
        "missing": [2, 3, 1],
    }


def test_missing_cells_lists_them(warehouse_url: str) -> None:
    engine = _seed(warehouse_url)
    cells = missing_cells(engine, ["stock"], DAYS)
    assert list(cells.itertuples(index=False, name=None)) == [
        ("NEWCO", "stock", DAYS[0]),
        ("ZZZZ", "stock", DAYS[0]),
        ("MSFT", "stock", DAYS[1]),
        ("NEWCO", "stock", DAYS[1]),
        ("ZZZZ", "stock", DAYS[1]),
        ("ZZZZ", "stock", DAYS[2]),
    ]
    assert len(missing_cells(engine, ["stock"], DAYS, limit=2)) == 2


def test_sessions_before_a_listing_and_unknown_symbols_are_not_gaps(warehouse_url: str) -> None:
    unknown = pd.DataFrame(
        [{"symbol": "ZZZZ", "asset_class": "stock", "status": "unknown_symbol", "detail": "404",
          "checked_at": datetime(2024, 12, 5, tzinfo=UTC)}]
    )  # fmt: skip
    listing = pd.DataFrame([{"symbol": "NEWCO", "asset_class": "stock", "listed_on": DAYS[2]}])
    engine = _seed(warehouse_url, statuses=unknown, listed_on=listing)

    assert partition_gaps(engine, ["stock"], DAYS)["missing"].tolist() == [0, 1, 0]
    assert list(missing_cells(engine, ["stock"], DAYS).itertuples(index=False, name=None)) == [
        ("MSFT", "stock", DAYS[1])
    ]


def test_a_date_with_nothing_expected_reports_zeros(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    assert partition_gaps(engine, ["crypto"], DAYS[:1]).to_dict("records") == [
        {"date": DAYS[0], "expected": 0, "present": 0, "missing": 0}
    ]
