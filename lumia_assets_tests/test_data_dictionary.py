"""The data dictionary's returns example (docs/data.md) runs against a real warehouse and gets a split and a dividend
right: no jump at the split, the dividend in the total return and not in the price return."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from lumia_assets.defs.prices.assets import equity_daily_prices
from lumia_assets_tests.defs.prices_helpers import (
    evening,
    load_universes,
    materialize,
    quiet_symbols,
    settings_for,
    stored_prices,
)

pytestmark = pytest.mark.slow
DATA_DICTIONARY = Path(__file__).resolve().parents[1] / "docs" / "data.md"
FIRST, SPLIT_ON, DIVIDEND_ON, LAST = date(2024, 9, 23), date(2024, 10, 3), date(2024, 10, 8), date(2024, 10, 15)


def returns_example() -> str:
    """The Python block under "Daily returns, correctly"."""
    section = DATA_DICTIONARY.read_text().split("## Daily returns, correctly", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, f"{DATA_DICTIONARY} has no Python example under 'Daily returns, correctly'"
    return match.group(1)


def _bar(bars: pd.DataFrame, symbol: str, day: date) -> pd.Series:
    return bars[(bars["symbol"] == symbol) & (pd.to_datetime(bars["date"]) == pd.Timestamp(day))].iloc[0]


def _previous_close(stored: pd.DataFrame, symbol: str, day: date) -> float:
    history = stored[(stored["symbol"] == symbol) & (pd.to_datetime(stored["date"]) < pd.Timestamp(day))]
    return float(history.sort_values("date")["close"].iloc[-1])


def test_the_returns_example_runs_and_handles_a_split_and_a_dividend(sim, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("LUMIA_WAREHOUSE_URL", warehouse_url)
    sim.set_clock(evening(LAST))
    splitter, payer = quiet_symbols(sim, "stock", 2, FIRST)
    sim.equities.add_split(splitter, SPLIT_ON, 2.0)
    cash = round(0.04 * sim.equities.as_traded_bars(payer, FIRST, FIRST)["close"].iloc[0], 4)
    sim.equities.add_dividend(payer, DIVIDEND_ON, cash)
    settings = settings_for(sim, warehouse_url)
    load_universes(settings)
    assert materialize(settings, [equity_daily_prices], FIRST, LAST).success

    scope: dict[str, object] = {}
    exec(compile(returns_example(), str(DATA_DICTIONARY), "exec"), scope)  # the documented example, as written

    bars, growth = scope["bars"], scope["growth"]
    stored = stored_prices(warehouse_url, ("stock",))
    split_day = _bar(stored, splitter, SPLIT_ON)
    expected = 2.0 * split_day["close"] / _previous_close(stored, splitter, SPLIT_ON) - 1  # a 2:1 split is no loss
    assert _bar(bars, splitter, SPLIT_ON)["price_return"] == pytest.approx(expected, rel=1e-9)
    assert _bar(bars, splitter, SPLIT_ON)["total_return"] == pytest.approx(expected, rel=1e-9)

    close, before = _bar(stored, payer, DIVIDEND_ON)["close"], _previous_close(stored, payer, DIVIDEND_ON)
    paid = _bar(bars, payer, DIVIDEND_ON)
    assert paid["price_return"] == pytest.approx(close / before - 1, rel=1e-9)
    assert paid["total_return"] == pytest.approx(close / (before - cash) - 1, rel=1e-9)  # Yahoo's method
    assert paid["total_return"] > paid["price_return"]
    assert set(growth.index) == set(bars["symbol"]) and growth.notna().all()


def test_the_data_dictionary_documents_every_table_and_view() -> None:
    from lumia_assets.warehouse.schema import metadata

    headings = re.findall(r"^### (.*)$", DATA_DICTIONARY.read_text(), re.MULTILINE)
    documented = {name for heading in headings for name in re.findall(r"`(\w+)`", heading.split(":")[0])}
    assert set(metadata.tables) - documented == set()
