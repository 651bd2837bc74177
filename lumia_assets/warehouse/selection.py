"""A price selection in SQL: which ``assets`` rows it prices, and which of its included symbols no directory lists.

Every symbol is a bound (expanding) parameter. A symbol matches under any of its spellings, against lumia's own
symbol or Yahoo's (``BRK-B`` finds ``BRK.B``); the full selection adds no condition at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lumia_assets.selection import PriceSelection, spellings
from lumia_assets.warehouse.schema import assets, coins, crypto


def _named(symbols: Sequence[str]) -> sa.ColumnElement[bool]:
    return sa.or_(assets.c.symbol.in_(list(symbols)), sa.func.coalesce(assets.c.yahoo_symbol, "").in_(list(symbols)))


def _pairs_of(selection: PriceSelection) -> sa.ColumnElement[bool]:
    pairs = crypto.alias("selected_pairs")  # the outer query may join ``crypto`` itself
    pair = [pairs.c.symbol == assets.c.symbol, pairs.c.asset_class == assets.c.asset_class]
    if selection.crypto_quotes:
        pair.append(pairs.c.quote.in_(list(selection.crypto_quotes)))
    if selection.crypto_bases:
        pair.append(pairs.c.base.in_(list(selection.crypto_bases)))
    if selection.crypto_top_coins:
        pair.append(
            pairs.c.base.in_(sa.select(coins.c.base).where(coins.c.market_cap_rank <= selection.crypto_top_coins))
        )
    return sa.select(pairs.c.symbol).where(*pair).exists()


def selected(selection: PriceSelection, asset_classes: Sequence[str]) -> sa.ColumnElement[bool]:
    """The condition on ``assets`` of the instruments of ``asset_classes`` the selection prices."""
    if selection.everything:
        return assets.c.asset_class.in_(list(asset_classes))
    per_class = []
    for asset_class in selection.classes_of(list(asset_classes)):
        conditions: list[sa.ColumnElement[bool]] = [assets.c.asset_class == asset_class]
        included, excluded = selection.included(asset_class), selection.excluded(asset_class)
        if included is not None:
            conditions.append(_named(included))
        if excluded:
            conditions.append(~_named(excluded))
        if asset_class == "crypto" and (
            selection.crypto_quotes or selection.crypto_bases or selection.crypto_top_coins
        ):
            conditions.append(_pairs_of(selection))
        per_class.append(sa.and_(*conditions))
    return sa.or_(*per_class) if per_class else sa.false()


@dataclass(frozen=True)
class UnknownSymbol:
    """An included symbol no directory lists in the classes its list covers, and the spellings looked up."""

    symbol: str
    setting: str
    looked_up: tuple[str, ...]
    asset_classes: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.symbol} ({self.setting}): no {'/'.join(self.asset_classes)} listed as {' or '.join(self.looked_up)}"
        )


def unknown_includes(
    engine: Engine, selection: PriceSelection, asset_classes: Sequence[str] | None = None
) -> list[UnknownSymbol]:
    """The included symbols that no directory lists (active or not) under any spelling in the priced classes their
    list covers; with ``asset_classes``, those whose list covers one of them."""
    if not selection.includes:
        return []
    wanted = sorted({spelling for symbols in selection.includes for symbol in symbols.symbols
                     for spelling in spellings(symbol)})  # fmt: skip
    query = sa.select(assets.c.symbol, assets.c.yahoo_symbol, assets.c.asset_class).where(
        assets.c.asset_class.in_(list(selection.asset_classes)), _named(wanted)
    )
    with engine.connect() as conn:
        known = {(name, row.asset_class) for row in conn.execute(query) for name in (row.symbol, row.yahoo_symbol)}
    unknown = []
    for symbols in selection.includes:
        classes = tuple(c for c in selection.asset_classes if symbols.applies_to(c))
        for symbol in symbols.symbols:
            looked_up = spellings(symbol)
            relevant = asset_classes is None or set(classes) & set(asset_classes)
            if relevant and not any((name, asset_class) in known for name in looked_up for asset_class in classes):
                unknown.append(UnknownSymbol(symbol, symbols.setting, looked_up, classes))
    return unknown
