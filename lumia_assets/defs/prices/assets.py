"""The two daily price assets: equities (stocks, ETFs, funds) from Yahoo, crypto from the configured exchanges.

Both are partitioned by date, with symbols as a column. A run over a range of partitions fetches each symbol's
whole range in one go (``BackfillPolicy.single_run``), so a one-year backfill costs about one request per symbol.
"""

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import dagster as dg
from pydantic import Field
from sqlalchemy.engine import Engine

from lumia_assets import clock
from lumia_assets.calendars import calendar_dates
from lumia_assets.defs.api_notices import accepted
from lumia_assets.defs.metadata import fallback_metadata, peak_memory_mb, sample, tally_metadata, upstream_metadata
from lumia_assets.defs.prices.partitions import CRYPTO_PARTITIONS, EQUITY_PARTITIONS, window_dates
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.defs.universe.assets import crypto_universe, fund_universe, stock_universe
from lumia_assets.engine.batches import Fetch, Instrument, Tally
from lumia_assets.engine.collection import DEFAULT_BATCH_SIZE, CollectionReport, collect_prices
from lumia_assets.engine.feeds import CRYPTO_FEED, EQUITY_FEED, PriceFeed, venues
from lumia_assets.operations.coverage import recent_coverage
from lumia_assets.operations.plots import COVERAGE_SESSIONS, coverage_png, markdown_image
from lumia_assets.selection import PriceSelection
from lumia_assets.settings import Settings
from lumia_assets.sources.http import HttpClient
from lumia_assets.warehouse.gaps import missing_cells
from lumia_assets.warehouse.references import mapped_bases
from lumia_assets.warehouse.selection import unknown_includes
from lumia_assets.warehouse.store import active_symbols, count_prices, recently_priced

GROUP = "prices"
OWNERS = ["team:market-data"]
TABLE = "daily_prices"
RETRY = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
RECENTLY = timedelta(days=14)  # a symbol with a bar this recently is expected to have one again
# Stocks and ETFs are fetched before funds within an equity run.
CLASS_ORDER = {"stock": 0, "etf": 0, "mutual_fund": 1, "crypto": 2}


class PriceRunConfig(dg.Config):
    """Run options for a price materialization."""

    only_missing: bool = Field(
        default=False,
        description="Fetch only the symbols with missing cells in the range, or cells a fallback filled (gap repair).",
    )
    symbols: list[str] = Field(
        default_factory=list, description="Only these symbols (the gap sensor's due cells); empty: all of them."
    )
    batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE,
        gt=0,
        description=(
            "Symbols per write transaction (at most; long ranges use fewer, about 50,000 bars per batch): "
            "a killed run keeps whole batches."
        ),
    )
    min_success_rate: float = Field(
        default=0.95, ge=0.0, le=1.0, description="Fail the run when fewer symbols than this share got an answer."
    )


def closed_dates(dates: list[date], last_closed: date) -> list[date]:
    """The dates of ``dates`` whose bars have closed; asking only for unclosed ones is an error naming them."""
    closed = [day for day in dates if day <= last_closed]
    if dates and not closed:
        raise dg.Failure(
            description=f"{dates[0]}..{dates[-1]} has not closed yet (the latest closed date is {last_closed}); "
            "no partial bars are stored",
            allow_retries=False,
        )
    return closed


def instruments_to_collect(
    engine: Engine,
    feed: PriceFeed,
    sessions: list[date],
    only_missing: bool,
    selection: PriceSelection,
    exchanges: Sequence[str] = (),
) -> list[Instrument]:
    """Active instruments of the feed that ``selection`` prices, stocks and ETFs first; with ``only_missing``, those
    with gaps in ``sessions`` (a fallback's bar counts as a gap: the own sources are asked again). A selection of the
    top coins by market cap before any coin is mapped is an error, not an empty run."""
    if "crypto" in feed.asset_classes and selection.crypto_top_coins and not mapped_bases(engine):
        raise dg.Failure(
            description=f"LUMIA_CRYPTO_TOP_COINS={selection.crypto_top_coins} selects pairs by CoinGecko's market-cap "
            "rank, and no coin is mapped yet: materialize crypto_coins (crypto_reference_job) first",
            allow_retries=False,
        )
    active = active_symbols(engine, feed.asset_classes, selection=selection)
    if only_missing:
        gaps = missing_cells(engine, feed.asset_classes, sessions, selection=selection,
                             provisional=feed.fallback_sources)  # fmt: skip
        active = active.merge(gaps[["symbol", "asset_class"]].drop_duplicates(), on=["symbol", "asset_class"])
    active = active.assign(order=active["asset_class"].map(CLASS_ORDER)).sort_values(["order", "symbol"])
    return [
        Instrument(row["symbol"], row["asset_class"], feed.source_symbol(row), venues(row["exchanges"], exchanges))
        for _, row in active.iterrows()
    ]


def report_metadata(report: CollectionReport, engine: Engine, feed: PriceFeed, client: HttpClient) -> dict[str, Any]:
    """Materialization metadata under stable keys, so the UI can plot them over time."""
    rejected = report.rejected_rows
    return {
        "dagster/table_name": TABLE,
        "dagster/partition_row_count": report.rows_written,
        "dagster/row_count": count_prices(engine, feed.asset_classes),
        "rows_written": report.rows_written,
        "corporate_actions_written": report.actions_written,
        "first_date": str(report.sessions[0]) if report.sessions else "",
        "last_date": str(report.sessions[-1]) if report.sessions else "",
        "sessions": len(report.sessions),
        **tally_metadata(report),
        **fallback_metadata(report, feed.fallback_sources),
        "recently_priced_no_data_pct": round(100 * report.suspect_share, 2),
        "outage": report.outage,
        "restatements": len(report.restatements),
        "restated_symbols": report.restatements["symbol"].nunique(),
        "restatement_sample": sample(
            f"{r.symbol} {r.date} {r.what}: {r.old_value} -> {r.new_value}" for r in report.restatements.itertuples()
        ),
        "restatement_requests": report.refetches,
        "rejected_rows": len(rejected),
        "rejected_sample": sample(f"{r.symbol} {r.date}: {r.reason}" for r in rejected.itertuples()),
        **upstream_metadata(client),
        "peak_memory_mb": peak_memory_mb(),
    }


def coverage_heatmap(engine: Engine, feed: PriceFeed, settings: Settings) -> dict[str, dg.MetadataValue]:
    """The feed's coverage over the last ``COVERAGE_SESSIONS`` sessions as a heatmap the UI shows (a Markdown image
    under ``coverage_heatmap``); nothing when the selection prices none of the feed."""
    coverage = recent_coverage(engine, [feed], settings, clock.utc_now())
    if coverage.empty:
        return {}
    title = f"{feed.asset_name}: coverage of the last {COVERAGE_SESSIONS} sessions"
    return {"coverage_heatmap": dg.MetadataValue.md(markdown_image(coverage_png(coverage, title), title))}


def fail_below_success_rate(tally: Tally, min_success_rate: float, metadata: dict[str, Any]) -> None:
    """Fail the run when fewer symbols than ``min_success_rate`` got an answer; what was fetched is stored."""
    if tally.success_rate < min_success_rate:
        raise dg.Failure(
            description=f"{len(tally.failed)} of {tally.expected} symbols failed (success "
            f"{tally.success_rate:.1%} < {min_success_rate:.0%}); what was fetched is stored, the rest are "
            f"gaps: {metadata['failed_sample']}",
            metadata=metadata,
            # the gap sensor retries each failed cell on its own back-off; a step retry would re-fetch the whole
            # partition into the same storm a minute later
            allow_retries=False,
        )


def materialize_prices(
    context: dg.AssetExecutionContext,
    config: PriceRunConfig,
    feed: PriceFeed,
    engine: Engine,
    client: HttpClient,
    fetch: Fetch,
    exchanges: Sequence[str] = (),
) -> dg.MaterializeResult:
    """Collect the run's partitions for every instrument of ``feed`` the selection prices and describe what was
    written."""
    settings = Settings.from_env()
    last_closed = feed.last_closed(clock.utc_now())
    sessions = closed_dates(window_dates(context.partition_time_window, feed.calendar), last_closed)
    instruments = instruments_to_collect(engine, feed, sessions, config.only_missing, settings.selection, exchanges)
    if config.symbols:
        chosen = set(config.symbols)
        instruments = [instrument for instrument in instruments if instrument.symbol in chosen]
    unknown = unknown_includes(engine, settings.selection, feed.asset_classes)
    for symbol in unknown:
        context.log.warning(f"included but not listed by any directory: {symbol}")
    context.log.info(f"collecting {len(instruments)} symbols over {len(sessions)} dates: {sessions[0]}..{sessions[-1]}")
    report = collect_prices(
        engine,
        instruments,
        sessions,
        fetch,
        last_closed=last_closed,
        context_days=settings.restatement_lookback_days if feed.compares_history else 0,
        history=calendar_dates(feed.calendar, settings.prices_start, last_closed) if feed.compares_history else (),
        watched=recently_priced(engine, feed.asset_classes, sessions[0] - RECENTLY, sessions[0] - timedelta(days=1)),
        max_suspect_share=settings.no_data_alert_pct / 100,
        batch_size=config.batch_size,
        log=context.log,
    )
    metadata = {
        **report_metadata(report, engine, feed, client),
        "selection": settings.selection.describe(),
        "included_not_listed": len(unknown),
        "included_not_listed_sample": sample(str(symbol) for symbol in unknown),
    }
    if not config.symbols and sessions[-1] == last_closed:  # a run reaching the latest date, not a repair
        metadata |= coverage_heatmap(engine, feed, settings)
    if report.outage:
        raise dg.Failure(
            description=f"{report.suspect_share:.1%} of the {report.watched} symbols priced in the last "
            f"{RECENTLY.days} days answered no data (more than LUMIA_NO_DATA_ALERT_PCT): an upstream outage, not "
            f"facts. No symbol's status changed; the cells stay gaps for gap recovery: {metadata['failed_sample']}",
            metadata=metadata,
            allow_retries=False,  # the gap sensor repairs the day once the upstream is back; a retry now would not
        )
    fail_below_success_rate(report, config.min_success_rate, metadata)
    return dg.MaterializeResult(metadata=metadata)


def price_asset(priority: int, description: str, partitions: dg.PartitionsDefinition, deps: list, pool: str):
    """The decorator both price assets share."""
    with accepted(dg.BetaWarning):  # BackfillPolicy: one run per range, so one request per symbol, is the design
        return dg.asset(
            group_name=GROUP,
            owners=OWNERS,
            kinds={"python", "sql"},
            partitions_def=partitions,
            backfill_policy=dg.BackfillPolicy.single_run(),
            deps=deps,
            pool=pool,
            retry_policy=RETRY,
            tags={"dagster/priority": str(-priority)},
            description=description,
        )


@price_asset(
    10,
    "Daily OHLCV of every active US stock, ETF and mutual fund from Yahoo, as traded (un-adjusted for splits), "
    "with splits, dividends and capital gains, and Yahoo's adjusted close kept as a witness. One partition per "
    "NYSE session; symbols are a column. Adjusted series: adjusted_daily_prices.",
    EQUITY_PARTITIONS,
    [stock_universe, fund_universe],
    "yahoo",
)
def equity_daily_prices(
    context: dg.AssetExecutionContext, config: PriceRunConfig, warehouse: WarehouseResource, upstream: UpstreamResource
) -> dg.MaterializeResult:
    from lumia_assets.engine.equity_fetch import yahoo_fetch  # yfinance and curl_cffi load in equity steps only

    client = upstream.client()
    return materialize_prices(context, config, EQUITY_FEED, warehouse.engine(), client, yahoo_fetch(client))


@price_asset(
    20,
    "Daily UTC-day candles of every active crypto pair, from its primary exchange in LUMIA_CRYPTO_EXCHANGES "
    "(with LUMIA_CRYPTO_FALLBACKS=yahoo, a dollar pair every exchange failed for comes from Yahoo, source 'yahoo'). "
    "One partition per UTC day; symbols are a column.",
    CRYPTO_PARTITIONS,
    [crypto_universe],
    "crypto_exchanges",
)
def crypto_daily_prices(
    context: dg.AssetExecutionContext, config: PriceRunConfig, warehouse: WarehouseResource, upstream: UpstreamResource
) -> dg.MaterializeResult:
    from lumia_assets.engine.crypto_fetch import CryptoFetch  # ccxt loads in crypto steps only

    client = upstream.client()
    fetch = CryptoFetch(client, upstream.crypto_fallbacks)
    return materialize_prices(
        context, config, CRYPTO_FEED, warehouse.engine(), client, fetch, upstream.crypto_exchanges
    )
