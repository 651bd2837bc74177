"""Freshness alerts: an asset never collected is "not yet collected" and pages no one; a stale one still alerts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pytest

from lumia_assets.defs.monitoring.alerts import check_failure_alert
from lumia_assets.defs.monitoring.freshness import FRESHNESS_CHECKS, freshness_checks_sensor
from lumia_assets.defs.prices.hourly import HOURLY_PARTITIONS
from lumia_assets.engine.deadlines import CRYPTO_DEADLINE, EQUITY_DEADLINE
from lumia_assets_tests.engine.test_notifications import Receiver, receiving

EQUITY_KEY, CRYPTO_KEY = (dg.AssetKey(deadline.asset_name) for deadline in (EQUITY_DEADLINE, CRYPTO_DEADLINE))
PRICE_ASSETS = [
    *(dg.AssetSpec(deadline.asset_name) for deadline in (EQUITY_DEADLINE, CRYPTO_DEADLINE)),
    dg.AssetSpec("crypto_hourly_prices", partitions_def=HOURLY_PARTITIONS),
]


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A loopback webhook receiving every alert (LUMIA_ALERT_WEBHOOK_URL)."""
    with receiving(Receiver()) as receiver:
        monkeypatch.setenv("LUMIA_ALERT_WEBHOOK_URL", receiver.url)
        yield receiver


def _run_freshness_checks(instance: dg.DagsterInstance) -> dict[str, dg.AssetCheckEvaluation]:
    """Run every freshness check (both ``latest_partition_fresh`` and the hourly candles' ``freshness_check``), as
    ``freshness_checks_sensor`` has them run; by asset."""
    result = dg.materialize(
        [*PRICE_ASSETS, *FRESHNESS_CHECKS], instance=instance, selection=dg.AssetSelection.checks(*FRESHNESS_CHECKS)
    )
    return {evaluation.asset_key.to_user_string(): evaluation for evaluation in result.get_asset_check_evaluations()}


def test_a_never_collected_asset_pages_no_one_while_a_stale_one_alerts(instance, webhook) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(EQUITY_KEY, partition="2020-01-02"))
    context = dg.build_sensor_context(instance=instance)
    check_failure_alert(context)  # the first tick only sets the cursor

    evaluations = _run_freshness_checks(instance)
    check_failure_alert(dg.build_sensor_context(instance=instance, cursor=context.cursor))

    never = evaluations["crypto_daily_prices"]
    assert (never.passed, never.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert never.description.startswith("not yet collected: crypto_daily_prices was never materialized (partition ")
    [alert] = [request["json"]["alert"] for request in webhook.requests]
    assert (alert["asset"], alert["check"], alert["severity"]) == (
        "equity_daily_prices", "latest_partition_fresh", "ERROR",
    )  # fmt: skip
    assert alert["message"].endswith("and has not arrived")


def test_the_first_collection_runs_the_not_yet_collected_check_again_and_it_passes(instance) -> None:
    _run_freshness_checks(instance)  # a new instance: every check "not yet collected", nothing to run until it is
    crypto_check = dg.AssetCheckKey(CRYPTO_KEY, "latest_partition_fresh")
    assert isinstance(freshness_checks_sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)

    due = CRYPTO_DEADLINE.due_partition(datetime.now(UTC)).isoformat()
    instance.report_runless_asset_event(dg.AssetMaterialization(CRYPTO_KEY, partition=due))

    request = freshness_checks_sensor(dg.build_sensor_context(instance=instance))
    assert list(request.asset_check_keys) == [crypto_check]
    assert _run_freshness_checks(instance)["crypto_daily_prices"].passed
