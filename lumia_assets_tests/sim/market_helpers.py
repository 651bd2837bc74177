"""Picking instruments of the simulated equity market for tests."""

from __future__ import annotations

from lumia_assets.sim import MarketSimulator


def plain_symbol(sim: MarketSimulator, asset_class: str = "stock") -> str:
    """The first priced symbol of ``asset_class``, listed since the start, without any corporate action so far."""
    universe = sim.equities.universe()
    live = universe[~universe["test_issue"] & universe["asset_class"].eq(asset_class) & universe["listed_on"].isna()]
    return next(s for s in live["symbol"] if sim.equities.corporate_actions(s).empty)
