"""Jobs the schedules, the gap sensor and ``lumia collect``/``backfill`` launch, with their run priorities.

Dagster starts queued runs with a higher ``dagster/priority`` first: universes, then equities, then the hourly
crypto candles (an hour is due 15 minutes after it closes), then the daily crypto candles, then CoinGecko's
reference prices and the check comparing the daily candles with them.

Every job here runs in process (``in_process_executor``): a price job is one asset step and its check steps, which
wait for it, and the universe job three short directory downloads, so a process per step would only re-import the
code location for each (seconds, and ~200 MB, each) without running anything in parallel. The parallelism that
matters is inside the price step (its fetch threads) and across runs (the pools and the run queue).
"""

from datetime import date
from typing import Any, NamedTuple

import dagster as dg

from lumia_assets.defs.prices.adjusted import adjusted_daily_prices
from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices
from lumia_assets.defs.prices.checks import REFERENCE_AGREEMENT
from lumia_assets.defs.prices.hourly import crypto_hourly_prices
from lumia_assets.defs.reference.assets import crypto_coins, crypto_reference_prices
from lumia_assets.defs.universe.assets import crypto_universe, fund_universe, stock_universe
from lumia_assets.engine.feeds import CRYPTO_FEED, EQUITY_FEED, PriceFeed


def _priority(rank: int) -> dict[str, str]:
    """Run tags for a rank where lower goes first (10 before 20)."""
    return {"dagster/priority": str(-rank)}


def _job(name: str, selection: list[dg.AssetsDefinition] | dg.AssetSelection, rank: int, description: str) -> Any:
    """An in-process job of ``selection`` whose runs have priority ``rank`` (lower goes first)."""
    return dg.define_asset_job(name, selection=selection, tags=_priority(rank), executor_def=dg.in_process_executor,
                               description=description)  # fmt: skip


universe_job = _job("universe_job", [stock_universe, fund_universe, crypto_universe], 5,
                    "Refresh the stock, fund and crypto universes.")  # fmt: skip
equity_prices_job = _job("equity_prices_job", [equity_daily_prices], 10,
                         "Daily prices of stocks, ETFs and funds for a session or a range of sessions.")  # fmt: skip
crypto_hourly_prices_job = _job("crypto_hourly_prices_job", [crypto_hourly_prices], 15,
                                "Hourly crypto candles for a UTC hour or a range of hours.")  # fmt: skip
# the reference check waits for the day's reference prices, which crypto_reference_job fetches after this job
crypto_prices_job = _job("crypto_prices_job", dg.AssetSelection.assets(crypto_daily_prices)
                         - dg.AssetSelection.checks(REFERENCE_AGREEMENT), 20,
                         "Daily crypto candles for a UTC day or a range of days.")  # fmt: skip
crypto_reference_job = _job(
    "crypto_reference_job",
    dg.AssetSelection.assets(crypto_coins, crypto_reference_prices) | dg.AssetSelection.checks(REFERENCE_AGREEMENT),
    25,
    "CoinGecko's coins and reference prices for a UTC day or a range of days, and the check comparing the daily "
    "crypto candles with them.",
)
adjusted_prices_job = _job(
    "adjusted_prices_job",
    [adjusted_daily_prices],
    30,
    "Publish the derived adjusted series (re-deriving any symbol whose factors lag its actions).",
)
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


class FeedJob(NamedTuple):
    """A price feed with the job that materializes it."""

    feed: PriceFeed
    job: Any  # what define_asset_job returns (not exported by dagster)


FEED_JOBS: dict[str, FeedJob] = {
    EQUITY_FEED.name: FeedJob(EQUITY_FEED, equity_prices_job),
    CRYPTO_FEED.name: FeedJob(CRYPTO_FEED, crypto_prices_job),
}


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run materialize the partitions ``first``..``last``."""
    return {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}
