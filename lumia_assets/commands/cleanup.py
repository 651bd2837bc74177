"""``lumia cleanup``: the monthly maintenance on demand (also ``maintenance_job`` on a monthly schedule)."""

from __future__ import annotations

from typing import Annotated

import typer

from lumia_assets.commands.output import engine, print_json, settings


def cleanup(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be deleted; delete nothing.")] = False,
    retention_days: Annotated[
        int | None,
        typer.Option("--retention-days", min=1, help="Keep runs younger than this (LUMIA_RUN_RETENTION_DAYS)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete orphaned rows, VACUUM/ANALYZE, prune Dagster runs and logs older than the retention. Never deletes
    price rows by age."""
    from lumia_assets.instance import get_instance
    from lumia_assets.operations.cleanup import cleanup as run_cleanup

    current = settings()
    report = run_cleanup(engine(current), get_instance(), retention_days or current.run_retention_days, dry_run)
    if json_output:
        print_json(report.as_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"orphaned rows {verb}: {sum(report.orphans.values())} {report.orphans}")
    typer.echo(f"duplicate bars: {report.duplicate_prices} (the primary key prevents them)")
    typer.echo(f"vacuum: {report.vacuum.statements if report.vacuum else 'skipped (dry run)'}")
    typer.echo(f"runs older than {report.retention_days} days {verb}: {len(report.pruned_runs)}")


def register(app: typer.Typer) -> None:
    app.command()(cleanup)
