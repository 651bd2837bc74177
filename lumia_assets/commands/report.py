"""``lumia report assets|daily|weekly|restatements``: inventory, a day's runs, 7-day trends, and what the upstreams
restated (``--json`` for machines)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from lumia_assets import clock
from lumia_assets.commands.output import engine, parse_day, print_json, print_table, settings
from lumia_assets.operations.plots import COVERAGE_SESSIONS, coverage_png, weekly_png, write_png
from lumia_assets.warehouse.reports import INVENTORY_COLUMNS, inventory
from lumia_assets.warehouse.restatements import RECORDED_COLUMNS, recorded_restatements

report_app = typer.Typer(help="Reports over the warehouse and the Dagster run history.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _day(value: str | None) -> date:
    return parse_day(value, "--date") if value is not None else datetime.now(UTC).date()


@report_app.command("assets")
def assets_report(json_output: JsonOption = False) -> None:
    """Inventory by asset class and exchange: active/inactive, price coverage, first and last date."""
    rows = inventory(engine(settings()))
    print_json({"assets": rows}) if json_output else print_table("assets", rows, INVENTORY_COLUMNS)


@report_app.command("daily")
def daily(
    day: Annotated[str | None, typer.Option("--date", help="UTC day, YYYY-MM-DD (default: today).")] = None,
    json_output: JsonOption = False,
) -> None:
    """That day's runs: durations, rows, requests, 429s, errors and failed checks."""
    from lumia_assets.instance import get_instance
    from lumia_assets.operations.run_reports import COUNTERS, daily_report

    report = daily_report(get_instance(), _day(day))
    if json_output:
        print_json(report)
        return
    columns = ("job", "status", "partitions", "duration_s", *COUNTERS, "coverage_pct", "failed_checks")
    print_table(f"runs on {report['date']}", report["runs"], columns)
    typer.echo(", ".join(f"{key}: {value}" for key, value in report["totals"].items()))


@report_app.command("weekly")
def weekly(
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write a PNG chart here.")] = None,
    json_output: JsonOption = False,
) -> None:
    """7-day trends of success rate, coverage, rows, run time and peak memory."""
    from lumia_assets.instance import get_instance
    from lumia_assets.operations.run_reports import TRENDS, weekly_report

    report = weekly_report(get_instance(), datetime.now(UTC).date())
    if plot is not None:
        write_png(weekly_png(report, TRENDS), plot)
    if json_output:
        print_json(report)
    else:
        print_table(f"week {report['start']} to {report['end']}", report["days"], ("date", "runs", *TRENDS))
        if plot is not None:
            typer.echo(f"chart written to {plot}")


@report_app.command("coverage")
def coverage_report(
    sessions: Annotated[int, typer.Option(min=1, help="How many NYSE sessions back.")] = COVERAGE_SESSIONS,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write the heatmap PNG here.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Price coverage per asset class and date of the selection over the last sessions (a heatmap with --plot)."""
    from lumia_assets.engine.feeds import FEEDS
    from lumia_assets.operations.coverage import recent_coverage

    current = settings()
    coverage = recent_coverage(engine(current), list(FEEDS.values()), current, clock.utc_now(), sessions)
    if plot is not None:
        write_png(coverage_png(coverage, f"lumia coverage, last {sessions} sessions"), plot)
    rows = coverage.assign(date=coverage["date"].astype(str)).to_dict("records")
    if json_output:
        print_json({"sessions": sessions, "coverage": rows})
        return
    gapped = [row for row in rows if row["present"] < row["expected"]]
    print_table(
        f"dates with missing bars, last {sessions} sessions", gapped, ("asset_class", "date", "expected", "present")
    )
    if plot is not None:
        typer.echo(f"heatmap written to {plot}")


@report_app.command("restatements")
def restatements_report(
    days: Annotated[int, typer.Option("--days", min=1, help="How many days back (default: 7).")] = 7,
    json_output: JsonOption = False,
) -> None:
    """What the upstreams restated: each changed bar value or corporate action, with its old and new value."""
    since = datetime.now(UTC) - timedelta(days=days)
    rows = recorded_restatements(engine(settings()), since)
    if json_output:
        print_json({"since": since.isoformat(), "restatements": rows})
    else:
        print_table(f"restatements since {since:%Y-%m-%d %H:%M} UTC", rows, RECORDED_COLUMNS)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
