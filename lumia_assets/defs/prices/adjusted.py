"""The derived adjusted series: a view over the as-traded bars and the adjustment record, never a stored copy.

``adjusted_prices`` is created by the warehouse migrations and kept current by the price writer, which rebuilds
a symbol's factor segments in the same transaction as its bars and actions. This asset puts it in the lineage
(downstream of both price assets), re-derives any symbol whose factors lag its actions (a warehouse upgraded from
an earlier version), and publishes the view's columns.
"""

import dagster as dg
import sqlalchemy as sa

from lumia_assets.defs.prices.assets import GROUP, OWNERS, crypto_daily_prices, equity_daily_prices
from lumia_assets.defs.resources import WarehouseResource
from lumia_assets.warehouse.adjustments import refresh_adjustment_factors, stale_factor_keys
from lumia_assets.warehouse.schema import adjustment_factors, restatements

VIEW = "adjusted_prices"
COLUMNS = dg.TableSchema(
    columns=[
        dg.TableColumn("symbol", "string", description="the listing's spelling (BRK.B, BTC/USDT)"),
        dg.TableColumn("asset_class", "string", description="stock, etf, mutual_fund or crypto"),
        dg.TableColumn("date", "date", description="the session date in New York (crypto: the UTC day)"),
        dg.TableColumn("open", "float", description="split-adjusted open (high, low, close likewise)"),
        dg.TableColumn("volume", "float", description="split-adjusted volume"),
        dg.TableColumn("adj_close", "float", description="close adjusted for splits and every distribution since"),
        dg.TableColumn("split_factor", "float", description="price multiplier for the splits after the date"),
        dg.TableColumn("dividend_factor", "float", description="Yahoo-style factor for the distributions after it"),
    ]
)
REFRESH_BATCH = 500


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"sql"},
    deps=[equity_daily_prices, crypto_daily_prices],
    # eager, except that it waits for no missing parent partition: history before LUMIA_PRICES_START_DATE is
    # never collected, so a plain eager() would never fire
    automation_condition=dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing()),
    description="Adjusted daily prices, derived on read: the view adjusted_prices joins every as-traded bar to the "
    "cumulative split and distribution factors of its date. A new dividend changes every earlier derived value "
    "without rewriting a bar.",
)
def adjusted_daily_prices(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    engine = warehouse.engine()
    stale = sorted(stale_factor_keys(engine))
    for first in range(0, len(stale), REFRESH_BATCH):
        with engine.begin() as conn:
            refresh_adjustment_factors(conn, stale[first : first + REFRESH_BATCH])
    if stale:
        context.log.info(f"re-derived the factors of {len(stale)} symbols whose actions were newer")
    with engine.connect() as conn:
        symbols, segments = conn.execute(
            sa.select(sa.func.count(sa.distinct(adjustment_factors.c.symbol)), sa.func.count()).select_from(
                adjustment_factors
            )
        ).one()
        restated = conn.execute(sa.select(sa.func.count()).select_from(restatements)).scalar_one()
    return dg.MaterializeResult(
        metadata={
            "dagster/table_name": VIEW,
            "dagster/column_schema": COLUMNS,
            "symbols_adjusted": int(symbols),
            "factor_segments": int(segments),
            "symbols_re_derived": len(stale),
            "restatements_recorded": int(restated),
        }
    )


# Its own automation sensor, running by default (Dagster's default one starts stopped): the published series
# follows every price run without an operator turning anything on.
adjusted_prices_automation = dg.AutomationConditionSensorDefinition(
    "adjusted_prices_automation",
    target=dg.AssetSelection.assets(adjusted_daily_prices),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Materializes adjusted_daily_prices after the price assets update (its eager automation condition).",
)
