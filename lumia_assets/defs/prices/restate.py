"""``restate_job``: rebuild the as-traded record of every symbol with a recorded split or distribution.

A warehouse written before the as-traded record (migration 0002) holds bars split-adjusted as of their fetch day,
so one symbol's history can mix two bases. Restating re-fetches each such symbol's whole history in one request,
rewrites its bars, replaces its actions, and records every value that changed in ``restatements``.
"""

from datetime import date

import dagster as dg
from pydantic import Field

from lumia_assets import clock
from lumia_assets.calendars import calendar_dates
from lumia_assets.defs.metadata import sample, upstream_metadata
from lumia_assets.defs.prices.assets import instruments_to_collect
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.engine.collection import collect_prices
from lumia_assets.engine.feeds import EQUITY_FEED
from lumia_assets.settings import Settings
from lumia_assets.warehouse.adjustments import adjusted_symbols


class RestateConfig(dg.Config):
    """Which symbols to restate: by default every one with a recorded split or distribution."""

    symbols: list[str] = Field(default_factory=list, description="Only these symbols (default: all of them).")
    since: str | None = Field(default=None, description="Only symbols with an action on or after YYYY-MM-DD.")


def parse_since(raw: str | None) -> date | None:
    """The ``since`` option as a date; a bad value is an error naming it."""
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError as exc:
        raise dg.Failure(description=f"since={raw!r} is not a date; use YYYY-MM-DD", allow_retries=False) from exc


@dg.op(description="Re-fetch and rewrite the whole history of every equity with a recorded split or distribution.")
def restate_prices(
    context: dg.OpExecutionContext, config: RestateConfig, warehouse: WarehouseResource, upstream: UpstreamResource
) -> dg.Output[None]:
    from lumia_assets.engine.equity_fetch import yahoo_fetch  # yfinance loads in this step only

    settings, engine = Settings.from_env(), warehouse.engine()
    chosen = set(adjusted_symbols(engine, EQUITY_FEED.asset_classes, parse_since(config.since), config.symbols))
    last_closed = EQUITY_FEED.last_closed(clock.utc_now())
    history = calendar_dates("equity", settings.prices_start, last_closed)
    active = instruments_to_collect(engine, EQUITY_FEED, history, False, settings.selection)  # selected only
    instruments = [i for i in active if (i.symbol, i.asset_class) in chosen]
    context.log.info(f"restating {len(instruments)} symbols: {len(instruments)} chart requests, one per symbol")
    client = upstream.client()
    report = collect_prices(
        engine, instruments, history, yahoo_fetch(client), last_closed=last_closed, replace_actions=True,
        log=context.log,
    )  # fmt: skip
    changed = report.restatements
    return dg.Output(
        None,
        metadata={
            "symbols_restated": len(instruments),
            "rows_written": report.rows_written,
            "values_changed": len(changed),
            "symbols_changed": changed["symbol"].nunique(),
            "changes_sample": sample(
                f"{r.symbol} {r.date} {r.what}: {r.old_value} -> {r.new_value}" for r in changed.itertuples()
            ),
            "symbols_failed": len(report.failed),
            **upstream_metadata(client),
        },
    )


@dg.job(tags={"dagster/priority": "-40"}, description="Rebuild the as-traded record of the adjusted equities.")
def restate_job() -> None:
    restate_prices()
