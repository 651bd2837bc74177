"""``lumia demo`` is sealed off: its own Dagster home and warehouse, whatever the user's environment says."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import lumia_assets.cli
import lumia_assets.commands.demo
from lumia_assets.cli import app
from lumia_assets.commands.demo import MARKER, DemoHome, DemoHomeError, delete, demo_env, overridden, prepare

USER_ENV = {
    "DAGSTER_HOME": "/srv/dagster",
    "LUMIA_WAREHOUSE_URL": "postgresql+psycopg2://lumia:s3cret@db.internal/lumia",
    "LUMIA_ALERT_WEBHOOK_URL": "https://hooks.example.com/T0/B0/secret",
    "LUMIA_RATE_LIMITS": "api.binance.com=1",
    "PATH": "/usr/bin",
}
SIM = "http://127.0.0.1:8765"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout whose default Dagster home holds a real instance's files and warehouse."""
    default_home = tmp_path / ".dagster_home"
    (default_home / "storage").mkdir(parents=True)
    (default_home / "storage" / "runs.db").write_text("real runs")
    (default_home / "warehouse.db").write_text("real prices")
    return tmp_path


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_demo_env_points_children_at_the_demo_home_and_warehouse_whatever_the_user_set(checkout) -> None:
    home = DemoHome.in_checkout(checkout)

    env = demo_env(USER_ENV, home, SIM)

    assert env == {
        "DAGSTER_HOME": str(checkout / ".dagster_home" / "demo"),
        "LUMIA_WAREHOUSE_URL": f"sqlite:///{checkout}/.dagster_home/demo/warehouse.db",
        "LUMIA_UPSTREAM_URL": SIM,
        "LUMIA_RATE_LIMITS": "api.binance.com=1",
        "PATH": "/usr/bin",
    }
    assert overridden(USER_ENV, env) == ["DAGSTER_HOME", "LUMIA_ALERT_WEBHOOK_URL", "LUMIA_WAREHOUSE_URL"]


def test_the_small_profile_gets_universe_bounds_that_fit_it_unless_the_user_set_them(checkout) -> None:
    home = DemoHome.in_checkout(checkout)
    assert demo_env({}, home, SIM, "small")["LUMIA_MIN_STOCKS"] == "20"
    assert demo_env({"LUMIA_MIN_STOCKS": "40"}, home, SIM, "small")["LUMIA_MIN_STOCKS"] == "40"
    assert "LUMIA_MIN_STOCKS" not in demo_env({}, home, SIM, "default")


def test_the_demo_env_without_user_settings_gets_the_simulator_budgets(checkout) -> None:
    env = demo_env({}, DemoHome.in_checkout(checkout), SIM)

    assert env["LUMIA_RATE_LIMITS"].startswith("query1.finance.yahoo.com=200:50,")
    assert overridden({}, env) == []


def test_preparing_the_demo_home_leaves_the_default_home_untouched(checkout) -> None:
    before = _files(checkout / ".dagster_home")

    prepare(DemoHome.in_checkout(checkout), reset=False)

    after = _files(checkout / ".dagster_home")
    assert after == {**before, f"demo/{MARKER}": after[f"demo/{MARKER}"]}


def test_reset_removes_only_the_demo_folder(checkout) -> None:
    home = DemoHome.in_checkout(checkout)
    prepare(home, reset=False)
    home.warehouse.write_text("simulated prices")
    (home.path / "storage").mkdir()
    default_home_files = {k: v for k, v in _files(checkout / ".dagster_home").items() if not k.startswith("demo/")}

    prepare(home, reset=True)

    assert _files(home.path) == {MARKER: (home.path / MARKER).read_text()}
    assert {k: v for k, v in _files(checkout / ".dagster_home").items() if not k.startswith("demo/")} == (
        default_home_files
    )


@pytest.mark.parametrize("where", [".dagster_home/demo", "elsewhere/demo", ".dagster_home"])
def test_reset_refuses_a_folder_that_is_not_the_demos(checkout, where: str) -> None:
    folder = checkout / where
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "important.txt").write_text("keep me")

    with pytest.raises(DemoHomeError, match="is not lumia demo's home"):
        delete(DemoHome(folder))

    assert (folder / "important.txt").read_text() == "keep me"


def test_lumia_demo_reset_prints_both_paths_and_starts_afresh(checkout, monkeypatch) -> None:
    """Through the command, up to the first child it would start (faked: nothing is spawned)."""
    unset = dict.fromkeys(["LUMIA_UPSTREAM_URL", "LUMIA_SLACK_TOKEN", "LUMIA_SLACK_CHANNEL"], "")  # blank is unset
    for name, value in {**USER_ENV, **unset}.items():
        monkeypatch.setenv(name, value)  # the command updates os.environ: monkeypatch restores what it set
    monkeypatch.setattr(lumia_assets.commands.demo, "project_root", lambda: checkout)
    monkeypatch.setattr(lumia_assets.commands.processes, "exit_on_sigterm", lambda: None)
    spawned: list[dict[str, str]] = []

    def fake_spawn(command: list[str], env: dict[str, str]) -> None:
        spawned.append(env)
        raise typer.Exit(0)

    monkeypatch.setattr(lumia_assets.commands.processes, "spawn", fake_spawn)
    home = DemoHome.in_checkout(checkout)
    prepare(home, reset=False)
    home.warehouse.write_text("simulated prices of an earlier demo")

    result = CliRunner().invoke(app, ["demo", "--reset", "--sim-port", "8765"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "the demo overrides your DAGSTER_HOME, LUMIA_ALERT_WEBHOOK_URL, LUMIA_WAREHOUSE_URL for its own processes: "
        "it keeps to its own instance, warehouse and simulator, and alerts only to its log",
        f"demo Dagster home: {home.path} (reset)",
        f"demo warehouse: {home.warehouse}",
    ]
    assert not home.warehouse.exists() and (home.path / "dagster.yaml").is_file()
    assert (checkout / ".dagster_home" / "warehouse.db").read_text() == "real prices"
    assert spawned[0]["DAGSTER_HOME"] == str(home.path)
    assert spawned[0]["LUMIA_WAREHOUSE_URL"] == home.warehouse_url
