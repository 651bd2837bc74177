"""Simulators on a set clock, for tests that need exact times (the session fixture follows the real clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from lumia_assets.sim import MarketSimulator, SimConfig

AFTER_THE_CLOSE = datetime(2024, 6, 14, 21, 0, tzinfo=UTC)  # Friday 17:00 in New York: the session has closed
FRIDAY = date(2024, 6, 14)  # the as_of day of ``evening_sim``; the next sessions are MONDAY, TUESDAY and THURSDAY
MONDAY, TUESDAY, THURSDAY = date(2024, 6, 17), date(2024, 6, 18), date(2024, 6, 20)  # Wednesday is Juneteenth


def _serving(config: SimConfig) -> Iterator[MarketSimulator]:
    """A started simulator of ``config`` for the fixture's scope."""
    simulator = MarketSimulator(config).start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def frozen_sim() -> Iterator[MarketSimulator]:
    """A small-profile simulator whose clock stands at ``AFTER_THE_CLOSE``."""
    yield from _serving(SimConfig(profile="small", now=AFTER_THE_CLOSE))


@pytest.fixture
def closed_market(frozen_sim: MarketSimulator) -> MarketSimulator:
    """``frozen_sim`` with clean faults, rate limits, request log and market."""
    frozen_sim.reset()
    return frozen_sim


@pytest.fixture(scope="module")
def evening_sim() -> Iterator[MarketSimulator]:
    """A small-profile simulator as of ``FRIDAY``: its clock starts at 18:00 New York, after the close."""
    yield from _serving(SimConfig(profile="small", as_of=FRIDAY))


@pytest.fixture
def friday_evening(evening_sim: MarketSimulator) -> Iterator[MarketSimulator]:
    """``evening_sim`` back at Friday 18:00 with a clean market; whatever the test advanced or added is undone."""
    evening_sim.reset()
    yield evening_sim
    evening_sim.reset()
