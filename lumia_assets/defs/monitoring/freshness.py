"""Freshness: a ``FreshnessPolicy`` per asset, and per-partition freshness checks run by a sensor.

The policies look at the latest materialization of any partition, so a backfill of an old date satisfies them;
the partition checks don't: each asks whether the partition due by now (by the calendar) was materialized.

Why not ``build_time_partition_freshness_checks`` for the daily assets (the hourly candles, which have no
holidays, do use it): the equity partitions have ``end_offset=1`` and exclude holidays, so on a holiday evening
its "last partition" is the *next* session, and the check would fail every holiday. These checks compute the due
partition from the trading calendar instead, and emit the same ``dagster/fresh_until_timestamp`` metadata, so
``build_sensor_for_freshness_checks`` schedules them.
"""

from datetime import timedelta

import dagster as dg
from dagster._record import replace

from lumia_assets import clock
from lumia_assets.calendars import EQUITY_TIMEZONE
from lumia_assets.defs.api_notices import accepted
from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices
from lumia_assets.defs.prices.hourly import HOURLY_CANDLES_ON, crypto_hourly_prices
from lumia_assets.engine.deadlines import CRYPTO_DEADLINE, EQUITY_DEADLINE, PartitionDeadline
from lumia_assets.operations.freshness import evaluate_partition_freshness

# Universes refresh at 17:00 New York on weekdays (holidays too): due by 19:00.
UNIVERSE_POLICY = dg.FreshnessPolicy.cron(
    deadline_cron="0 19 * * 1-5", lower_bound_delta=timedelta(hours=24), timezone=EQUITY_TIMEZONE
)
# A UTC day's candles close at 00:00 and are collected at 00:15: due by 02:00.
CRYPTO_POLICY = dg.FreshnessPolicy.cron(deadline_cron="0 2 * * *", lower_bound_delta=timedelta(hours=2))
# A cron deadline cannot skip NYSE holidays, so equities get a window: the longest closure between two sessions
# (4 days, e.g. Friday to Tuesday over a Monday holiday) plus the 2 h from the 18:00 run to the 20:00 deadline.
# The partition check below is the precise one: it is due at 20:00 New York on every session.
EQUITY_POLICY = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=4, hours=2))
# An hour's candles close on the hour and are collected at :05: due by :15.
HOURLY_DEADLINE_CRON = "15 * * * *"
HOURLY_POLICY = dg.FreshnessPolicy.cron(deadline_cron=HOURLY_DEADLINE_CRON, lower_bound_delta=timedelta(minutes=15))
POLICIES = {
    "stock_universe": UNIVERSE_POLICY,
    "fund_universe": UNIVERSE_POLICY,
    "crypto_universe": UNIVERSE_POLICY,
    "equity_daily_prices": EQUITY_POLICY,
    "crypto_daily_prices": CRYPTO_POLICY,
    "crypto_hourly_prices": HOURLY_POLICY,
    # CoinGecko's witness: the coins with the daily reference run at 00:30 UTC, due with the candles by 02:00
    "crypto_coins": CRYPTO_POLICY,
    "crypto_reference_prices": CRYPTO_POLICY,
    # a view kept current by the price writer; its eager materialization follows every price run
    "adjusted_daily_prices": EQUITY_POLICY,
}


def with_freshness_policy(spec: dg.AssetSpec) -> dg.AssetSpec:
    """``spec`` with its policy from ``POLICIES``; an asset without one is an error naming it."""
    key = spec.key.to_user_string()
    if key not in POLICIES:
        raise KeyError(f"asset {key} has no freshness policy: add it to POLICIES in {__name__}")
    return spec.replace_attributes(freshness_policy=POLICIES[key])


def with_freshness_policies(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with every asset given its policy. Modules importing an asset list it again; the folder loader
    dedupes by identity, which mapping would break, so duplicates go first."""
    unique = replace(defs, assets=list({id(asset): asset for asset in defs.assets or []}.values()))
    with accepted(dg.PreviewWarning):  # map_asset_specs: the documented way to attach a policy to every spec
        return unique.map_asset_specs(func=with_freshness_policy)


def partition_freshness_check(asset: dg.AssetsDefinition, deadline: PartitionDeadline) -> dg.AssetChecksDefinition:
    """The check that the partition due by now arrived."""

    @dg.asset_check(
        asset=asset,
        name="latest_partition_fresh",
        description="The latest partition due by the calendar (equities 20:00 New York on NYSE sessions, crypto "
        "02:00 UTC the next day) has been materialized. Backfills of older dates don't count.",
    )
    def latest_partition_fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return evaluate_partition_freshness(context.instance, deadline, clock.utc_now())

    return latest_partition_fresh


# UTC hours have no holidays: Dagster's own check of the latest hourly partition, due at :15 (superseded by
# FreshnessPolicy, which looks at any partition: a backfill would mask a missing hour, as for the daily assets).
# It warns, and pages no one: a missed hour is the gap sensor's to repair within the hour.
with accepted(dg.SupersessionWarning):
    HOURLY_FRESHNESS_CHECKS = dg.build_time_partition_freshness_checks(
        assets=[crypto_hourly_prices], deadline_cron=HOURLY_DEADLINE_CRON, timezone="UTC"
    )
DAILY_FRESHNESS_CHECKS = [
    partition_freshness_check(equity_daily_prices, EQUITY_DEADLINE),
    partition_freshness_check(crypto_daily_prices, CRYPTO_DEADLINE),
]
FRESHNESS_CHECKS = [*DAILY_FRESHNESS_CHECKS, *(HOURLY_FRESHNESS_CHECKS if HOURLY_CANDLES_ON else [])]
# Dagster points freshness at FreshnessPolicy, which every asset has too; these checks are calendar-aware about
# the latest partition (a backfill must not mask a missing day), and this sensor is what evaluates them.
with accepted(dg.SupersessionWarning):
    freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=FRESHNESS_CHECKS, default_status=dg.DefaultSensorStatus.RUNNING
    )
