"""CoinGecko as a witness: which coin each crypto base stands for (``crypto_coins``), and the coins' daily dollar
prices (``crypto_reference_prices``), which the reconciliation check compares the stored candles with.

Both run in ``crypto_reference_job`` after the daily crypto candles, under the ``coingecko`` pool: CoinGecko's free
tier allows 50 calls a minute, and the session layer keeps under it.
"""

from datetime import UTC, datetime
from functools import partial
from typing import Any

import dagster as dg
import requests

from lumia_assets import clock
from lumia_assets.calendars import last_closed_crypto_day
from lumia_assets.defs.api_notices import accepted
from lumia_assets.defs.metadata import peak_memory_mb, sample, tally_metadata, upstream_metadata
from lumia_assets.defs.prices.assets import RETRY, closed_dates, fail_below_success_rate
from lumia_assets.defs.prices.partitions import CRYPTO_PARTITIONS, window_dates
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.defs.universe.assets import crypto_universe, no_retry_for_permanent_errors
from lumia_assets.engine.coins import UnknownCoinError, candidate_ids, choose_coins
from lumia_assets.engine.references import ReferenceReport, collect_reference_prices
from lumia_assets.settings import Settings
from lumia_assets.sources.coingecko import coin_list, day_closes, key_headers, market_caps, oldest_served_day
from lumia_assets.sources.http import HttpClient
from lumia_assets.warehouse.references import CoinMapShrinkError, active_bases, reference_coins, replace_coins

GROUP = "reference"
OWNERS = ["team:market-data"]
POOL = "coingecko"
MIN_SUCCESS_RATE = 0.9  # below this share of coins answered, the run fails (what was fetched is stored)


def coingecko_session(client: HttpClient, settings: Settings) -> requests.Session:
    """A session for CoinGecko, carrying the demo key when ``LUMIA_COINGECKO_API_KEY`` is set."""
    return client.requests_session(key_headers(settings.coingecko_api_key))


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "sql"},
    deps=[crypto_universe],
    pool=POOL,
    retry_policy=RETRY,
    description="The CoinGecko coin each base currency of the active crypto pairs stands for, with its market cap "
    "and rank. CoinGecko's tickers are ambiguous: a mapping in LUMIA_COINGECKO_IDS wins, then the only coin with "
    "the ticker, then the one with the largest market cap; a base without one stays unmapped and is reported.",
)
def crypto_coins(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, upstream: UpstreamResource
) -> dg.MaterializeResult:
    settings, engine, client = Settings.from_env(), warehouse.engine(), upstream.client()
    session = coingecko_session(client, settings)
    bases = active_bases(engine)
    with no_retry_for_permanent_errors(UnknownCoinError, CoinMapShrinkError):
        listed = coin_list(session)
        caps = market_caps(session, sorted({*candidate_ids(bases, listed), *settings.coingecko_ids.values()}))
        choices = choose_coins(bases, listed, caps, settings.coingecko_ids, datetime.now(UTC))
        written = replace_coins(engine, choices.coins)
    unmapped = sample(f"{base} ({why})" for base, why in choices.unmapped.items())
    if choices.unmapped:
        context.log.warning(f"{len(choices.unmapped)} of {len(bases)} bases stand for no CoinGecko coin: {unmapped}")
    return dg.MaterializeResult(
        metadata={
            "dagster/table_name": "coins",
            "dagster/row_count": written,
            "bases": len(bases),
            "mapped": written,
            "ambiguous_tickers": choices.ambiguous,
            "resolved_by": dg.MetadataValue.json(choices.coins["resolved_by"].value_counts().to_dict()),
            "unmapped": len(choices.unmapped),
            "unmapped_sample": unmapped,
            **upstream_metadata(client),
        }
    )


def reference_metadata(report: ReferenceReport, client: HttpClient, coins: int) -> dict[str, Any]:
    """Materialization metadata under stable keys, so the UI can plot them over time."""
    return {
        "dagster/table_name": "reference_prices",
        "dagster/partition_row_count": report.rows_written,
        "rows_written": report.rows_written,
        "coins": coins,
        "first_date": str(report.days[0]) if report.days else "",
        "last_date": str(report.days[-1]) if report.days else "",
        **tally_metadata(report),
        **upstream_metadata(client),
        "peak_memory_mb": peak_memory_mb(),
    }


with accepted(dg.BetaWarning):  # backfill_policy: one run per range, so one call per coin
    reference_asset = dg.asset(
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "sql"},
        partitions_def=CRYPTO_PARTITIONS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[crypto_coins],
        pool=POOL,
        retry_policy=RETRY,
        description="CoinGecko's dollar price, 24-hour volume and market cap of the LUMIA_COINGECKO_MAX_COINS "
        "largest coins with a dollar-quoted pair (USD, USDT, USDC) the selection prices, at the end of each UTC "
        "day (its 00:00 UTC point of the next day). A witness for crypto_daily_prices, never a source of candles.",
    )


@reference_asset
def crypto_reference_prices(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, upstream: UpstreamResource
) -> dg.MaterializeResult:
    settings, engine, client = Settings.from_env(), warehouse.engine(), upstream.client()
    days = closed_dates(window_dates(context.partition_time_window, "crypto"),
                        last_closed_crypto_day(clock.utc_now()))  # fmt: skip
    oldest = oldest_served_day(clock.utc_now().date())
    served = [day for day in days if day >= oldest]
    if len(served) < len(days):
        context.log.warning(f"{len(days) - len(served)} days before {oldest} are not fetched: CoinGecko's public and "
                            "demo plans serve only the past 365 days")  # fmt: skip
    coins = reference_coins(engine, settings.selection, settings.coingecko_max_coins)
    fetch = partial(day_closes, coingecko_session(client, settings))
    context.log.info(f"reference prices of {len(coins)} coins over {len(served)} days")
    report = collect_reference_prices(engine, list(coins["coin_id"]), served, fetch, log=context.log)
    metadata = {**reference_metadata(report, client, len(coins)), "days_not_served": len(days) - len(served)}
    fail_below_success_rate(report, MIN_SUCCESS_RATE, metadata)
    return dg.MaterializeResult(metadata=metadata)
