"""``lumia sim``: the simulator's command line."""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner

from lumia_assets.cli import app
from lumia_assets.sim import MarketSimulator, SimConfig


def test_as_of_starts_the_served_simulator_on_that_day(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[SimConfig] = []
    monkeypatch.setattr(MarketSimulator, "serve_forever", lambda self, host, port: served.append(self.config))

    result = CliRunner().invoke(app, ["sim", "--profile", "small", "--as-of", "2024-06-14"])

    assert result.exit_code == 0, result.output
    assert [config.as_of for config in served] == [date(2024, 6, 14)]
    assert "as of 2024-06-14" in result.output


def test_a_bad_as_of_date_fails_naming_the_option() -> None:
    result = CliRunner().invoke(app, ["sim", "--as-of", "2024-13-01"])

    assert result.exit_code == 2
    assert "Invalid value for '--as-of'" in result.output
