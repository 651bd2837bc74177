"""Funds whose dividend includes the capital gain, through the real yfinance client against the full-size
simulator: every such gain is recognised, whatever the NAV did that day, and the derived adjusted close is Yahoo's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import numpy as np
import pandas as pd
import pytest

from lumia_assets.adjustments import cumulative_factors, factors_on
from lumia_assets.sim import MarketSimulator, SimConfig
from lumia_assets.sources.http import HttpClient
from lumia_assets.sources.yahoo import configure_yfinance, fetch_yahoo_history

pytestmark = pytest.mark.slow
AS_OF, FIRST = date(2026, 11, 30), date(2018, 1, 2)
FUNDS = 60  # of the default universe's funds with a gain inside a dividend; 7 of them fooled the NAV-drop rule


@pytest.fixture(scope="module")
def full_size() -> Iterator[MarketSimulator]:
    sim = MarketSimulator(SimConfig(as_of=AS_OF))
    sim.start()
    yield sim
    sim.stop()


def _gains_inside(actions: pd.DataFrame) -> set[date]:
    return set(actions.loc[(actions["action"] == "capital_gain") & actions["in_dividend"], "date"])


def test_every_gain_inside_a_dividend_is_recognised_and_the_adjusted_close_is_yahoos(full_size, tmp_path) -> None:
    configure_yfinance(tmp_path / "yfinance")
    session = HttpClient(full_size.url, timeout=10).yfinance_session()
    universe = full_size.equities.universe().query("asset_class == 'mutual_fund'").set_index("symbol")
    funds = [s for s in universe.index if full_size.equities.corporate_actions(s)["in_dividend"].any()][:FUNDS]
    assert len(funds) == FUNDS

    wrong = {}
    for symbol in funds:
        history = fetch_yahoo_history(session, symbol, universe.loc[symbol, "yahoo_symbol"], "mutual_fund", FIRST,
                                      AS_OF)  # fmt: skip
        closes = pd.Series(history.bars["close"].to_numpy(), index=history.bars["date"])
        factors = factors_on(list(history.bars["date"]), cumulative_factors(history.actions, closes))
        derived = closes.to_numpy() * factors["split_factor"].to_numpy() * factors["dividend_factor"].to_numpy()
        gap = float(np.nanmax(np.abs(derived / history.bars["served_adj_close"].to_numpy() - 1)))
        missed = _gains_inside(full_size.equities.corporate_actions(symbol)) ^ _gains_inside(history.actions)
        if missed or gap > 1e-6:
            wrong[symbol] = (sorted(missed), gap)

    assert wrong == {}
