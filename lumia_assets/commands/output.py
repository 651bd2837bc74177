"""Output shared by the health commands: JSON for machines, rich tables for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from lumia_assets.settings import Settings, SettingsError
from lumia_assets.warehouse.engine import WarehouseError, warehouse_engine


def settings() -> Settings:
    """The settings, or exit 2 naming the bad variable."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        typer.secho(f"configuration error: {exc}", err=True, fg="red")
        raise typer.Exit(2) from exc


def engine(current: Settings):
    """The warehouse engine (migrated on first use), or exit 2 saying why the warehouse cannot be opened."""
    try:
        return warehouse_engine(current.warehouse_url)
    except WarehouseError as exc:
        typer.secho(f"warehouse error: {exc}", err=True, fg="red")
        raise typer.Exit(2) from exc


def parse_day(value: str, option: str) -> date:
    """``value`` as a date, or a usage error naming ``option``."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD", param_hint=option) from exc


def print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


def print_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console().print(table)
