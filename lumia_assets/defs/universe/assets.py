"""The three universe assets: which instruments exist, kept in the warehouse's ``assets`` table."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from lumia_assets import clock
from lumia_assets.calendars import calendar_dates
from lumia_assets.defs.metadata import peak_memory_mb, sample, upstream_metadata
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.settings import Settings
from lumia_assets.sources.directories import fetch_fund_directory, fetch_stock_directory
from lumia_assets.sources.errors import MalformedResponseError, PermanentUpstreamError, UnknownExchangeError
from lumia_assets.sources.http import HttpClient
from lumia_assets.warehouse.contracts import FrameContractError
from lumia_assets.warehouse.engine import WarehouseError
from lumia_assets.warehouse.universe import UniverseChanges, UniverseShrinkError, sync_universe

GROUP = "universe"
OWNERS = ["team:market-data"]
# a retired symbol (still listed, "no data" for LUMIA_DELIST_AFTER_NO_DATA_SESSIONS) is asked again this often: a
# halted listing that trades again comes back
REPROBE_RETIRED_AFTER = timedelta(days=7)
# at most this share of the listing asked again a day, so a day's coverage dips by no more (the threshold is 95%)
REPROBE_SHARE = 0.01
RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


# Errors a retry cannot fix: bad configuration, a malformed or short directory, a refusing upstream.
PERMANENT_ERRORS = (
    WarehouseError,
    UnknownExchangeError,
    UniverseShrinkError,
    MalformedResponseError,
    PermanentUpstreamError,
    FrameContractError,
)


@contextmanager
def no_retry_for_permanent_errors(*also: type[Exception]) -> Iterator[None]:
    """Fail at once, with the error's own message, when retrying cannot help (``PERMANENT_ERRORS`` and ``also``);
    transient errors still retry."""
    try:
        yield
    except (*PERMANENT_ERRORS, *also) as exc:
        raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc


def _changes_metadata(changes: UniverseChanges, frame: pd.DataFrame) -> dict[str, Any]:
    by_class = frame["asset_class"].value_counts().to_dict()
    return {
        "dagster/row_count": changes.active_count,
        "active": changes.active_count,
        "added": len(changes.added),
        "removed": len(changes.removed),
        "reactivated": len(changes.reactivated),
        "added_sample": sample(changes.added),
        "removed_sample": sample(changes.removed),
        "reactivated_sample": sample(changes.reactivated),
        "absent_kept": len(changes.absent),
        "absent_kept_sample": sample(changes.absent),
        "retired_no_data": len(changes.retired),
        "retired_no_data_sample": sample(changes.retired),
        "reprobed_no_data": len(changes.reprobed),
        "reprobed_no_data_sample": sample(changes.reprobed),
        "renamed": len(changes.renamed),
        "renamed_sample": sample(f"{old} -> {new}" for old, new in changes.renamed),
        **{f"listed_{asset_class}": int(count) for asset_class, count in sorted(by_class.items())},
    }


def no_data_cutoff(calendar: str, sessions: int, now: datetime) -> date:
    """The day ``sessions`` sessions (of ``calendar``) before ``now``'s: a "no data" streak begun on or before it
    has lasted that many sessions."""
    today = now.date()
    days = calendar_dates(calendar, today - timedelta(days=2 * sessions + 10), today)
    return days[-sessions - 1] if len(days) > sessions else days[0]


def _sync(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    asset_classes: tuple[str, ...],
    frame: pd.DataFrame,
) -> UniverseChanges:
    settings, now = Settings.from_env(), clock.utc_now()
    calendar = "crypto" if asset_classes == ("crypto",) else "equity"
    changes = sync_universe(
        warehouse.engine(),
        context.asset_key.to_user_string(),
        asset_classes,
        frame,
        seen_at=datetime.now(UTC),
        absent_runs_to_remove=settings.delist_after_runs,
        no_data_before=no_data_cutoff(calendar, settings.delist_after_no_data_sessions, now),
        reprobe_before=now - REPROBE_RETIRED_AFTER,  # answers are stamped with lumia's clock
        reprobe_limit=max(1, int(len(frame) * REPROBE_SHARE)),
    )
    context.log.info(
        f"{changes.active_count} active; +{len(changes.added)} added, -{len(changes.removed)} removed, "
        f"{len(changes.reactivated)} reactivated, {len(changes.renamed)} renamed, {len(changes.retired)} retired "
        f"after answering no data for LUMIA_DELIST_AFTER_NO_DATA_SESSIONS sessions, {len(changes.reprobed)} retired "
        f"ones active again to be asked once more, {len(changes.absent)} missing "
        "but kept until they are missing from LUMIA_DELIST_AFTER_RUNS runs in a row"
    )
    return changes


def universe_asset(priority: int, description: str, pool: str | None = None):
    """The decorator every universe asset shares: group, owners, kinds, retries and run priority."""
    return dg.asset(
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "sql"},
        pool=pool,
        retry_policy=RETRY,
        # Dagster runs higher dagster/priority first; ranks 10, 15, 20 (stocks, funds, crypto) become -10, -15, -20.
        tags={"dagster/priority": str(-priority)},
        description=description,
    )


def _result(client: HttpClient, changes: UniverseChanges, frame: pd.DataFrame, **extra: Any) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            **_changes_metadata(changes, frame),
            **extra,
            **upstream_metadata(client),
            "peak_memory_mb": peak_memory_mb(),
        }
    )


@universe_asset(
    10,
    "US stocks and ETFs listed on NASDAQ, NYSE, NYSE American, NYSE Arca and Cboe, from the NASDAQ Trader "
    "symbol directory (nasdaqlisted.txt + otherlisted.txt). Test issues are dropped; Yahoo spellings kept.",
    pool="nasdaqtrader",
)
def stock_universe(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, upstream: UpstreamResource
) -> dg.MaterializeResult:
    client = upstream.client()
    with no_retry_for_permanent_errors():
        frame = fetch_stock_directory(client.requests_session())
        changes = _sync(context, warehouse, ("stock", "etf"), frame)
    return _result(client, changes, frame)


@universe_asset(
    15,
    "US mutual funds from the NASDAQ Trader fund list (mfundslist.txt), falling back to SEC's "
    "company_tickers_mf.json when the NASDAQ file is missing, empty or truncated.",
    pool="nasdaqtrader",
)
def fund_universe(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, upstream: UpstreamResource
) -> dg.MaterializeResult:
    client = upstream.client()
    with no_retry_for_permanent_errors():
        directory = fetch_fund_directory(client.requests_session())
        if directory.fallback_reason:
            context.log.warning(f"fund list taken from {directory.source}: {directory.fallback_reason}")
        changes = _sync(context, warehouse, ("mutual_fund",), directory.frame)
    return _result(
        client, changes, directory.frame, source=directory.source, fallback_reason=directory.fallback_reason or ""
    )


@universe_asset(
    20,
    "Active spot markets (BASE/QUOTE) on the ccxt exchanges in LUMIA_CRYPTO_EXCHANGES, primary first. "
    "Each pair records every exchange listing it and its primary exchange.",
)
def crypto_universe(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, upstream: UpstreamResource
) -> dg.MaterializeResult:
    from lumia_assets.sources.markets import fetch_crypto_universe  # ccxt loads in crypto steps only

    client = upstream.client()
    with no_retry_for_permanent_errors():
        frame = fetch_crypto_universe(upstream.crypto_exchanges, client.requests_session)
        changes = _sync(context, warehouse, ("crypto",), frame)
    listings = frame["exchanges"].str.split(",")
    per_exchange = {
        f"pairs_on_{exchange}": int(listings.apply(lambda ids, e=exchange: e in ids).sum())
        for exchange in upstream.crypto_exchanges
    }
    return _result(client, changes, frame, **per_exchange)
