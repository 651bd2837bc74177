"""Freshness: per-partition deadlines on the trading calendar, the policies, and the sensor that runs the checks."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from lumia_assets.definitions import defs
from lumia_assets.defs.monitoring.freshness import EQUITY_POLICY, freshness_checks_sensor
from lumia_assets.engine.deadlines import CRYPTO_DEADLINE, EQUITY_DEADLINE
from lumia_assets.operations.freshness import FRESH_UNTIL, evaluate_partition_freshness, policy_passes

EQUITY_KEY, CRYPTO_KEY = (dg.AssetKey(deadline.asset_name) for deadline in (EQUITY_DEADLINE, CRYPTO_DEADLINE))
NY, UTC = ZoneInfo("America/New_York"), ZoneInfo("UTC")


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def _materialize(instance: dg.DagsterInstance, key: dg.AssetKey, *partitions: str) -> None:
    for partition in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))


def test_it_fails_when_the_latest_session_is_missing_after_its_deadline(instance) -> None:
    _materialize(instance, EQUITY_KEY, "2024-06-03", "2024-06-04")

    before = evaluate_partition_freshness(instance, EQUITY_DEADLINE, datetime(2024, 6, 5, 19, 59, tzinfo=NY))
    after = evaluate_partition_freshness(instance, EQUITY_DEADLINE, datetime(2024, 6, 5, 20, 1, tzinfo=NY))

    assert before.passed and before.metadata["expected_partition"].value == "2024-06-04"
    assert not after.passed and after.severity == dg.AssetCheckSeverity.ERROR
    assert "2024-06-05" in after.description


def test_a_backfill_of_an_old_date_does_not_mask_the_missing_latest_partition(instance) -> None:
    _materialize(instance, EQUITY_KEY, "2024-06-04", "2023-01-03")  # the backfill comes last

    result = evaluate_partition_freshness(instance, EQUITY_DEADLINE, datetime(2024, 6, 5, 21, tzinfo=NY))

    assert not result.passed
    assert result.metadata["expected_partition"].value == "2024-06-05"


def test_a_first_evening_that_collected_its_own_session_warns_until_the_earlier_ones_are_backfilled(instance) -> None:
    _materialize(instance, EQUITY_KEY, "2024-06-05")  # the schedule's run on the first evening
    first_evening = datetime(2024, 6, 5, 18, 5, tzinfo=NY)  # due: 2024-06-04, before anything collected

    before_backfill = evaluate_partition_freshness(instance, EQUITY_DEADLINE, first_evening)
    _materialize(instance, EQUITY_KEY, "2024-06-03")  # the gap sensor backfills, all but 06-04
    still_missing = evaluate_partition_freshness(instance, EQUITY_DEADLINE, first_evening)

    assert not before_backfill.passed and before_backfill.severity == dg.AssetCheckSeverity.WARN
    assert "not yet backfilled" in before_backfill.description
    assert not still_missing.passed and still_missing.severity == dg.AssetCheckSeverity.ERROR


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (datetime(2024, 6, 9, 12, tzinfo=NY), "2024-06-07"),  # Sunday: Friday's session
        (datetime(2024, 7, 4, 21, tzinfo=NY), "2024-07-03"),  # Independence Day: the day before
        (datetime(2024, 5, 27, 23, tzinfo=NY), "2024-05-24"),  # Memorial Day (Monday): the Friday before
    ],
)
def test_it_passes_over_a_weekend_or_holiday(instance, now: datetime, due: str) -> None:
    _materialize(instance, EQUITY_KEY, due)

    result = evaluate_partition_freshness(instance, EQUITY_DEADLINE, now)

    assert result.passed, result.description
    assert result.metadata["expected_partition"].value == due


def test_a_passing_check_is_fresh_until_the_next_sessions_deadline(instance) -> None:
    _materialize(instance, EQUITY_KEY, "2024-07-03")

    result = evaluate_partition_freshness(instance, EQUITY_DEADLINE, datetime(2024, 7, 4, 21, tzinfo=NY))

    assert result.metadata[FRESH_UNTIL].value == datetime(2024, 7, 5, 20, tzinfo=NY).timestamp()


def test_a_crypto_day_is_due_at_two_utc_the_next_day(instance) -> None:
    _materialize(instance, CRYPTO_KEY, "2024-06-03")

    assert evaluate_partition_freshness(instance, CRYPTO_DEADLINE, datetime(2024, 6, 5, 1, 59, tzinfo=UTC)).passed
    late = evaluate_partition_freshness(instance, CRYPTO_DEADLINE, datetime(2024, 6, 5, 2, 1, tzinfo=UTC))
    assert (late.passed, late.metadata["expected_partition"].value) == (False, "2024-06-04")


def test_the_equity_policy_tolerates_a_long_weekend_but_not_a_missed_week() -> None:
    friday_run = datetime(2024, 5, 24, 18, 10, tzinfo=NY).timestamp()

    assert policy_passes(EQUITY_POLICY, friday_run, datetime(2024, 5, 28, 19, 0, tzinfo=NY))
    assert not policy_passes(EQUITY_POLICY, friday_run, datetime(2024, 5, 29, 19, 0, tzinfo=NY))


def test_every_asset_has_a_freshness_policy() -> None:
    specs = defs().resolve_all_asset_specs()
    assert specs and all(spec.freshness_policy is not None for spec in specs)


def test_the_sensor_requests_freshness_checks_never_run_before(instance) -> None:
    context = dg.build_sensor_context(instance=instance, definitions=defs())

    request = freshness_checks_sensor(context)

    assert {key.to_user_string() for key in request.asset_check_keys} == {
        "equity_daily_prices:latest_partition_fresh",
        "crypto_daily_prices:latest_partition_fresh",
        "crypto_hourly_prices:freshness_check",
    }
    assert freshness_checks_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert timedelta(0) < EQUITY_DEADLINE.due_after
