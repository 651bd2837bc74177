"""``lumia collect``, ``lumia backfill`` and ``lumia gaps``: the price jobs on demand, recorded in the instance."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from lumia_assets import clock
from lumia_assets.calendars import calendar_dates
from lumia_assets.commands.output import engine as open_warehouse
from lumia_assets.commands.output import parse_day, print_json, print_table
from lumia_assets.commands.output import settings as load_settings
from lumia_assets.engine.feeds import CRYPTO_FEED, EQUITY_FEED, FEEDS, PriceFeed, recent_dates
from lumia_assets.settings import Settings

if TYPE_CHECKING:
    import dagster as dg

SUMMARY_KEYS = ("first_date", "last_date", "rows_written", "coverage_pct", "symbols_failed", "upstream_requests")


class AssetChoice(StrEnum):
    """Which price assets a command works on."""

    equity = "equity"
    crypto = "crypto"
    all = "all"

    def feeds(self) -> list[str]:
        return list(FEEDS) if self is AssetChoice.all else [self.value]


def closed_dates(feed: PriceFeed, start: date, end: date) -> list[date]:
    """The feed's dates from ``start`` to ``end``, cut at its latest closed date."""
    end = min(end, feed.last_closed(clock.utc_now()))
    return calendar_dates(feed.calendar, start, end) if start <= end else []


def latest_range(feed_name: str, now: datetime) -> tuple[date, date]:
    """What ``collect`` fills: up to the latest closed date, from the partition the freshness checks expect when
    that one is older (between a session's close and its deadline), so one collection makes a new instance fresh."""
    feed = FEEDS[feed_name]
    last = feed.last_closed(now)
    return min(feed.deadline.due_partition(now), last), last


def _run(
    job_name: str, tags: dict[str, str], instance: dg.DagsterInstance, run_config: dict[str, Any] | None = None
) -> dg.ExecuteInProcessResult:
    from lumia_assets.definitions import defs

    job = defs().resolve_job_def(job_name)
    return job.execute_in_process(instance=instance, tags=tags, run_config=run_config, raise_on_error=False)


def _summary(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    materializations = [e.event_specific_data.materialization for e in result.all_events if e.is_step_materialization]
    if not materializations:
        return {}
    metadata = materializations[-1].metadata
    return {key: metadata[key].value for key in SUMMARY_KEYS if key in metadata}


def _report(console: Console, label: str, result: dg.ExecuteInProcessResult) -> bool:
    status = "[green]ok[/green]" if result.success else "[red]FAILED[/red]"
    details = ", ".join(f"{k}={v}" for k, v in _summary(result).items())
    console.print(f"{label}: {status} (run {result.run_id}) {details}")
    return result.success


def _collect_range(console: Console, feed_name: str, first: date, last: date, instance: dg.DagsterInstance) -> bool:
    """The feed's closed dates ``first``..``last`` in one run; for crypto, then CoinGecko's coins and reference
    prices of the same days (and the check comparing the candles with them), as the daily schedules run them."""
    from lumia_assets.defs.prices.jobs import FEED_JOBS, crypto_reference_job, range_tags

    feed, job = FEED_JOBS[feed_name]
    dates = closed_dates(feed, first, last)
    if not dates:
        console.print(f"{feed_name}: nothing closed between {first} and {last}")
        return True
    span = f"{dates[0]}..{dates[-1]}"
    ok = _report(console, f"{feed_name} {span}", _run(job.name, range_tags(dates[0], dates[-1]), instance))
    if feed_name == CRYPTO_FEED.name:
        references = _run(crypto_reference_job.name, range_tags(dates[0], dates[-1]), instance)
        ok = _report(console, f"crypto reference prices {span}", references) and ok
    return ok


def _collect_hours(console: Console, settings: Settings, instance: dg.DagsterInstance) -> bool:
    """Fill the hourly candles of the hours the gap sensor watches (the last 48 due), in one run."""
    from lumia_assets.defs.prices.hourly import HOUR_FORMAT
    from lumia_assets.defs.prices.hourly_sensors import due_hours
    from lumia_assets.defs.prices.jobs import RANGE_END, RANGE_START, crypto_hourly_prices_job

    if not settings.hourly_candles:
        console.print("crypto hourly: off (LUMIA_HOURLY_CANDLES=false)")
        return True
    hours = due_hours(clock.utc_now(), settings)
    if not hours:
        console.print("crypto hourly: no hour due since LUMIA_HOURLY_START_DATE")
        return True
    first, last = (f"{hour:{HOUR_FORMAT}}" for hour in (hours[0], hours[-1]))
    result = _run(crypto_hourly_prices_job.name, {RANGE_START: first, RANGE_END: last}, instance)
    return _report(console, f"crypto hourly {first}..{last}", result)


def _publish_adjusted(console: Console, instance: dg.DagsterInstance) -> bool:
    """Materialize the derived series after the price runs (the daemon's eager automation does it otherwise)."""
    return _report(console, "adjusted prices", _run("adjusted_prices_job", {}, instance))


def collect(
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Re-fetch everything from the start date."),
    assets: Annotated[AssetChoice, typer.Option(help="Which prices to collect.")] = AssetChoice.all,
) -> None:
    """Refresh the universes, then fill the latest closed partitions and the one due by the freshness checks (or
    everything, with --full-refresh), and with crypto the hourly candles of the last 48 due hours (unless
    LUMIA_HOURLY_CANDLES=false)."""
    settings = load_settings()
    console = Console()
    from lumia_assets.instance import get_instance

    instance = get_instance()
    ok = _report(console, "universes", _run("universe_job", {}, instance))
    now = clock.utc_now()
    for name in assets.feeds():
        first, last = latest_range(name, now)
        ok = _collect_range(console, name, settings.prices_start if full_refresh else first, last, instance) and ok
    if assets is not AssetChoice.equity:
        ok = _collect_hours(console, settings, instance) and ok
    ok = _publish_adjusted(console, instance) and ok
    raise typer.Exit(0 if ok else 1)


def backfill(
    start: str = typer.Option(..., help="First date, YYYY-MM-DD."),
    end: str = typer.Option(..., help="Last date, YYYY-MM-DD (cut at the latest closed date)."),
    assets: Annotated[AssetChoice, typer.Option(help="Which prices to backfill.")] = AssetChoice.all,
) -> None:
    """Backfill a range of partitions in one run per asset: each symbol's range in as few requests as possible."""
    settings = load_settings()
    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    if first > last:
        raise typer.BadParameter(f"--start {first} is after --end {last}")
    if first < settings.prices_start:
        raise typer.BadParameter(f"--start {first} is before LUMIA_PRICES_START_DATE ({settings.prices_start})")
    console = Console()
    from lumia_assets.instance import get_instance

    instance = get_instance()
    ok = all([_collect_range(console, name, first, last, instance) for name in assets.feeds()])
    ok = _publish_adjusted(console, instance) and ok
    raise typer.Exit(0 if ok else 1)


SYMBOL_SAMPLE = 5  # missing symbols a table row shows without --symbols


def gap_rows(feed_names: list[str], start: date | None, end: date | None, settings: Settings) -> list[dict[str, Any]]:
    """Per feed and date with missing cells: expected, present and missing counts, and the missing symbols."""
    from lumia_assets.warehouse import repairs
    from lumia_assets.warehouse.gaps import missing_symbols, partition_gaps

    engine = open_warehouse(settings)
    rows: list[dict[str, Any]] = []
    for name in feed_names:
        feed = FEEDS[name]
        now = clock.utc_now()
        lookback = recent_dates(feed, settings, now)
        first = start or (lookback[0] if lookback else settings.prices_start)
        dates = closed_dates(feed, first, end or feed.last_closed(now)) if start or end else lookback
        counts = partition_gaps(engine, feed.asset_classes, dates, selection=settings.selection)
        given_up = repairs.unavailable(engine, feed.asset_classes, dates)
        given_up = dict(zip(given_up["date"], given_up["unavailable"], strict=True)) if not given_up.empty else {}
        gapped = counts[counts["missing"] > 0]
        symbols = missing_symbols(engine, feed.asset_classes, list(gapped["date"]), selection=settings.selection)
        for row in gapped.itertuples():
            rows.append({"assets": name, "date": row.date.isoformat(), "expected": int(row.expected),
                         "present": int(row.present), "missing": int(row.missing),
                         "unavailable": int(given_up.get(row.date, 0)),
                         "missing_symbols": symbols.get(row.date, [])})  # fmt: skip
    return rows


def symbols_shown(symbols: list[str], every: bool) -> str:
    """The missing symbols as a table cell: all of them, or the first ``SYMBOL_SAMPLE`` and how many more."""
    if every or len(symbols) <= SYMBOL_SAMPLE:
        return ", ".join(symbols)
    return f"{', '.join(symbols[:SYMBOL_SAMPLE])} (+{len(symbols) - SYMBOL_SAMPLE} more)"


def gaps(
    assets: Annotated[AssetChoice, typer.Option(help="Which prices to inspect.")] = AssetChoice.all,
    start: str | None = typer.Option(None, help="First date (default: LUMIA_GAP_LOOKBACK_DAYS ago)."),
    end: str | None = typer.Option(None, help="Last date (default: the latest closed date)."),
    every_symbol: bool = typer.Option(
        False, "--symbols", help=f"List every missing symbol (default: the first {SYMBOL_SAMPLE}; --json lists all)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
) -> None:
    """List the partitions with missing (symbol, date) cells of active symbols, naming the symbols. Exit 1 when there
    are any."""
    settings = load_settings()
    rows = gap_rows(
        assets.feeds(),
        parse_day(start, "--start") if start else None,
        parse_day(end, "--end") if end else None,
        settings,
    )
    if as_json:
        print_json(rows)
    else:
        shown = [row | {"symbols": symbols_shown(row["missing_symbols"], every_symbol)} for row in rows]
        columns = ["assets", "date", "expected", "present", "missing", "unavailable", "symbols"]
        print_table("Partitions with gaps", shown, columns)
    raise typer.Exit(1 if rows else 0)


def restate(
    symbols: str = typer.Option("", help="Comma-separated symbols (default: every one with a split or distribution)."),
    since: str = typer.Option("", help="Only symbols with an action on or after YYYY-MM-DD."),
) -> None:
    """Re-fetch and rewrite the whole history of the equities with a recorded split or distribution (one request
    each): after upgrading a warehouse written before the as-traded record, or to rebuild chosen symbols."""
    from lumia_assets.warehouse.adjustments import adjusted_symbols

    settings = load_settings()
    chosen = [s.strip() for s in symbols.split(",") if s.strip()]
    first = parse_day(since, "--since") if since else None
    plan = adjusted_symbols(open_warehouse(settings), EQUITY_FEED.asset_classes, first, chosen,
                            selection=settings.selection)  # fmt: skip
    console = Console()
    console.print(f"restating {len(plan)} symbols: {len(plan)} chart requests (one per symbol) over the history "
                  f"from {settings.prices_start}")  # fmt: skip
    config = {"ops": {"restate_prices": {"config": {"symbols": chosen, "since": since or None}}}}
    from lumia_assets.instance import get_instance

    instance = get_instance()
    ok = _report(console, "restate", _run("restate_job", {}, instance, run_config=config))
    ok = _publish_adjusted(console, instance) and ok
    raise typer.Exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    """Add the price commands to the ``lumia`` app."""
    app.command()(collect)
    app.command()(backfill)
    app.command()(gaps)
    app.command()(restate)
