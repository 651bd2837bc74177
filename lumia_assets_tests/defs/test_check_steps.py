"""A range run's check verdict per partition: a failing unit's date or hour fails the partitions it falls in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from lumia_assets.defs.check_steps import failing_partitions, per_partition
from lumia_assets.defs.prices.hourly import HOURLY_PARTITIONS
from lumia_assets.defs.prices.partitions import CRYPTO_PARTITIONS, EQUITY_PARTITIONS

SESSIONS = ["2024-06-28", "2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05"]  # NYSE closed on 07-04


def _hours(first: datetime, count: int) -> list[str]:
    return [f"{first + timedelta(hours=n):%Y-%m-%d-%H:%M}" for n in range(count)]


def test_a_failing_date_fails_its_session_and_a_date_outside_the_range_none() -> None:
    failing = frozenset({date(2024, 7, 1), date(2024, 7, 4), date(2024, 6, 30), date(2024, 8, 1)})
    assert failing_partitions(EQUITY_PARTITIONS, SESSIONS, failing) == {"2024-07-01"}
    assert failing_partitions(EQUITY_PARTITIONS, SESSIONS, frozenset()) == set()
    assert failing_partitions(EQUITY_PARTITIONS, SESSIONS, None) is None  # the check did not tell the dates apart


def test_a_failing_day_fails_its_24_hours_and_a_failing_hour_only_itself() -> None:
    keys = _hours(datetime(2024, 3, 9, 20, tzinfo=UTC), 48)  # across the night US clocks changed: UTC hours don't
    assert failing_partitions(HOURLY_PARTITIONS, keys, frozenset({date(2024, 3, 10)})) == set(
        _hours(datetime(2024, 3, 10, tzinfo=UTC), 24)
    )
    hour = datetime(2024, 3, 10, 7, tzinfo=UTC)
    assert failing_partitions(HOURLY_PARTITIONS, keys, frozenset({hour})) == {"2024-03-10-07:00"}
    assert failing_partitions(CRYPTO_PARTITIONS, ["2024-03-09", "2024-03-10"], frozenset({hour})) == {"2024-03-10"}


def test_each_partition_gets_its_own_verdict_and_the_count_of_failing_ones() -> None:
    result = dg.AssetCheckResult(asset_key=dg.AssetKey("prices"), check_name="sanity", passed=False,
                                 metadata={"failing": 2}, description="2 of 9 bars")  # fmt: skip
    evaluations = list(per_partition(result, SESSIONS[:3], True, {"2024-07-01"}))
    assert [(e.partition, e.passed) for e in evaluations] == [
        ("2024-06-28", True), ("2024-07-01", False), ("2024-07-02", True)
    ]  # fmt: skip
    assert all(e.blocking and e.metadata["failing_partitions"].value == 1 for e in evaluations)

    untold = list(per_partition(result, SESSIONS[:3], True, None))
    assert [e.passed for e in untold] == [False, False, False]  # the range's verdict on every partition
    passed = dg.AssetCheckResult(asset_key=dg.AssetKey("prices"), check_name="sanity", passed=True)
    assert all(e.passed for e in per_partition(passed, SESSIONS, False, set()))
