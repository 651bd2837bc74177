"""The derived series follows every price run: its automation condition fires with most history never collected."""

from __future__ import annotations

import dagster as dg

from lumia_assets.defs.prices.adjusted import adjusted_daily_prices
from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices

ASSETS = dg.Definitions(
    assets=[equity_daily_prices, crypto_daily_prices, adjusted_daily_prices],
    resources={"warehouse": dg.ResourceDefinition.none_resource(), "upstream": dg.ResourceDefinition.none_resource()},
)
TARGET = dg.AssetSelection.assets(adjusted_daily_prices)


def test_one_new_price_partition_requests_the_adjusted_series_although_earlier_ones_were_never_collected() -> None:
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=ASSETS, instance=instance, asset_selection=TARGET)
        instance.report_runless_asset_event(dg.AssetMaterialization(equity_daily_prices.key, partition="2024-10-01"))

        after_a_run = dg.evaluate_automation_conditions(
            defs=ASSETS, instance=instance, asset_selection=TARGET, cursor=first.cursor
        )
        again = dg.evaluate_automation_conditions(
            defs=ASSETS, instance=instance, asset_selection=TARGET, cursor=after_a_run.cursor
        )

    assert first.total_requested == 0  # nothing happened yet
    assert after_a_run.get_num_requested(adjusted_daily_prices.key) == 1
    assert again.total_requested == 0  # once per update
