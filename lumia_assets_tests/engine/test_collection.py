"""``collect_prices`` on its own: batching, and what a run that stops early leaves behind.

The fetch here is a plain function returning synthetic bars: these tests are about the engine's batching, not the
upstreams (the price-asset tests run it against the simulator with the real clients).
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.calendars import crypto_days
from lumia_assets.defs.resources import warehouse_engine
from lumia_assets.engine.batches import Instrument
from lumia_assets.engine.collection import collect_prices
from lumia_assets.frames import CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
from lumia_assets.sources.bars import SymbolHistory

DAYS = crypto_days(date(2024, 1, 1), date(2024, 1, 10))


def instruments(count: int) -> list[Instrument]:
    return [Instrument(f"C{i:03d}-USD", "crypto", f"C{i:03d}/USD") for i in range(count)]


def synthetic_history(instrument: Instrument, start: date, end: date) -> SymbolHistory:
    days = [day for day in DAYS if start <= day <= end]
    bars = pd.DataFrame(
        {"symbol": instrument.symbol, "asset_class": instrument.asset_class, "date": days, "open": 10.0,
         "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100.0, "served_adj_close": None, "served_as_of": None,
         "source": "synthetic", "fetched_at": datetime.now(UTC)},
        columns=list(PRICE_COLUMNS),
    )  # fmt: skip
    return SymbolHistory(bars=bars, actions=pd.DataFrame(columns=list(CORPORATE_ACTION_COLUMNS)))


@pytest.fixture
def engine(tmp_path) -> sa.Engine:
    return warehouse_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")


def stored_bars(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM daily_prices")).scalar_one()


def test_a_long_range_writes_smaller_batches_so_a_batch_stays_near_its_bar_budget(engine) -> None:
    report = collect_prices(
        engine, instruments(25), DAYS, synthetic_history, last_closed=DAYS[-1], batch_size=20, max_batch_bars=50
    )

    assert report.batches == 5  # 50 bars / 10 days = 5 symbols per batch, not 20
    assert report.rows_written == stored_bars(engine) == 25 * len(DAYS)
    assert len(report.covered) == 25


def test_a_short_range_keeps_the_configured_batch_size(engine) -> None:
    report = collect_prices(
        engine, instruments(25), DAYS[:1], synthetic_history, last_closed=DAYS[-1], batch_size=20, max_batch_bars=50
    )

    assert report.batches == 2
    assert report.sources == {"synthetic": 25}


def test_a_run_that_breaks_stops_fetching_and_keeps_only_the_batches_before_it(engine) -> None:
    fetched: list[str] = []
    lock = threading.Lock()

    def fetch(instrument: Instrument, start: date, end: date) -> SymbolHistory:
        with lock:
            fetched.append(instrument.symbol)
        if instrument.symbol == "C012-USD":
            raise RuntimeError("a bug, not an upstream failure")
        return synthetic_history(instrument, start, end)

    with pytest.raises(RuntimeError, match="a bug"):
        collect_prices(engine, instruments(200), DAYS, fetch, last_closed=DAYS[-1], batch_size=5, workers=2)

    assert len(fetched) < 40  # the batch ahead may have started; the 38 batches after it never were
    assert stored_bars(engine) % (5 * len(DAYS)) == 0  # whole batches only
    assert stored_bars(engine) <= 10 * len(DAYS)  # nothing from the broken batch or after it


class Upstream:
    """A fetch whose answers run through ``DAYS[-1]`` like Yahoo's, with a dividend that can be restated."""

    def __init__(self, dividend: float) -> None:
        self.dividend = dividend
        self.requests: list[tuple[str, date, date]] = []

    def __call__(self, instrument: Instrument, start: date, end: date) -> SymbolHistory:
        self.requests.append((instrument.symbol, start, end))
        history = synthetic_history(instrument, start, DAYS[-1])
        paid = [(DAYS[3], "dividend", self.dividend)] if instrument.symbol == "C000-USD" and start <= DAYS[3] else []
        actions = pd.DataFrame(
            [{"symbol": instrument.symbol, "asset_class": "crypto", "date": day, "action": action, "value": value,
              "in_dividend": False, "source": "synthetic", "fetched_at": datetime.now(UTC)}
             for day, action, value in paid],
            columns=list(CORPORATE_ACTION_COLUMNS),
        )  # fmt: skip
        return SymbolHistory(bars=history.bars, actions=actions)


def test_a_restated_action_is_recorded_and_its_symbol_rewritten_for_one_request(engine) -> None:
    upstream = Upstream(dividend=0.25)
    collect_prices(engine, instruments(3), DAYS[:8], upstream, last_closed=DAYS[-1])
    upstream.dividend, upstream.requests = 0.5, []

    report = collect_prices(
        engine, instruments(3), DAYS[8:], upstream, last_closed=DAYS[-1], context_days=7, history=DAYS
    )

    assert report.restatements[["symbol", "date", "what", "old_value", "new_value"]].to_dict("records") == [
        {"symbol": "C000-USD", "date": DAYS[3], "what": "dividend", "old_value": 0.25, "new_value": 0.5}
    ]
    assert report.refetches == 1
    assert [r for r in upstream.requests if r[1] == DAYS[0]] == [("C000-USD", DAYS[0], DAYS[-1])]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT value FROM corporate_actions")).scalars().all() == [0.5]
        assert conn.execute(sa.text("SELECT what, old_value, new_value FROM restatements")).all() == [
            ("dividend", 0.25, 0.5)
        ]


def test_an_impossible_action_is_rejected_with_its_reason_and_the_batch_is_kept(engine) -> None:
    upstream = Upstream(dividend=float("nan"))
    report = collect_prices(engine, instruments(3), DAYS, upstream, last_closed=DAYS[-1])

    assert report.rejected_rows.to_dict("records") == [
        {"symbol": "C000-USD", "asset_class": "crypto", "date": DAYS[3], "reason": "dividend: amount is NaN"}
    ]
    assert stored_bars(engine) == 3 * len(DAYS)
