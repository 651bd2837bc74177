"""``lumia export``: prices, actions or the universe out of the warehouse into Parquet, CSV or Feather."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lumia_assets.commands.output import engine as warehouse
from lumia_assets.commands.output import parse_day
from lumia_assets.commands.output import settings as load_settings
from lumia_assets.warehouse.reads import CHUNK_ROWS


class What(StrEnum):
    """What ``lumia export`` reads."""

    prices = "prices"
    actions = "actions"
    universe = "universe"


class Format(StrEnum):
    """The file formats ``lumia export`` writes."""

    parquet = "parquet"
    csv = "csv"
    feather = "feather"


def _listed(value: str) -> list[str] | None:
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or None


def export(
    out: Annotated[Path, typer.Option(help="The file to write (or the folder, with --partition-by).")],
    what: Annotated[What, typer.Option(help="What to export.")] = What.prices,
    fmt: Annotated[Format, typer.Option("--format", help="File format.")] = Format.parquet,
    symbols: str = typer.Option("", help="Comma-separated symbols as stored (BRK.B, BTC/USDT); default: all."),
    asset_classes: str = typer.Option("", help="Comma-separated: stock, etf, mutual_fund, crypto; default: all."),
    start: str | None = typer.Option(None, help="First date, YYYY-MM-DD (prices, actions)."),
    end: str | None = typer.Option(None, help="Last date, YYYY-MM-DD (prices, actions)."),
    adjusted: bool = typer.Option(False, help="Prices from the derived adjusted series instead of as traded."),
    partition_by: str | None = typer.Option(None, help="'year': a hive-partitioned Parquet folder."),
    chunk_rows: int = typer.Option(CHUNK_ROWS, min=1, help="Rows read and written at a time (bounds memory)."),
) -> None:
    """Export warehouse rows, streamed in chunks; the file appears under its name only once complete."""
    from lumia_assets.operations.exports import ExportError
    from lumia_assets.operations.exports import export as write_export
    from lumia_assets.warehouse.reads import (
        Selection,
        actions_query,
        count,
        prices_query,
        read_chunks,
        universe_query,
    )

    if adjusted and what is not What.prices:
        raise typer.BadParameter("--adjusted applies to --what prices only", param_hint="--adjusted")
    try:
        selection = Selection(
            _listed(symbols),
            parse_day(start, "--start") if start else None,
            parse_day(end, "--end") if end else None,
            _listed(asset_classes),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    query = {
        What.prices: lambda: prices_query(selection, adjusted),
        What.actions: lambda: actions_query(selection),
        What.universe: lambda: universe_query(selection),
    }[what]()
    engine = warehouse(load_settings())
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task(
            f"{what.value} -> {out.name}", total=count(engine, query) if console.is_terminal else None
        )
        try:
            result = write_export(
                read_chunks(engine, query, chunk_rows),
                query,
                fmt.value,
                out,
                partition_by,
                lambda rows: progress.advance(task, rows),
            )
        except ExportError as exc:
            raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"wrote {result.rows} rows of {what.value} to {result.path} ({result.files} file(s), {fmt.value})")


def register(app: typer.Typer) -> None:
    app.command()(export)
