"""Fixtures of the definitions' tests. A test module may define its own ``settings`` (other budgets, a lookback)."""

from __future__ import annotations

import pytest

from lumia_assets.settings import Settings
from lumia_assets_tests.defs.prices_helpers import load_universes, settings_for


@pytest.fixture
def settings(sim, warehouse_url, tmp_path, monkeypatch) -> Settings:
    """Settings pointing at the simulator and a fresh warehouse, with universes loaded and the request log empty."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    settings = settings_for(sim, warehouse_url)
    load_universes(settings)
    sim.server.log.clear()
    return settings
