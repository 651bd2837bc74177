"""Data-quality checks over the warehouse: facts about offending rows, never a verdict on severity.

Each warehouse check is one set-based SQL selection (SQLAlchemy Core, parameterized, portable between SQLite and
PostgreSQL): it is counted in the database and only a small sample of offending rows is fetched, so no table is
ever loaded into memory. Price checks take ``asset_classes`` (None: all) and an inclusive date ``window``
``(start, end)`` (None: the whole table), and a ``table`` shaped like ``daily_prices`` (default: it).

What a check over the whole table costs, and needs: :func:`ohlc_sanity` judges each bar alone, so ``since`` limits
it to the bars written since the last evaluation (``ix_daily_prices_asset_class_fetched_at``);
:func:`duplicate_prices` cannot fail on a table whose primary key is the price key, and then only counts the rows in
scope (it still groups the keys of a table without that key, a staging table or a bad restore). The windowed checks
read a date range of ``ix_daily_prices_asset_class_date_symbol``: their cost follows the dates asked about, not the
table.

Float columns can hold NaN on PostgreSQL, while SQLite stores NaN as NULL: every price read here goes through
:func:`_finite`, so NaN and NULL mean the same thing ("no value") on both backends. Samples are JSON-ready:
dates as ISO strings and NaN as None.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lumia_assets.selection import EVERYTHING, PriceSelection
from lumia_assets.warehouse.gaps import missing_cells, partition_gaps, reading
from lumia_assets.warehouse.schema import (
    adjustment_factors,
    assets,
    corporate_actions,
    crypto,
    daily_prices,
    universe_snapshots,
)

SAMPLE_SIZE = 20
LAG_LOOKBACK = timedelta(days=31)
"""How far before a window's start the previous bar is looked for (first bars of a window need one)."""
CASH_ACTIONS = ("dividend", "capital_gain")

Window = tuple[date, date]


@dataclass(frozen=True)
class QualityResult:
    """The outcome of one check: ``failing`` of ``checked`` units broke it; ``sample`` shows a few of them.
    ``failing_at``: the dates (or hours) of the failing units, where a check tells them apart; else None."""

    passed: bool
    failing: int
    checked: int
    sample: list[dict[str, object]]
    detail: str
    failing_at: frozenset[date] | None = None


def _plain(value: object) -> object:
    """A JSON-ready value: ISO dates, UTC timestamps (SQLite's naive ones are UTC), no NaN (None), no Decimals."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def quality_result(
    failing: int,
    checked: int,
    rows: Sequence[Mapping[str, object]],
    detail: str,
    failing_at: Iterable[date] | None = None,
) -> QualityResult:
    """A result of ``failing`` of ``checked`` units, ``rows`` as its JSON-ready sample, and the dates (or hours)
    ``failing_at`` of every failing unit if known."""
    sample = [{key: _plain(value) for key, value in row.items()} for row in rows]
    at = None if failing_at is None else frozenset(_moment(value) for value in failing_at)
    return QualityResult(passed=failing == 0, failing=failing, checked=checked, sample=sample, detail=detail,
                         failing_at=at)  # fmt: skip


def _moment(value: object) -> date:
    """A failing unit's date, or its hour as a tz-aware UTC datetime (SQLite's naive timestamps are UTC)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    raise TypeError(f"a failing unit's date or hour, not {value!r}")


def evaluate_rows(
    engine: Engine,
    scope: sa.Subquery,
    bad: sa.ColumnElement[bool],
    *,
    order_by: Sequence[sa.ColumnElement],
    sample_size: int,
    what: str,
    whole_table: bool = False,
    at: str | None = None,
) -> QualityResult:
    """Count the rows of ``scope`` and those where ``bad`` holds; fetch up to ``sample_size`` of the latter, and
    with ``at`` (a date or hour column) every date or hour they fall on. ``whole_table``: ``scope`` reads every
    row of its table (see ``gaps.reading``)."""
    counts = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((bad, 1), else_=0)), 0))
    sample = sa.select(scope).where(bad).order_by(*order_by).limit(sample_size)
    with reading(engine, whole_table=whole_table) as conn:
        checked, failing = conn.execute(counts.select_from(scope)).one()
        rows = conn.execute(sample).mappings().all() if failing else []
        moments = None if at is None else []
        if at is not None and failing:
            moments = conn.execute(sa.select(scope.c[at]).where(bad).distinct()).scalars().all()
    return quality_result(int(failing), int(checked), rows, f"{failing} of {checked} {what}", moments)


def finite(column: sa.ColumnElement[float]) -> sa.ColumnElement[float]:
    """``column`` with NaN as NULL (PostgreSQL keeps NaN; SQLite binds the NaN parameter as NULL, a no-op)."""
    return sa.func.nullif(column, sa.bindparam(None, float("nan"), type_=sa.Float), type_=sa.Float)


def _nonzero(column: sa.ColumnElement[float]) -> sa.ColumnElement[float]:
    """``column`` with 0 as NULL, for a divisor (PostgreSQL raises on division by zero)."""
    return sa.func.nullif(column, sa.literal(0.0, sa.Float), type_=sa.Float)


def _first_violation(rules: Mapping[str, sa.ColumnElement[bool]]) -> sa.Label:
    """A ``reason`` column naming the first rule broken, NULL when none is (a NULL rule counts as kept)."""
    return sa.case(*((rule, name) for name, rule in rules.items())).label("reason")


def _price_filters(
    table: sa.Table, asset_classes: Sequence[str] | None, window: Window | None, since: datetime | None = None
) -> list[sa.ColumnElement[bool]]:
    filters = []
    if asset_classes is not None:
        filters.append(table.c.asset_class.in_(list(asset_classes)))
    if window is not None:
        filters.append(table.c.date.between(*window))
    if since is not None:
        # UTC, as the writers store it (SQLite keeps naive UTC timestamps; a naive ``since`` is taken as UTC)
        filters.append(table.c.fetched_at >= (since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)))
    return filters


def ohlc_violation(values: Mapping[str, sa.ColumnElement[float]], prices: Sequence[str], tolerance: float) -> sa.Label:
    """The first OHLC rule a row of ``values`` (open, high, low, close, volume and the other ``prices``, each
    :func:`finite`) breaks, as the column ``reason``; NULL when it breaks none. "Above" is by more than the
    relative ``tolerance``."""
    o, h, low, c = values["open"], values["high"], values["low"], values["close"]

    def above(higher: sa.ColumnElement[float], lower: sa.ColumnElement[float]) -> sa.ColumnElement[bool]:
        return higher > lower * (1 + tolerance)

    return _first_violation(
        {
            "close missing": c.is_(None),
            "price <= 0": sa.or_(*(values[name] <= 0 for name in prices)),
            "low > high": above(low, h),
            "low > open": above(low, o),
            "low > close": above(low, c),
            "open > high": above(o, h),
            "close > high": above(c, h),
            "volume < 0": values["volume"] < 0,
        }
    )


def ohlc_sanity(
    engine: Engine,
    asset_classes: Sequence[str] | None = None,
    window: Window | None = None,
    tolerance: float = 1e-6,
    *,
    table: sa.Table = daily_prices,
    sample_size: int = SAMPLE_SIZE,
    since: datetime | None = None,
) -> QualityResult:
    """Bars with no (NULL or NaN) close, a price <= 0, low above open/close/high, open or close above high, or a
    negative volume. "Above" means by more than the relative ``tolerance``: independently rounded split-adjusted
    prices can overshoot by a hair. Missing open/high/low/served_adj_close are allowed (some sources lack them);
    ``reason`` names the first rule a sampled bar breaks.

    ``since``: only the bars with ``fetched_at`` at or after it. Every rule is about one bar alone, so a bar that
    passed and has not been written since still passes: a check over the whole table needs only the bars written
    since its last evaluation. Every write that changes a bar sets its ``fetched_at`` to the time of the answer,
    which precedes the commit: pass the previous evaluation's start less the longest fetch-to-commit delay of a
    run (a day's overlap is cheap), and keep an occasional pass without ``since`` for rows changed outside the
    writers (a manual edit, a restore)."""
    prices = ("open", "high", "low", "close", "served_adj_close")
    values = {name: finite(table.c[name]) for name in (*prices, "volume")}
    reason = ohlc_violation(values, prices, tolerance)
    scope = (
        sa.select(
            table.c.symbol,
            table.c.asset_class,
            table.c.date,
            *(value.label(name) for name, value in values.items()),
            reason,
        )
        .where(*_price_filters(table, asset_classes, window, since))
        .subquery("bars")
    )
    return evaluate_rows(
        engine,
        scope,
        scope.c.reason.is_not(None),
        order_by=(scope.c.date, scope.c.asset_class, scope.c.symbol),
        sample_size=sample_size,
        what="bars break OHLC sanity",
        whole_table=window is None and since is None,
        at="date",
    )


def _keyed_on(engine: Engine, table: sa.Table, columns: Sequence[sa.ColumnElement]) -> bool:
    """Whether ``table``'s primary key in the live database is made of ``columns`` (or some of them): then no two
    rows share their values. Asked of the database, not of ``schema.py``: a restore may have lost the key."""
    try:
        key = sa.inspect(engine).get_pk_constraint(table.name, schema=table.schema)
    except sa.exc.NoSuchTableError:
        return False
    found = set(key.get("constrained_columns") or ())
    return bool(found) and found <= {column.name for column in columns}


def duplicate_keys(
    engine: Engine,
    table: sa.Table,
    keys: Sequence[sa.ColumnElement],
    filters: Sequence[sa.ColumnElement[bool]],
    *,
    order: Sequence[str],
    noun: str,
    at: str,
    sample_size: int = SAMPLE_SIZE,
    whole_table: bool = False,
) -> QualityResult:
    """Values of ``keys`` stored more than once among the rows of ``table`` that ``filters`` select, sampled in
    ``order`` (key names); ``at`` names the key's date or hour.

    While the database enforces the key (the live table's primary key is those columns), no key can be stored
    twice: the rows in scope are counted (each is one key), not grouped, and the check passes. Without the key the
    keys are grouped and counted as always."""
    if _keyed_on(engine, table, keys):
        with reading(engine) as conn:
            checked = int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*filters)).scalar_one())
        detail = f"0 of {checked} {noun} keys are stored more than once (the table's primary key forbids it)"
        return quality_result(0, checked, [], detail)
    scope = sa.select(*keys, sa.func.count().label("copies")).where(*filters).group_by(*keys).subquery("keys")
    return evaluate_rows(
        engine,
        scope,
        scope.c.copies > 1,
        order_by=[scope.c[name] for name in order],
        sample_size=sample_size,
        what=f"{noun} keys are stored more than once",
        whole_table=whole_table,
        at=at,
    )


def duplicate_prices(
    engine: Engine,
    asset_classes: Sequence[str] | None = None,
    window: Window | None = None,
    *,
    table: sa.Table = daily_prices,
    sample_size: int = SAMPLE_SIZE,
) -> QualityResult:
    """Keys (symbol, asset_class, date) stored more than once (``duplicate_keys``). ``daily_prices``' primary key
    makes this a guard; pass ``table`` to check an unconstrained copy (a staging or restored table)."""
    keys = (table.c.symbol, table.c.asset_class, table.c.date)
    return duplicate_keys(
        engine, table, keys, _price_filters(table, asset_classes, window), order=("date", "asset_class", "symbol"),
        noun="price", at="date", sample_size=sample_size, whole_table=window is None,
    )  # fmt: skip


def price_coverage(
    engine: Engine,
    asset_classes: Sequence[str],
    dates: Sequence[date],
    threshold: float = 0.95,
    *,
    selection: PriceSelection = EVERYTHING,
    sample_size: int = SAMPLE_SIZE,
) -> QualityResult:
    """Per date, bars of the selected instruments present over bars expected (see ``gaps``); fails when a date's
    coverage is below ``threshold``. The sample lists the worst dates, worst first, with up to ``sample_size``
    missing symbols in all as examples (from the oldest of those dates on)."""
    gaps = partition_gaps(engine, asset_classes, dates, selection=selection)
    if not selection.everything and not gaps["expected"].any():
        nothing = f"the selection prices none of {'/'.join(asset_classes)}: nothing expected"
        return quality_result(0, len(gaps), [], nothing)
    # otherwise nothing expected is no coverage, never 100%: an empty universe is no success
    gaps["coverage"] = (gaps["present"] / gaps["expected"].where(gaps["expected"] > 0)).fillna(0.0).astype(float)
    below = gaps[gaps["coverage"] < threshold]
    worst = below.sort_values(["coverage", "date"]).head(sample_size)
    examples = missing_cells(engine, asset_classes, list(worst["date"]), limit=sample_size, selection=selection)
    symbols = examples.groupby("date")["symbol"].agg(list).to_dict()
    rows = [{**row, "coverage": round(row["coverage"], 4), "missing_symbols": symbols.get(row["date"], [])}
            for row in worst.to_dict("records")]  # fmt: skip
    detail = f"{len(below)} of {len(gaps)} dates have coverage below {threshold:.0%}"
    return quality_result(len(below), len(gaps), rows, detail, below["date"])


def _consecutive_bars(table: sa.Table, asset_classes: Sequence[str] | None, window: Window | None) -> sa.Subquery:
    """Each bar in ``window`` beside the symbol's previous bar (``prev_*``; looked up to ``LAG_LOOKBACK`` before
    the window), NaN read as NULL; bars without a previous one are left out.

    Within the window the previous bar comes from a window function over the window's own bars; the first bar of
    each symbol in the window looks its previous one up by key (the primary key's index, one probe per symbol). Reading
    the lookback's bars instead (22 sessions for every symbol, to pair a one-day window) made PostgreSQL scan the
    whole table at five years."""
    key = (table.c.symbol, table.c.asset_class)
    close = finite(table.c.close)

    def previous(column: sa.ColumnElement, name: str) -> sa.Label:
        return sa.func.lag(column, type_=column.type).over(partition_by=key, order_by=table.c.date).label(name)

    lagged = (
        sa.select(*key, table.c.date, close.label("close"), previous(table.c.date, "lag_date"),
                  previous(close, "lag_close"))
        .where(*_price_filters(table, asset_classes, window))
        .subquery("lagged")
    )  # fmt: skip
    if window is None:
        pairs = (lagged.c.lag_date.label("prev_date"), lagged.c.lag_close.label("prev_close"))
        bars = sa.select(lagged.c.symbol, lagged.c.asset_class, lagged.c.date, lagged.c.close, *pairs).subquery("bars")
    else:
        before, prior = table.alias("before"), table.alias("prior")
        last_before_window = (
            sa.select(sa.func.max(before.c.date))
            .where(before.c.symbol == lagged.c.symbol, before.c.asset_class == lagged.c.asset_class,
                   before.c.date < window[0], before.c.date >= window[0] - LAG_LOOKBACK)
            .scalar_subquery()
        )  # fmt: skip
        prev_date = sa.func.coalesce(lagged.c.lag_date, last_before_window).label("prev_date")
        dated = sa.select(lagged, prev_date).subquery("dated")
        close_then = (
            sa.select(sa.func.max(finite(prior.c.close)))
            .where(prior.c.symbol == dated.c.symbol, prior.c.asset_class == dated.c.asset_class,
                   prior.c.date == dated.c.prev_date)
            .scalar_subquery()
        )  # fmt: skip
        prev_close = sa.case((dated.c.lag_date.is_not(None), dated.c.lag_close), else_=close_then)
        bars = sa.select(dated.c.symbol, dated.c.asset_class, dated.c.date, dated.c.close, dated.c.prev_date,
                         prev_close.label("prev_close")).subquery("bars")  # fmt: skip
    return sa.select(bars).where(bars.c.prev_date.is_not(None)).subquery("consecutive")


def _actions_between(bars: sa.Subquery, actions: Sequence[str]) -> sa.Select:
    """Corporate actions of each bar's symbol dated after its previous bar, up to and including its own date."""
    return sa.select(corporate_actions.c.value).where(
        corporate_actions.c.symbol == bars.c.symbol,
        corporate_actions.c.asset_class == bars.c.asset_class,
        corporate_actions.c.date > bars.c.prev_date,
        corporate_actions.c.date <= bars.c.date,
        corporate_actions.c.action.in_(list(actions)),
    )


def unexplained_jumps(
    engine: Engine,
    asset_classes: Sequence[str] | None = None,
    window: Window | None = None,
    threshold: float = 0.25,
    *,
    table: sa.Table = daily_prices,
    sample_size: int = SAMPLE_SIZE,
) -> QualityResult:
    """Bars whose as-traded close moved more than ``threshold`` from the symbol's previous bar once the split
    record is applied (``|close * ratio / prev_close - 1|``, ratio of a split in between, else 1), with no
    distribution in between either. A split explains exactly its own jump, no more. Largest moves first."""
    bars = _consecutive_bars(table, asset_classes, window)
    ratio = _actions_between(bars, ("split",)).with_only_columns(sa.func.max(corporate_actions.c.value))
    split_ratio = sa.func.coalesce(ratio.scalar_subquery(), 1.0, type_=sa.Float)
    change = (bars.c.close * split_ratio / _nonzero(bars.c.prev_close) - 1).label("change")
    scope = sa.select(bars, split_ratio.label("split_ratio"), change).subquery("moves")
    unexplained = ~_actions_between(scope, CASH_ACTIONS).exists()
    return evaluate_rows(
        engine,
        scope,
        sa.and_(sa.func.abs(scope.c.change) > threshold, unexplained),
        order_by=(sa.func.abs(scope.c.change).desc(), scope.c.symbol, scope.c.date),
        sample_size=sample_size,
        what=f"day-over-day closes move more than {threshold:.0%} beyond their splits, with no distribution",
        whole_table=window is None,
        at="date",
    )


def _segment(factors: sa.Table, table: sa.Table, day: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """The factor segment of ``table``'s row on ``day``."""
    return sa.and_(
        factors.c.symbol == table.c.symbol,
        factors.c.asset_class == table.c.asset_class,
        factors.c.valid_from <= day,
        day < factors.c.valid_until,
    )


def _factor(factors: sa.Table) -> sa.ColumnElement[float]:
    one = sa.literal(1.0, sa.Float)
    return sa.func.coalesce(factors.c.split_factor, one) * sa.func.coalesce(factors.c.dividend_factor, one)


def adjustment_consistency(
    engine: Engine,
    asset_classes: Sequence[str] | None = None,
    window: Window | None = None,
    tolerance: float = 1e-6,
    *,
    table: sa.Table = daily_prices,
    sample_size: int = SAMPLE_SIZE,
) -> QualityResult:
    """Bars whose derived adjusted close, as of the day the upstream adjusted to, disagrees with what it served.

    Each bar keeps the upstream's adjusted close (``served_adj_close``), adjusted for the actions up to
    ``served_as_of``. The derived value for that same day is ``close * F(date) / F(served_as_of)``, F being the
    cumulative split and distribution factor of the stored record (``adjustment_factors``): the actions after
    ``served_as_of`` cancel out. A bar is flagged when the two differ by more than ``tolerance`` (relative): an
    action or amount the record doesn't have, or a wrong one. Bars without a witness are not compared.
    """
    at_bar, as_of = adjustment_factors.alias("at_bar"), adjustment_factors.alias("as_of")
    served = finite(table.c.served_adj_close)
    derived = (table.c.close * _factor(at_bar) / _factor(as_of)).label("derived_adj_close")
    scope = (
        sa.select(table.c.symbol, table.c.asset_class, table.c.date, table.c.served_as_of,
                  served.label("served_adj_close"), derived)
        .select_from(table.outerjoin(at_bar, _segment(at_bar, table, table.c.date))
                     .outerjoin(as_of, _segment(as_of, table, table.c.served_as_of)))
        .where(*_price_filters(table, asset_classes, window), served.is_not(None), table.c.served_as_of.is_not(None))
        .subquery("witnessed")
    )  # fmt: skip
    gap = sa.func.abs(scope.c.derived_adj_close - scope.c.served_adj_close)
    return evaluate_rows(
        engine,
        scope,
        gap > tolerance * sa.func.abs(scope.c.served_adj_close),
        order_by=((gap / sa.func.abs(_nonzero(scope.c.served_adj_close))).desc(), scope.c.symbol, scope.c.date),
        sample_size=sample_size,
        what=f"bars have a derived adjusted close more than {tolerance:g} (relative) from the one served",
        whole_table=window is None,
        at="date",
    )


def universe_bounds(engine: Engine, universe_name: str, min_rows: int, max_churn: float = 0.2) -> QualityResult:
    """The latest ``universe_snapshots`` row of ``universe_name`` against two bounds: at least ``min_rows``
    active instruments, and removed / the previous snapshot's active count at most ``max_churn``. ``failing``
    counts the bounds broken (of ``checked``: 1 without a previous snapshot, else 2); the sample holds the
    latest and previous snapshots. No snapshot at all fails."""
    query = (
        sa.select(universe_snapshots)
        .where(universe_snapshots.c.universe == universe_name)
        .order_by(universe_snapshots.c.taken_at.desc(), universe_snapshots.c.id.desc())
        .limit(2)
    )
    with engine.connect() as conn:
        snapshots = [dict(row) for row in conn.execute(query).mappings()]
    if not snapshots:
        return quality_result(1, 1, [], f"{universe_name}: no snapshot recorded")
    latest, previous = snapshots[0], (snapshots[1] if len(snapshots) > 1 else None)
    problems = []
    if latest["active_count"] < min_rows:
        problems.append(f"{latest['active_count']} active instruments, fewer than {min_rows}")
    if previous is not None:
        churn = latest["removed"] / previous["active_count"] if previous["active_count"] else 0.0
        latest["churn"] = round(churn, 4)
        if churn > max_churn:
            problems.append(
                f"removed {latest['removed']} of {previous['active_count']} ({churn:.0%} > {max_churn:.0%})"
            )
    detail = f"{universe_name}: " + ("; ".join(problems) or f"{latest['active_count']} active, within bounds")
    return quality_result(len(problems), 1 if previous is None else 2, snapshots, detail)


def _blank(column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    return sa.func.coalesce(sa.func.trim(column), "") == ""


def _asset_filters(asset_classes: Sequence[str] | None) -> list[sa.ColumnElement[bool]]:
    return [] if asset_classes is None else [assets.c.asset_class.in_(list(asset_classes))]


def duplicate_symbols(
    engine: Engine, asset_classes: Sequence[str] | None = None, *, sample_size: int = SAMPLE_SIZE
) -> QualityResult:
    """Symbols of one asset class equal once trimmed and upper-cased ('BRK.B' and ' brk.b'), active or not.

    The primary key rules out exact duplicates; spellings differing in case or padding slip past it and would
    double-fetch one instrument. ``checked`` counts normalized symbols."""
    normalized = sa.func.upper(sa.func.trim(assets.c.symbol))
    scope = (
        sa.select(
            assets.c.asset_class,
            normalized.label("normalized"),
            sa.func.count().label("copies"),
            sa.func.aggregate_strings(assets.c.symbol, "|").label("symbols"),
        )
        .where(*_asset_filters(asset_classes))
        .group_by(assets.c.asset_class, normalized)
        .subquery("normalized")
    )
    return evaluate_rows(
        engine,
        scope,
        scope.c.copies > 1,
        order_by=(scope.c.asset_class, scope.c.normalized),
        sample_size=sample_size,
        what="normalized symbols are stored under several spellings",
    )


def _instruments_lacking(
    engine: Engine,
    asset_classes: Sequence[str] | None,
    rules: Callable[[sa.Table, sa.Table], Mapping[str, sa.ColumnElement[bool]]],
    what: str,
    sample_size: int,
) -> QualityResult:
    """Active instruments breaking one of ``rules(assets, crypto)`` (field name -> "is missing"); ``reason`` names
    the first missing field."""
    joined = assets.outerjoin(
        crypto, sa.and_(crypto.c.symbol == assets.c.symbol, crypto.c.asset_class == assets.c.asset_class)
    )
    scope = (
        sa.select(assets.c.symbol, assets.c.asset_class, assets.c.source, _first_violation(rules(assets, crypto)))
        .select_from(joined)
        .where(assets.c.active.is_(True), *_asset_filters(asset_classes))
        .subquery("instruments")
    )
    return evaluate_rows(
        engine,
        scope,
        scope.c.reason.is_not(None),
        order_by=(scope.c.asset_class, scope.c.symbol),
        sample_size=sample_size,
        what=what,
    )


def _identity_rules(instruments: sa.Table, pairs: sa.Table) -> dict[str, sa.ColumnElement[bool]]:
    is_crypto = instruments.c.asset_class == "crypto"
    rules = {column: _blank(instruments.c[column]) for column in ("exchange", "source")}
    for column in ("base", "quote", "primary_exchange"):
        rules[f"crypto.{column}"] = sa.and_(is_crypto, _blank(pairs.c[column]))
    return rules


def missing_required_fields(
    engine: Engine, asset_classes: Sequence[str] | None = None, *, sample_size: int = SAMPLE_SIZE
) -> QualityResult:
    """Active instruments with a NULL or blank exchange or source; active crypto pairs also need a detail row
    with base, quote and primary_exchange. ``reason`` names the first missing field."""
    return _instruments_lacking(
        engine, asset_classes, _identity_rules, "active instruments lack a required field", sample_size
    )


def missing_names(
    engine: Engine, asset_classes: Sequence[str] | None = None, *, sample_size: int = SAMPLE_SIZE
) -> QualityResult:
    """Active instruments without a name yet: a fund known only from SEC's list, until Yahoo's answer names it."""
    return _instruments_lacking(
        engine,
        asset_classes,
        lambda instruments, _: {"name": _blank(instruments.c.name)},
        "active instruments have no name yet",
        sample_size,
    )


def cross_source_disagreement(
    primary: pd.DataFrame, secondary: pd.DataFrame, tolerance: float = 0.005, *, sample_size: int = SAMPLE_SIZE
) -> QualityResult:
    """Closes of two small sample frames (``symbol``, ``date``, ``close``) whose relative difference
    ``|secondary / primary - 1|`` exceeds ``tolerance``; in memory by design (the secondary comes from another
    API). Only (symbol, date) pairs with a positive close on both sides are compared. Largest gaps first."""
    keys = ["symbol", "date"]

    def closes(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.loc[:, [*keys, "close"]].assign(date=pd.to_datetime(frame["date"]).dt.date)

    pairs = closes(primary).merge(closes(secondary), on=keys, suffixes=("_primary", "_secondary"))
    pairs = pairs[(pairs["close_primary"] > 0) & (pairs["close_secondary"] > 0)]
    pairs = pairs.assign(difference=(pairs["close_secondary"] / pairs["close_primary"] - 1).abs())
    failing = pairs[pairs["difference"] > tolerance].sort_values(["difference", *keys], ascending=[False, True, True])
    return quality_result(
        len(failing),
        len(pairs),
        failing.head(sample_size).to_dict("records"),
        f"{len(failing)} of {len(pairs)} closes differ between sources by more than {tolerance:.2%}",
        failing["date"],
    )


def stored_closes(engine: Engine, asset_class: str, symbols: Sequence[str], window: Window) -> pd.DataFrame:
    """The stored ``symbol``, ``date``, ``close`` and ``source`` of ``symbols`` in ``window``: the primary side of
    :func:`cross_source_disagreement`, for a small sample of symbols."""
    query = (
        sa.select(daily_prices.c.symbol, daily_prices.c.date, daily_prices.c.close, daily_prices.c.source)
        .where(
            daily_prices.c.asset_class == asset_class,
            daily_prices.c.symbol.in_(list(symbols)),
            daily_prices.c.date.between(*window),
        )
        .order_by(daily_prices.c.symbol, daily_prices.c.date)
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=["symbol", "date", "close", "source"])
