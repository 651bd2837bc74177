"""Simulators with a frozen clock, for tests that need exact times (the session fixture follows the real clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from lumia_assets.sim import MarketSimulator, SimConfig

AFTER_THE_CLOSE = datetime(2024, 6, 14, 21, 0, tzinfo=UTC)  # Friday 17:00 in New York: the session has closed


@pytest.fixture(scope="module")
def frozen_sim() -> Iterator[MarketSimulator]:
    """A small-profile simulator whose clock stands at ``AFTER_THE_CLOSE``."""
    simulator = MarketSimulator(SimConfig(profile="small", now=AFTER_THE_CLOSE)).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def closed_market(frozen_sim: MarketSimulator) -> MarketSimulator:
    """``frozen_sim`` with clean faults, rate limits, request log and market."""
    frozen_sim.reset()
    return frozen_sim
