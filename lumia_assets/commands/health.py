"""``lumia status``: health at a glance; exits 1 when anything is unhealthy, so cron and monitoring can use it."""

from __future__ import annotations

from typing import Annotated

import typer

from lumia_assets.commands.output import engine, print_json, print_table, settings

STATUS_COLUMNS = (
    "asset", "last_materialization", "age_hours", "fresh", "latest_partition", "latest_partition_filled",
    "coverage_pct", "gaps", "success_rate_7d_pct", "failing", "problems",
)  # fmt: skip


def status(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Per asset: freshness, latest partition, coverage, failing checks, gaps, 7-day success; and the database."""
    from lumia_assets.definitions import defs
    from lumia_assets.instance import get_instance
    from lumia_assets.operations.status import health_status

    current = settings()
    report = health_status(get_instance(), engine(current), current, defs())
    if json_output:
        print_json(report)
    else:
        rows = [
            {**a, "failing": ", ".join(c["check"] for c in a["failing_checks"]), "problems": "; ".join(a["problems"])}
            for a in report["assets"]
        ]
        print_table("lumia status", rows, STATUS_COLUMNS)
        database = report["database"]
        reachable = f"reachable, {database['size_bytes']} bytes" if database["reachable"] else database["error"]
        typer.echo(f"database ({database['backend']}): {reachable}")
        typer.echo(f"selection: {report['selection']['priced']}")
        for asset, setting in report["off"].items():
            typer.echo(f"off, not judged: {asset} ({setting})")
        for unknown in report["selection"]["included_not_listed"]:
            typer.secho(f"included but not listed: {unknown}", fg="yellow")
        typer.secho("healthy" if report["healthy"] else "UNHEALTHY", fg="green" if report["healthy"] else "red")
    if not report["healthy"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(status)
