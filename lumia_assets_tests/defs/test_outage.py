"""An outage is not the truth: a day on which Yahoo answers "no data" for (nearly) everything it priced the day
before changes no symbol's status, fails the run saying why, and leaves the day as gaps for gap recovery."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.calendars import equity_sessions
from lumia_assets.defs.prices.assets import equity_daily_prices
from lumia_assets.defs.resources import warehouse_engine
from lumia_assets.sim.yahoo import NO_DATA_BODY
from lumia_assets.warehouse.gaps import missing_cells
from lumia_assets_tests.defs.prices_helpers import active_equities, evening, load_universes, materialize, settings_for

pytestmark = pytest.mark.slow
EQUITY = ("stock", "etf", "mutual_fund")
DAYS = equity_sessions(date(2024, 10, 21), date(2024, 10, 28))
YAHOO_CHART = "query2.finance.yahoo.com"


def _statuses(warehouse_url: str) -> pd.DataFrame:
    query = "SELECT symbol, status, consecutive_no_data FROM symbol_status ORDER BY symbol"
    with warehouse_engine(warehouse_url).connect() as conn:
        return pd.read_sql(sa.text(query), conn)


@pytest.fixture
def priced(sim, warehouse_url, tmp_path, monkeypatch):
    """A warehouse that priced the week before ``DAYS[-1]``, with the simulator's clock at that day's evening."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    sim.set_clock(evening(DAYS[-2]))
    settings = settings_for(sim, warehouse_url)
    load_universes(settings)
    assert materialize(settings, [equity_daily_prices], DAYS[0], DAYS[-2]).success
    sim.advance()
    return settings


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param({"kind": "missing_candles"}, id="no bars, with metadata"),
        pytest.param({"kind": "status", "status": 404, "body": NO_DATA_BODY}, id="not found, without metadata"),
    ],
)
def test_a_day_of_no_data_for_everyone_changes_no_status_fails_the_run_and_stays_a_gap(
    sim, warehouse_url, priced, outage
) -> None:
    before = _statuses(warehouse_url)
    symbols = list(active_equities(warehouse_url)["symbol"])
    if outage["kind"] == "missing_candles":
        yahoo_symbols = {s.replace(".", "-") for s in symbols} | set(symbols)
        sim.faults.inject(YAHOO_CHART, "missing_candles", candles={(s, DAYS[-1]) for s in yahoo_symbols})
    else:
        sim.faults.inject(YAHOO_CHART, "status", status=404, body=NO_DATA_BODY, path_contains="/v8/finance/chart/")

    result = materialize(settings_for(sim, warehouse_url), [equity_daily_prices], DAYS[-1])

    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert "an upstream outage, not facts" in description
    pd.testing.assert_frame_equal(_statuses(warehouse_url), before)
    gaps = missing_cells(warehouse_engine(warehouse_url), EQUITY, [DAYS[-1]])
    assert set(gaps["symbol"]) >= set(symbols) - {s for s in symbols if s.startswith("Z")}
