"""``lumia plot SYMBOL``: one symbol's price history, as traded or adjusted, as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lumia_assets.commands.output import engine as warehouse
from lumia_assets.commands.output import parse_day
from lumia_assets.commands.output import settings as load_settings


def plot(
    symbol: Annotated[str, typer.Argument(help="The symbol, any spelling: BRK.B, BRK-B, BTC/USDT.")],
    out: Annotated[Path | None, typer.Option(help="The PNG to write (default: SYMBOL.png here).")] = None,
    start: str | None = typer.Option(None, help="First date, YYYY-MM-DD (default: the first stored)."),
    end: str | None = typer.Option(None, help="Last date, YYYY-MM-DD (default: the last stored)."),
    adjusted: bool = typer.Option(False, help="The derived adjusted close instead of the close as traded."),
) -> None:
    """Draw SYMBOL's close over its volume from the warehouse."""
    from lumia_assets.operations.plots import price_png, write_png
    from lumia_assets.selection import spellings
    from lumia_assets.warehouse.reads import Selection, prices_query, read

    first, last = (
        parse_day(value, option) if value else None for value, option in ((start, "--start"), (end, "--end"))
    )
    looked_up = spellings(symbol)
    bars = read(warehouse(load_settings()), prices_query(Selection(looked_up, first, last), adjusted))
    if bars.empty:
        raise typer.BadParameter(f"no bars stored for {symbol} (looked up as {' or '.join(looked_up)})")
    instruments = sorted(set(zip(bars["symbol"], bars["asset_class"], strict=True)))
    if len(instruments) > 1:
        raise typer.BadParameter(f"{symbol} names {len(instruments)} instruments: {instruments}; spell it exactly")
    stored = instruments[0][0]
    path = write_png(price_png(bars, stored, adjusted), out or Path(f"{stored.replace('/', '-')}.png"))
    typer.echo(f"{stored}: {len(bars)} bars, {bars['date'].iloc[0]} to {bars['date'].iloc[-1]}, written to {path}")


def register(app: typer.Typer) -> None:
    app.command()(plot)
