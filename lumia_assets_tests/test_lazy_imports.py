"""A bare import of the code location loads what every process needs, and the heavy clients only where used:
ccxt in crypto steps, yfinance and curl_cffi in equity steps, matplotlib when a plot is drawn, slack_sdk where
Slack is configured, alembic where a warehouse is opened, and the simulator never."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

LAZY = ("ccxt", "yfinance", "curl_cffi", "matplotlib", "slack_sdk", "alembic", "lumia_assets.sim")


def loaded_after(statement: str) -> set[str]:
    """Which of ``LAZY`` a fresh interpreter has loaded after running ``statement``."""
    probe = f"import json, sys\n{statement}\nprint(json.dumps([m for m in {LAZY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_loading_the_code_location_loads_none_of_the_heavy_clients() -> None:
    assert loaded_after("import lumia_assets.definitions as d; d.defs()") == set()


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("import lumia_assets.engine.crypto_fetch", {"ccxt"}),
        ("import lumia_assets.engine.equity_fetch", {"yfinance", "curl_cffi"}),
    ],
)
def test_the_steps_that_need_a_client_load_it(statement: str, expected: set[str]) -> None:
    assert loaded_after(statement) == expected


def test_the_command_line_loads_dagster_only_for_the_commands_that_run_dagster() -> None:
    probe = "import sys, lumia_assets.cli\nprint('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"  # lumia export, plot and gaps read the warehouse without it
