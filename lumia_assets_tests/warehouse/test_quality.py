"""Data-quality checks: each passes on clean data and fails with a sample a person can act on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.quality import (
    LAG_LOOKBACK,
    adjustment_consistency,
    cross_source_disagreement,
    duplicate_prices,
    duplicate_symbols,
    missing_names,
    missing_required_fields,
    ohlc_sanity,
    price_coverage,
    unexplained_jumps,
    universe_bounds,
)
from lumia_assets.warehouse.schema import assets, crypto, daily_prices, universe_snapshots
from lumia_assets.warehouse.store import PriceBatch, upsert_corporate_actions, upsert_daily_prices, write_price_batch
from lumia_assets.warehouse.universe import sync_universe
from lumia_assets_tests.warehouse.frames import DAYS, FETCHED_AT, actions, bars, identities, listings, statuses

ISO = [day.isoformat() for day in DAYS]


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[sa.Engine]:
    engine = connect_warehouse(warehouse_url)
    yield engine
    engine.dispose()


@pytest.fixture
def unkeyed(engine: sa.Engine) -> Iterator[sa.Table]:
    """A copy of ``daily_prices`` without its key and NOT NULLs: what a bad restore or staging table looks like."""
    table = sa.Table("daily_prices_unkeyed", sa.MetaData(), *(sa.Column(c.name, c.type) for c in daily_prices.c))
    table.create(engine)
    yield table
    table.drop(engine)


def _series(symbol: str, closes: Sequence[float], adj_closes: Sequence[float] | None = None) -> pd.DataFrame:
    """One bar per day of ``DAYS`` with these closes (and adjusted closes, default 0.99 x close)."""
    frame = pd.concat([bars(symbol, [day], close) for day, close in zip(DAYS, closes, strict=True)])
    return frame if adj_closes is None else frame.assign(adj_close=list(adj_closes))


def _bar(**changes: object) -> dict[str, object]:
    return {**bars("AAPL", DAYS[:1]).iloc[0].to_dict(), "date": DAYS[0], **changes}


def _seed_clean(engine: sa.Engine) -> None:
    universe = pd.concat([listings("AAPL", "MSFT"), listings("SPY", asset_class="etf")])
    sync_universe(engine, "stock_universe", ("stock", "etf"), universe, seen_at=FETCHED_AT)
    upsert_daily_prices(engine, pd.concat([bars("AAPL", DAYS), bars("MSFT", DAYS), bars("SPY", DAYS, 20, "etf")]))


def test_every_check_passes_on_clean_data(engine: sa.Engine) -> None:
    _seed_clean(engine)
    results = {
        "ohlc": ohlc_sanity(engine),
        "duplicates": duplicate_prices(engine, ["stock", "etf"], (DAYS[0], DAYS[2])),
        "coverage": price_coverage(engine, ["stock", "etf"], DAYS),
        "jumps": unexplained_jumps(engine),
        "adjustment": adjustment_consistency(engine),
        "universe": universe_bounds(engine, "stock_universe", min_rows=3),
        "symbols": duplicate_symbols(engine),
        "fields": missing_required_fields(engine),
    }
    assert {name: (r.passed, r.failing) for name, r in results.items()} == {name: (True, 0) for name in results}
    assert [name for name, r in results.items() if r.sample] == ["universe"]
    assert {name: r.checked for name, r in results.items()} == {
        "ohlc": 9,
        "duplicates": 9,
        "coverage": 3,
        "jumps": 6,
        "adjustment": 9,
        "universe": 1,
        "symbols": 3,
        "fields": 3,
    }


def test_ohlc_sanity_names_the_broken_rule_of_each_bar_within_the_window(engine: sa.Engine) -> None:
    upsert_daily_prices(
        engine,
        pd.concat(
            [
                bars("AAPL", DAYS[:1]).assign(high=8.0, low=9.0),
                bars("MSFT", DAYS[1:2]).assign(volume=-5.0),
                bars("NVDA", DAYS[2:]).assign(open=0.0),
                bars("GOOD", DAYS),
                bars("ROUNDED", DAYS[:1]).assign(close=11.000001, high=11.0),
            ]
        ),
    )
    result = ohlc_sanity(engine)
    assert (result.passed, result.failing, result.checked) == (False, 3, 7)
    assert [(r["symbol"], r["date"], r["reason"]) for r in result.sample] == [
        ("AAPL", ISO[0], "low > high"),
        ("MSFT", ISO[1], "volume < 0"),
        ("NVDA", ISO[2], "price <= 0"),
    ]
    assert result.sample[0] | {"open": 10.0, "high": 8.0, "low": 9.0, "close": 10.0} == result.sample[0]
    assert ohlc_sanity(engine, window=(DAYS[1], DAYS[2]), sample_size=1).sample[0]["symbol"] == "MSFT"
    assert ohlc_sanity(engine, tolerance=0).failing == 4
    assert ohlc_sanity(engine, asset_classes=["etf"]).checked == 0


def test_ohlc_sanity_flags_a_nan_or_null_close_on_both_backends(engine: sa.Engine, unkeyed: sa.Table) -> None:
    with engine.begin() as conn:
        conn.execute(
            unkeyed.insert(), [_bar(symbol="NAN", close=float("nan")), _bar(symbol="NULL", close=None), _bar()]
        )
    result = ohlc_sanity(engine, table=unkeyed)
    assert (result.failing, result.checked) == (2, 3)
    assert [(r["symbol"], r["close"], r["reason"]) for r in result.sample] == [
        ("NAN", None, "close missing"),
        ("NULL", None, "close missing"),
    ]


def test_ohlc_sanity_since_looks_only_at_the_bars_written_since_then(engine: sa.Engine) -> None:
    later = FETCHED_AT + timedelta(days=1)
    upsert_daily_prices(
        engine,
        pd.concat(
            [
                bars("OLD", DAYS[:1]).assign(high=8.0, low=9.0),  # broken, but checked when it was written
                bars("NEW", DAYS[:1]).assign(high=8.0, low=9.0, fetched_at=later),
                bars("GOOD", DAYS).assign(fetched_at=later),
            ]
        ),
    )
    result = ohlc_sanity(engine, since=later)
    assert (result.passed, result.failing, result.checked) == (False, 1, 4)
    assert [(r["symbol"], r["reason"]) for r in result.sample] == [("NEW", "low > high")]
    assert ohlc_sanity(engine, since=later.astimezone(ZoneInfo("America/New_York"))).checked == 4
    assert ohlc_sanity(engine, since=later.replace(tzinfo=None)).checked == 4  # naive: UTC
    assert ohlc_sanity(engine, since=later + timedelta(seconds=1)).checked == 0
    assert ohlc_sanity(engine, ["etf"], since=FETCHED_AT).checked == 0
    assert ohlc_sanity(engine).failing == 2  # without since: every bar


def test_duplicate_prices_counts_the_rows_of_a_table_whose_key_forbids_duplicates(engine: sa.Engine) -> None:
    _seed_clean(engine)
    result = duplicate_prices(engine, ["stock"], (DAYS[1], DAYS[2]))
    assert (result.passed, result.failing, result.checked, result.sample) == (True, 0, 4, [])
    assert result.detail == "0 of 4 price keys are stored more than once (the table's primary key forbids it)"
    assert duplicate_prices(engine).checked == 9


def test_duplicate_prices_finds_a_key_stored_twice(engine: sa.Engine, unkeyed: sa.Table) -> None:
    with engine.begin() as conn:
        conn.execute(unkeyed.insert(), [_bar(), _bar(close=10.5), _bar(date=DAYS[1])])
    result = duplicate_prices(engine, table=unkeyed)
    assert (result.passed, result.failing, result.checked) == (False, 1, 2)
    assert result.sample == [{"symbol": "AAPL", "asset_class": "stock", "date": ISO[0], "copies": 2}]
    assert duplicate_prices(engine, window=(DAYS[1], DAYS[2]), table=unkeyed).passed


def test_duplicate_prices_groups_the_keys_again_once_the_live_table_lost_its_primary_key(engine: sa.Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite cannot drop a primary key")
    _seed_clean(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE daily_prices DROP CONSTRAINT pk_daily_prices"))
        conn.execute(daily_prices.insert(), [_bar(close=10.5)])
    try:
        result = duplicate_prices(engine, ["stock"])
        assert (result.passed, result.failing, result.checked) == (False, 1, 6)
        assert result.sample == [{"symbol": "AAPL", "asset_class": "stock", "date": ISO[0], "copies": 2}]
    finally:
        with engine.begin() as conn:
            conn.execute(daily_prices.delete().where(daily_prices.c.close == 10.5))
            conn.execute(
                sa.text(
                    "ALTER TABLE daily_prices ADD CONSTRAINT pk_daily_prices PRIMARY KEY (symbol, asset_class, date)"
                )
            )


def test_price_coverage_lists_the_worst_dates_and_some_missing_symbols(engine: sa.Engine) -> None:
    sync_universe(engine, "stock_universe", ("stock",), listings("AAPL", "MSFT", "NEWCO", "ZZZZ"), seen_at=FETCHED_AT)
    upsert_daily_prices(
        engine, pd.concat([bars("AAPL", DAYS), bars("MSFT", [DAYS[0], DAYS[2]]), bars("NEWCO", DAYS[2:])])
    )

    result = price_coverage(engine, ["stock"], DAYS)
    assert (result.passed, result.failing, result.checked) == (False, 3, 3)
    assert result.sample == [
        {"date": ISO[1], "expected": 4, "present": 1, "missing": 3, "coverage": 0.25,
         "missing_symbols": ["MSFT", "NEWCO", "ZZZZ"]},
        {"date": ISO[0], "expected": 4, "present": 2, "missing": 2, "coverage": 0.5,
         "missing_symbols": ["NEWCO", "ZZZZ"]},
        {"date": ISO[2], "expected": 4, "present": 3, "missing": 1, "coverage": 0.75, "missing_symbols": ["ZZZZ"]},
    ]  # fmt: skip
    assert price_coverage(engine, ["stock"], DAYS, threshold=0.6).failing == 2
    assert price_coverage(engine, ["stock"], DAYS, threshold=0.25).passed


def test_unexplained_jumps_flags_a_move_without_action_but_not_one_explained_by_a_split(engine: sa.Engine) -> None:
    upsert_daily_prices(
        engine,
        pd.concat([_series("JUMP", [10, 10, 13]), _series("SPLIT", [10, 10, 5]), _series("CALM", [10, 10, 10.5])]),
    )
    upsert_corporate_actions(engine, actions("SPLIT", (DAYS[2], "split", 2.0)))

    result = unexplained_jumps(engine)
    assert (result.passed, result.failing, result.checked) == (False, 1, 6)
    [jump] = result.sample
    assert (jump["symbol"], jump["date"], jump["prev_date"], jump["prev_close"], jump["close"]) == (
        "JUMP", ISO[2], ISO[1], 10.0, 13.0
    )  # fmt: skip
    assert jump["change"] == pytest.approx(0.3)
    in_window = unexplained_jumps(engine, window=(DAYS[2], DAYS[2]))
    assert (in_window.failing, in_window.checked) == (1, 3)
    assert unexplained_jumps(engine, threshold=0.35).passed


def test_unexplained_jumps_pairs_a_window_s_first_bar_with_the_last_one_before_it(engine: sa.Engine) -> None:
    start = DAYS[1]
    upsert_daily_prices(
        engine,
        pd.concat(
            [
                _series("EDGE", [10, 13, 13]),  # the jump is on the window's first day, from the bar before it
                _series("INSIDE", [10, 10, 13]),  # the jump is inside the window
                bars("NEAR", [start - LAG_LOOKBACK], 10.0),  # as far back as the lookback reaches
                bars("NEAR", DAYS[2:], 13.0),
                bars("FAR", [start - LAG_LOOKBACK - timedelta(days=1)], 10.0),  # beyond it: no previous bar
                bars("FAR", DAYS[2:], 13.0),
            ]
        ),
    )
    result = unexplained_jumps(engine, window=(start, DAYS[2]))
    assert (result.failing, result.checked) == (3, 5)
    assert [(r["symbol"], r["date"], r["prev_date"], r["prev_close"]) for r in result.sample] == [
        ("EDGE", ISO[1], ISO[0], 10.0),
        ("INSIDE", ISO[2], ISO[1], 10.0),
        ("NEAR", ISO[2], (start - LAG_LOOKBACK).isoformat(), 10.0),
    ]


def test_a_split_explains_only_its_own_jump(engine: sa.Engine) -> None:
    upsert_daily_prices(engine, pd.concat([_series("TWO", [10, 10, 5]), _series("THREE", [10, 10, 5])]))
    upsert_corporate_actions(engine, pd.concat([actions("TWO", (DAYS[2], "split", 2.0)),
                                                actions("THREE", (DAYS[2], "split", 3.0))]))  # fmt: skip
    result = unexplained_jumps(engine)
    assert [(r["symbol"], r["split_ratio"], r["change"]) for r in result.sample] == [("THREE", 3.0, pytest.approx(0.5))]


def test_unexplained_jumps_accepts_an_action_dated_between_two_bars_only(engine: sa.Engine) -> None:
    frame = _series("GAP", [10, 10, 20])
    upsert_daily_prices(engine, frame[frame["date"] != DAYS[1]])
    upsert_corporate_actions(engine, actions("GAP", (DAYS[0], "split", 0.5)))
    assert unexplained_jumps(engine).failing == 1
    upsert_corporate_actions(engine, actions("GAP", (DAYS[1], "split", 0.5)))
    assert unexplained_jumps(engine).passed


def _witnessed(symbol: str, closes: Sequence[float], served: Sequence[float | None], as_of: date) -> pd.DataFrame:
    """As-traded bars of ``DAYS`` with the adjusted closes the upstream served as of ``as_of``."""
    return _series(symbol, closes).assign(served_adj_close=list(served), served_as_of=as_of)


def test_adjustment_consistency_compares_the_served_close_with_the_derived_one_as_of_its_fetch(engine) -> None:
    bars = pd.concat([
        _witnessed("PAID", [100, 100, 100], [99, 100, 100], DAYS[2]),
        _witnessed("OVERPAID", [100, 100, 100], [99, 100, 100], DAYS[2]),
        _witnessed("BEFORE_EX", [100, 100, 100], [100, None, None], DAYS[0]),
        _witnessed("SPLIT", [100, 100, 50], [50, 50, 50], DAYS[2]),
    ])  # fmt: skip
    paid = pd.concat([
        actions("PAID", (DAYS[1], "dividend", 1.0)),
        actions("OVERPAID", (DAYS[1], "dividend", 5.0)),
        actions("BEFORE_EX", (DAYS[1], "dividend", 1.0)),
        actions("SPLIT", (DAYS[2], "split", 2.0)),
    ])  # fmt: skip
    write_price_batch(engine, PriceBatch(bars, paid, statuses("ok"), identities()))

    result = adjustment_consistency(engine)
    assert (result.passed, result.failing, result.checked) == (False, 1, 10)
    [overpaid] = result.sample
    assert (overpaid["symbol"], overpaid["date"], overpaid["served_adj_close"]) == ("OVERPAID", ISO[0], 99.0)
    assert overpaid["derived_adj_close"] == pytest.approx(95.0)
    assert adjustment_consistency(engine, tolerance=0.05).passed
    assert adjustment_consistency(engine, window=(DAYS[1], DAYS[2])).passed


def _snapshot(engine: sa.Engine, taken_at: datetime, active: int, removed: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            universe_snapshots.insert().values(
                universe="stock_universe",
                taken_at=taken_at,
                active_count=active,
                added=0,
                removed=removed,
                reactivated=0,
            )
        )


def test_universe_bounds_fails_on_a_big_drop_or_too_few_rows(engine: sa.Engine) -> None:
    assert (universe_bounds(engine, "stock_universe", min_rows=1).passed, "no snapshot") == (False, "no snapshot")
    _snapshot(engine, FETCHED_AT, 100, 0)
    _snapshot(engine, FETCHED_AT + timedelta(days=1), 60, 40)

    result = universe_bounds(engine, "stock_universe", min_rows=50)
    assert (result.passed, result.failing, result.checked) == (False, 1, 2)
    assert "removed 40 of 100 (40% > 20%)" in result.detail
    assert [(r["active_count"], r["removed"], r.get("churn")) for r in result.sample] == [(60, 40, 0.4), (100, 0, None)]
    assert universe_bounds(engine, "stock_universe", min_rows=80).failing == 2
    assert universe_bounds(engine, "stock_universe", min_rows=50, max_churn=0.5).passed
    assert not universe_bounds(engine, "fund_universe", min_rows=0).passed


def test_duplicate_symbols_catches_spellings_that_differ_in_case_or_padding(engine: sa.Engine) -> None:
    universe = pd.concat([listings("BRK.B", "brk.b ", "AAPL"), listings("BRK.B", asset_class="etf")])
    sync_universe(engine, "stock_universe", ("stock", "etf"), universe, seen_at=FETCHED_AT)

    result = duplicate_symbols(engine)
    assert (result.passed, result.failing, result.checked) == (False, 1, 3)
    [row] = result.sample
    assert (row["asset_class"], row["normalized"], row["copies"]) == ("stock", "BRK.B", 2)
    assert sorted(row["symbols"].split("|")) == ["BRK.B", "brk.b "]
    assert duplicate_symbols(engine, ["etf"]).passed


def test_missing_required_fields_names_the_field_and_a_missing_name_is_counted_apart(engine: sa.Engine) -> None:
    def instrument(symbol: str, asset_class: str = "stock", **changes: object) -> dict[str, object]:
        return {"symbol": symbol, "asset_class": asset_class, "name": symbol, "exchange": "NASDAQ", "source": "sec",
                "active": True, "first_seen": FETCHED_AT, "last_seen": FETCHED_AT, **changes}  # fmt: skip

    def pair(symbol: str, **changes: object) -> dict[str, object]:
        return {"symbol": symbol, "base": "BTC", "quote": "USDT", "exchanges": "binance",
                "primary_exchange": "binance", **changes}  # fmt: skip

    with engine.begin() as conn:
        conn.execute(
            assets.insert(),
            [
                instrument("OK"),
                instrument("NONAME", name=None),
                instrument("BLANK", exchange="  "),
                instrument("GONE", name=None, active=False),
                instrument("BTC/USDT", "crypto"),
                instrument("ETH/USDT", "crypto"),
                instrument("SOL/USDT", "crypto"),
            ],
        )
        conn.execute(crypto.insert(), [pair("BTC/USDT"), pair("ETH/USDT", primary_exchange="")])

    result = missing_required_fields(engine)
    assert (result.passed, result.failing, result.checked) == (False, 3, 6)
    assert [(r["asset_class"], r["symbol"], r["reason"]) for r in result.sample] == [
        ("crypto", "ETH/USDT", "crypto.primary_exchange"),
        ("crypto", "SOL/USDT", "crypto.base"),
        ("stock", "BLANK", "exchange"),
    ]
    assert missing_required_fields(engine, ["etf"]).checked == 0
    unnamed = missing_names(engine)
    assert (unnamed.passed, unnamed.failing, unnamed.checked) == (False, 1, 6)
    assert [(r["symbol"], r["reason"]) for r in unnamed.sample] == [("NONAME", "name")]


def test_cross_source_disagreement_compares_matching_closes() -> None:
    primary = pd.DataFrame({"symbol": "BTC/USDT", "date": DAYS, "close": [100.0, 100.0, 100.0]})
    secondary = pd.DataFrame(
        {"symbol": "BTC/USDT", "date": pd.to_datetime([*DAYS, date(2024, 12, 5)]), "close": [100.2, 101.0, 100.0, 1.0]}
    )
    result = cross_source_disagreement(primary, secondary)
    assert (result.passed, result.failing, result.checked) == (False, 1, 3)
    [row] = result.sample
    assert (row["symbol"], row["date"], row["close_primary"], row["close_secondary"]) == (
        "BTC/USDT",
        ISO[1],
        100.0,
        101.0,
    )
    assert row["difference"] == pytest.approx(0.01)
    assert cross_source_disagreement(primary, primary).passed
    assert cross_source_disagreement(primary, secondary, tolerance=0.02).passed


def test_samples_are_json_ready(engine: sa.Engine) -> None:
    _snapshot(engine, datetime(2024, 12, 5, tzinfo=UTC), 10, 0)
    [row] = universe_bounds(engine, "stock_universe", min_rows=20).sample
    assert row["taken_at"] == "2024-12-05T00:00:00+00:00"
