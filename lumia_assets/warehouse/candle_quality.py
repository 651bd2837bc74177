"""Check queries over the hourly candles: OHLC sanity, coverage per hour, and agreement with the daily candles.

The agreement check is the one no single series can make: a UTC day's 24 hourly candles from a venue aggregate to
that venue's daily candle (the first open, the highest high, the lowest low, the last close, the summed volume),
so a corrupted or partial candle on either side shows as a disagreement naming the pair, the day and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lumia_assets.selection import EVERYTHING, PriceSelection
from lumia_assets.warehouse.gaps import reading
from lumia_assets.warehouse.quality import (
    SAMPLE_SIZE,
    QualityResult,
    duplicate_keys,
    evaluate_rows,
    finite,
    ohlc_violation,
    quality_result,
)
from lumia_assets.warehouse.schema import candles, daily_prices
from lumia_assets.warehouse.store import active_symbols

HOURLY = "1h"
HOURS_A_DAY = 24
AGREEMENT_TOLERANCE = 1e-9  # relative: the same venue's numbers, parsed from the same decimal strings
AGREEMENT_FIELDS = ("open", "high", "low", "close", "volume")
DAYS_PER_READ = 7  # the agreement check reads a week of candles at a time: memory stays a week's


def _hours_between(first: datetime, last: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(candles.c.interval == HOURLY, candles.c.open_time.between(first, last))


def _of_symbols() -> sa.ColumnElement[bool]:
    """Candles of the pairs bound as ``symbols`` (a list)."""
    return candles.c.symbol.in_(sa.bindparam("symbols", expanding=True))


def candle_sanity(engine: Engine, first: datetime, last: datetime, tolerance: float = 1e-6,
                  sample_size: int = SAMPLE_SIZE) -> QualityResult:  # fmt: skip
    """Hourly candles opening from ``first`` to ``last`` with a price <= 0, low above open/close/high, open or
    close above high, or a negative volume (the daily bars' rules, see ``quality.ohlc_sanity``)."""
    prices = ("open", "high", "low", "close")
    values = {name: finite(candles.c[name]) for name in (*prices, "volume")}
    scope = (
        sa.select(candles.c.symbol, candles.c.open_time, candles.c.source,
                  *(value.label(name) for name, value in values.items()), ohlc_violation(values, prices, tolerance))
        .where(_hours_between(first, last))
        .subquery("candles_in_range")
    )  # fmt: skip
    return evaluate_rows(engine, scope, scope.c.reason.is_not(None), order_by=(scope.c.open_time, scope.c.symbol),
                         sample_size=sample_size, what="hourly candles break OHLC sanity", at="open_time")  # fmt: skip


def duplicate_candles(engine: Engine, first: datetime, last: datetime, sample_size: int = SAMPLE_SIZE
                      ) -> QualityResult:  # fmt: skip
    """Keys (symbol, interval, open_time) of candles opening from ``first`` to ``last`` stored more than once: a
    guard while the primary key holds (``quality.duplicate_keys``)."""
    keys = (candles.c.symbol, candles.c.interval, candles.c.open_time)
    order = ("open_time", "symbol", "interval")
    return duplicate_keys(engine, candles, keys, [_hours_between(first, last)], order=order, noun="candle",
                          at="open_time", sample_size=sample_size)  # fmt: skip


def candles_per_hour(engine: Engine, hours: Sequence[datetime], symbols: Sequence[str]) -> pd.Series:
    """How many of ``symbols`` have a candle opening at each of ``hours`` (0 where none)."""
    counts = pd.Series(0, index=pd.DatetimeIndex(list(hours)), dtype="int64")
    if not hours or not symbols:
        return counts
    query = (
        sa.select(candles.c.open_time, sa.func.count())
        .where(_hours_between(min(hours), max(hours)), _of_symbols())
        .group_by(candles.c.open_time)
    )
    with reading(engine) as conn:
        rows = conn.execute(query, {"symbols": list(symbols)}).all()
    found = pd.Series({pd.Timestamp(moment).tz_localize(UTC) if moment.tzinfo is None else pd.Timestamp(moment): n
                       for moment, n in rows}, dtype="int64")  # fmt: skip
    return counts.add(found.reindex(counts.index, fill_value=0), fill_value=0).astype("int64")


def missing_candles(
    engine: Engine, hours: Sequence[datetime], *, selection: PriceSelection = EVERYTHING
) -> pd.DataFrame:
    """``symbol`` and ``open_time`` of every hour of ``hours`` a selected active pair, listed by then, has no candle
    for, oldest first."""
    pairs = active_symbols(engine, ("crypto",), selection=selection)
    if pairs.empty or not hours:
        return pd.DataFrame(columns=["symbol", "open_time"])
    query = sa.select(candles.c.symbol, candles.c.open_time).where(
        _hours_between(min(hours), max(hours)), _of_symbols()
    )
    with reading(engine) as conn:
        stored = pd.read_sql(query, conn, params={"symbols": list(pairs["symbol"])})
    listed = pairs.assign(listed=pd.to_datetime(pairs["listed_on"]).dt.tz_localize(UTC))[["symbol", "listed"]]
    expected = listed.merge(pd.DataFrame({"open_time": pd.DatetimeIndex(list(hours))}), how="cross")
    expected = expected[expected["listed"].isna() | (expected["listed"] <= expected["open_time"])]
    stored = stored.assign(open_time=pd.to_datetime(stored["open_time"], utc=True), stored=True)
    found = expected.merge(stored, on=["symbol", "open_time"], how="left")
    missing = found[found["stored"].isna()][["symbol", "open_time"]]
    return missing.sort_values(["open_time", "symbol"], ignore_index=True)


def candle_coverage(
    engine: Engine,
    hours: Sequence[datetime],
    threshold: float = 0.95,
    *,
    selection: PriceSelection = EVERYTHING,
    sample_size: int = SAMPLE_SIZE,
) -> QualityResult:
    """Per hour, the selected active pairs with a candle over those listed by then; fails for an hour below
    ``threshold``. The sample lists the worst hours, worst first."""
    pairs = active_symbols(engine, ("crypto",), selection=selection)
    if pairs.empty:
        return quality_result(0, len(hours), [], "the selection prices no crypto pair: nothing expected")
    present = candles_per_hour(engine, hours, list(pairs["symbol"]))
    listed = pd.to_datetime(pairs["listed_on"]).dt.tz_localize(UTC)
    rows = []
    for hour, count in present.items():
        expected = int((listed.isna() | (listed <= hour)).sum())
        coverage = count / expected if expected else 0.0
        rows.append({"hour": hour.to_pydatetime(), "present": int(count), "expected": expected,
                     "coverage": round(coverage, 4)})  # fmt: skip
    below = sorted((row for row in rows if row["coverage"] < threshold), key=lambda r: (r["coverage"], r["hour"]))
    detail = f"{len(below)} of {len(rows)} hours have coverage below {threshold:.0%}"
    return quality_result(len(below), len(rows), below[:sample_size], detail, [row["hour"] for row in below])


def _read_week(engine: Engine, first: date, last: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The hourly candles and the daily crypto candles of the days ``first``..``last``."""
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last + timedelta(days=1), time(), UTC) - timedelta(hours=1)
    hourly = sa.select(candles.c.symbol, candles.c.source, candles.c.open_time,
                       *(candles.c[name] for name in AGREEMENT_FIELDS)).where(_hours_between(start, end))  # fmt: skip
    daily = sa.select(daily_prices.c.symbol, daily_prices.c.source, daily_prices.c.date,
                      *(daily_prices.c[name] for name in AGREEMENT_FIELDS)).where(
        daily_prices.c.asset_class == "crypto", daily_prices.c.date.between(first, last))  # fmt: skip
    with reading(engine) as conn:
        hours = pd.read_sql(hourly, conn)
        days = pd.read_sql(daily, conn)
    hours["date"] = pd.to_datetime(hours["open_time"], utc=True).dt.date
    days["date"] = pd.to_datetime(days["date"]).dt.date
    return hours, days


def _aggregated(hours: pd.DataFrame) -> pd.DataFrame:
    """Per (symbol, source, date) with all 24 hours: the daily candle the hours make up."""
    grouped = hours.sort_values("open_time").groupby(["symbol", "source", "date"], sort=False)
    days = grouped.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
                       volume=("volume", "sum"), hours=("open", "size"))  # fmt: skip
    return days[days["hours"] == HOURS_A_DAY].drop(columns="hours").reset_index()


def _disagreements(compared: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """One row per (pair, day, field) where the hours' aggregate and the daily candle differ."""
    found = []
    for name in AGREEMENT_FIELDS:
        hourly, daily = compared[f"{name}_hourly"], compared[f"{name}_daily"]
        off = (hourly - daily).abs() > tolerance * daily.abs().clip(lower=1e-300)
        if off.any():
            rows = compared.loc[off, ["symbol", "source", "date"]].assign(field=name, hourly=hourly[off],
                                                                          daily=daily[off])  # fmt: skip
            found.append(rows)
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()


def hourly_daily_agreement(engine: Engine, days: Sequence[date], tolerance: float = AGREEMENT_TOLERANCE,
                           sample_size: int = SAMPLE_SIZE) -> QualityResult:  # fmt: skip
    """For every pair and UTC day of ``days`` stored with all 24 hourly candles and a daily candle from the same
    venue, whether they agree: open = the first open, close = the last close, high = the maximum, low = the
    minimum, volume = the sum (all within ``tolerance``, relative). The sample names the pair, day and field."""
    ordered = sorted(set(days))
    checked, failing, sample = 0, 0, []
    for start in range(0, len(ordered), DAYS_PER_READ):
        week = ordered[start : start + DAYS_PER_READ]
        hours, daily = _read_week(engine, week[0], week[-1])
        compared = _aggregated(hours[hours["date"].isin(set(week))]).merge(
            daily, on=["symbol", "source", "date"], suffixes=("_hourly", "_daily"))  # fmt: skip
        checked += len(compared)
        off = _disagreements(compared, tolerance)
        if not off.empty:
            failing += off[["symbol", "source", "date"]].drop_duplicates().shape[0]
            sample.extend(off.sort_values(["date", "symbol", "field"]).to_dict("records"))
    detail = f"{failing} of {checked} pair-days disagree between their 24 hourly candles and their daily candle"
    if sample:
        first = sample[0]
        detail += f" (first: {first['symbol']} on {first['date']}, {first['field']} {first['hourly']} hourly vs " \
                  f"{first['daily']} daily)"  # fmt: skip
    return quality_result(failing, checked, sample[:sample_size], detail, [row["date"] for row in sample])
