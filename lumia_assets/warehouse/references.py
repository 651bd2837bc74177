"""CoinGecko in the warehouse: the coin each crypto base stands for, the coins' daily dollar reference prices, and
the reconciliation of the stored dollar-quoted closes with them.

The reference prices are a witness, never a source of candles: a stored close that strays from the coin's
aggregated dollar price by more than the tolerance is a warning to look at, not a row to rewrite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lumia_assets.frames import COIN_COLUMNS, REFERENCE_PRICE_COLUMNS
from lumia_assets.selection import EVERYTHING, PriceSelection
from lumia_assets.warehouse.contracts import checked
from lumia_assets.warehouse.quality import SAMPLE_SIZE, QualityResult, Window, evaluate_rows, quality_result
from lumia_assets.warehouse.schema import assets, coins, crypto, daily_prices, reference_prices
from lumia_assets.warehouse.selection import selected
from lumia_assets.warehouse.store import transaction, upsert

DOLLAR_QUOTES = ("USD", "USDT", "USDC")  # the quotes a coin's dollar price is compared with


def active_bases(engine: Engine, dollar_quoted: bool = False, selection: PriceSelection = EVERYTHING) -> list[str]:
    """The base currencies of the active crypto pairs the selection prices, sorted; with ``dollar_quoted``, only
    those with a pair quoted in ``DOLLAR_QUOTES``."""
    query = (
        sa.select(crypto.c.base)
        .distinct()
        .join(assets, sa.and_(assets.c.symbol == crypto.c.symbol, assets.c.asset_class == crypto.c.asset_class))
        .where(assets.c.active, selected(selection, ["crypto"]), crypto.c.base.is_not(None))
        .order_by(crypto.c.base)
    )
    if dollar_quoted:
        query = query.where(crypto.c.quote.in_(DOLLAR_QUOTES))
    with engine.connect() as conn:
        return [str(base) for base in conn.execute(query).scalars()]


class CoinMapShrinkError(RuntimeError):
    """A new coin map would drop too many of the bases mapped now: a short or failed CoinGecko answer, not reality."""


def replace_coins(bind: Engine, frame: pd.DataFrame, max_dropped_fraction: float = 0.2) -> int:
    """Make ``coins`` exactly ``frame`` (``COIN_COLUMNS``), in one transaction: a base no longer mapped (delisted,
    or now ambiguous) loses its row. A map dropping more than ``max_dropped_fraction`` of the mapped bases is
    refused (``CoinMapShrinkError``) and the stored one kept: the reference prices and ``LUMIA_CRYPTO_TOP_COINS``
    go by it. Returns the rows written."""
    rows = checked(frame, coins, COIN_COLUMNS)
    with transaction(bind) as conn:
        mapped = set(conn.execute(sa.select(coins.c.base)).scalars())
        dropped = mapped - set(rows["base"] if not rows.empty else [])
        if mapped and len(dropped) > max_dropped_fraction * len(mapped):
            raise CoinMapShrinkError(
                f"the coin map would drop {len(dropped)} of the {len(mapped)} mapped bases (more than "
                f"{max_dropped_fraction:.0%}), e.g. {', '.join(sorted(dropped)[:5])}: refusing, the stored map is kept"
            )
        stale = coins.delete()
        if not rows.empty:
            stale = stale.where(coins.c.base.not_in(list(rows["base"])))
        conn.execute(stale)
        return upsert(conn, coins, rows)


def mapped_bases(engine: Engine) -> list[str]:
    """The bases ``coins`` maps to a coin, sorted."""
    with engine.connect() as conn:
        return [str(base) for base in conn.execute(sa.select(coins.c.base).order_by(coins.c.base)).scalars()]


def reference_coins(engine: Engine, selection: PriceSelection, limit: int) -> pd.DataFrame:
    """The ``coin_id`` and ``base`` of the ``limit`` largest coins (by market cap) standing for the base of an
    active, selected dollar-quoted pair: the coins the reference prices are collected for."""
    bases = active_bases(engine, dollar_quoted=True, selection=selection)
    query = (
        sa.select(coins.c.coin_id, coins.c.base)
        .where(coins.c.base.in_(bases))
        .order_by(coins.c.market_cap_usd.desc().nulls_last(), coins.c.base)
        .limit(limit)
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=["coin_id", "base"])


def upsert_reference_prices(bind: Engine, frame: pd.DataFrame) -> int:
    """Write reference prices (exactly ``REFERENCE_PRICE_COLUMNS``) keyed on (coin_id, date), in one transaction; a
    row stored with the same values keeps its ``fetched_at``. Returns the rows in ``frame``."""
    rows = checked(frame, reference_prices, REFERENCE_PRICE_COLUMNS)
    with transaction(bind) as conn:
        return upsert(conn, reference_prices, rows, stamp="fetched_at")


def reference_coverage(
    engine: Engine, coin_ids: Sequence[str], days: Sequence[date], threshold: float = 0.95,
    *, sample_size: int = SAMPLE_SIZE,
) -> QualityResult:  # fmt: skip
    """Per day, the coins of ``coin_ids`` with a reference price over ``coin_ids``; fails when a day's coverage is
    below ``threshold``. The sample lists the worst days, worst first, with the coins missing there."""
    if not coin_ids or not days:
        return quality_result(0, len(days), [], "no coin or no day to cover")
    query = sa.select(reference_prices.c.date, reference_prices.c.coin_id).where(
        reference_prices.c.coin_id.in_(list(coin_ids)), reference_prices.c.date.between(min(days), max(days))
    )
    with engine.connect() as conn:
        present = pd.DataFrame(conn.execute(query).all(), columns=["date", "coin_id"])
    by_day = present.assign(date=pd.to_datetime(present["date"]).dt.date).groupby("date")["coin_id"].agg(set)
    rows = []
    for day in days:
        missing = sorted(set(coin_ids) - by_day.get(day, set()))
        coverage = 1 - len(missing) / len(coin_ids)
        if coverage < threshold:
            rows.append({"date": day, "expected": len(coin_ids), "present": len(coin_ids) - len(missing),
                         "coverage": round(coverage, 4), "missing_coins": missing[:sample_size]})  # fmt: skip
    worst = sorted(rows, key=lambda row: (row["coverage"], row["date"]))
    detail = f"{len(rows)} of {len(days)} days have reference prices for fewer than {threshold:.0%} of the coins"
    return quality_result(len(rows), len(days), worst[:sample_size], detail, [row["date"] for row in rows])


def reference_disagreement(
    engine: Engine, window: Window, tolerance: float = 0.01, *, sample_size: int = SAMPLE_SIZE
) -> QualityResult:
    """Stored closes of dollar-quoted pairs (``DOLLAR_QUOTES``) in ``window`` whose relative deviation from the
    coin's reference price that day, ``|close / price_usd - 1|``, exceeds ``tolerance``; largest deviations first.
    Only days with a reference price are compared."""
    deviation = sa.func.abs(daily_prices.c.close / reference_prices.c.price_usd - 1.0)
    scope = (
        sa.select(
            daily_prices.c.symbol,
            daily_prices.c.date,
            daily_prices.c.source,
            daily_prices.c.close,
            coins.c.coin_id,
            reference_prices.c.price_usd,
            deviation.label("deviation"),
        )
        .join(
            crypto,
            sa.and_(crypto.c.symbol == daily_prices.c.symbol, crypto.c.asset_class == daily_prices.c.asset_class),
        )
        .join(coins, coins.c.base == crypto.c.base)
        .join(
            reference_prices,
            sa.and_(reference_prices.c.coin_id == coins.c.coin_id, reference_prices.c.date == daily_prices.c.date),
        )
        .where(
            daily_prices.c.asset_class == "crypto",
            daily_prices.c.date.between(*window),
            crypto.c.quote.in_(DOLLAR_QUOTES),
            reference_prices.c.price_usd > 0,
        )
        .subquery("reconciled")
    )
    return evaluate_rows(
        engine,
        scope,
        scope.c.deviation > tolerance,
        order_by=[scope.c.deviation.desc(), scope.c.symbol, scope.c.date],
        sample_size=sample_size,
        what=f"dollar-quoted closes deviate from CoinGecko's price by more than {tolerance:.0%}",
        at="date",
    )
