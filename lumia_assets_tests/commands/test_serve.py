"""``lumia serve`` and the instance configs it runs on, without starting a service (test_topology starts them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config
from typer.testing import CliRunner

from lumia_assets.cli import app
from lumia_assets.commands import serve
from lumia_assets_tests.conftest import REPO_ROOT

INSTANCE_CONFIGS = {"embedded": REPO_ROOT / "dagster.yaml", "production": REPO_ROOT / serve.POSTGRES_INSTANCE_TEMPLATE}
POSTGRES_WAREHOUSE = "postgresql+psycopg2://lumia@db.internal:5432/lumia"


def _home_with(tmp_path: Path, config: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(config, home / "dagster.yaml")
    return home


def test_the_committed_workspace_is_the_one_lumia_serve_writes_for_the_default_ports(tmp_path: Path) -> None:
    topology = serve.Topology(tmp_path)
    topology.write_workspace()
    committed = yaml.safe_load((REPO_ROOT / "deploy" / "workspace.yaml").read_text())
    assert committed == yaml.safe_load(topology.workspace.read_text())
    server = {"host": "127.0.0.1", "port": 4000, "location_name": "lumia_assets"}
    assert committed["load_from"][0]["grpc_server"] == server


def test_each_service_is_its_own_command_pointed_at_the_code_server(tmp_path: Path) -> None:
    topology = serve.Topology(tmp_path, host="10.0.0.5", code_port=4100, web_port=3100)
    code, web, daemon = (topology.command(service) for service in serve.Service)
    assert code[1:5] == ["-m", "dagster", "code-server", "start"] and "lumia_assets.definitions" in code
    assert code[5:9] == ["-h", "10.0.0.5", "-p", "4100"]
    assert web[1:3] == ["-m", "dagster_webserver"] and web[-2:] == ["-w", str(topology.workspace)]
    assert Path(daemon[0]).name == "dagster-daemon" and daemon[1:] == ["run", "-w", str(topology.workspace)]
    assert topology.workspace_config()["load_from"][0]["grpc_server"]["port"] == 4100


def test_the_topology_refuses_an_instance_that_is_not_in_postgresql(tmp_path: Path) -> None:
    home = _home_with(tmp_path, INSTANCE_CONFIGS["embedded"])
    with pytest.raises(serve.TopologyError, match=r"storage: postgres.*deploy/dagster\.postgres\.yaml"):
        serve.require_postgres(home, POSTGRES_WAREHOUSE)


def test_the_topology_refuses_an_instance_whose_event_log_alone_is_not_in_postgresql(tmp_path: Path) -> None:
    config = yaml.safe_load(INSTANCE_CONFIGS["production"].read_text())
    config["event_log_storage"] = yaml.safe_load(INSTANCE_CONFIGS["embedded"].read_text())["event_log_storage"]
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(serve.TopologyError, match="event-log"):
        serve.require_postgres(home, POSTGRES_WAREHOUSE)


def test_the_topology_refuses_a_sqlite_warehouse(tmp_path: Path) -> None:
    home = _home_with(tmp_path, INSTANCE_CONFIGS["production"])
    serve.require_postgres(home, POSTGRES_WAREHOUSE)
    with pytest.raises(serve.TopologyError, match="LUMIA_WAREHOUSE_URL is not PostgreSQL"):
        serve.require_postgres(home, f"sqlite:///{tmp_path / 'warehouse.db'}")


def test_lumia_serve_up_exits_2_naming_the_fix_on_a_sqlite_instance(tmp_path: Path, monkeypatch) -> None:
    home = _home_with(tmp_path, INSTANCE_CONFIGS["embedded"])
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setattr(serve.processes, "exit_on_sigterm", lambda: None)
    result = CliRunner().invoke(app, ["serve", "up"])
    assert result.exit_code == 2
    assert "deploy/dagster.postgres.yaml" in result.output


def test_lumia_serve_check_exits_1_and_says_what_does_not_answer(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["serve", "check", "webserver", "--web-port", "9"])
    assert result.exit_code == 1
    assert "webserver: http://127.0.0.1:9/server_info" in result.output


@pytest.mark.parametrize("kind", sorted(INSTANCE_CONFIGS))
def test_backfills_and_gap_repairs_always_leave_a_run_slot_for_the_schedules(kind: str, tmp_path: Path, monkeypatch):
    for name in ("DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, "x")
    home = _home_with(tmp_path, INSTANCE_CONFIGS[kind])
    config, _ = dagster_instance_config(str(home))  # validated against Dagster's instance schema
    runs = config["concurrency"]["runs"]
    limited = {limit["key"]: limit["limit"] for limit in runs["tag_concurrency_limits"]}
    assert set(limited) == {"dagster/backfill", "lumia/trigger"}
    assert sum(limited.values()) < runs["max_concurrent_runs"]
    assert config["concurrency"]["pools"]["default_limit"] == 1


def test_only_the_daemon_gets_the_variable_that_keeps_backfills_through_a_code_server_restart(tmp_path) -> None:
    topology = serve.Topology(tmp_path)
    environments = {service: topology.environment(service, {"PATH": "/bin"}) for service in serve.Service}
    assert environments[serve.Service.DAEMON] == {"PATH": "/bin", **serve.DAEMON_ENVIRONMENT}
    assert environments[serve.Service.CODE_SERVER] == environments[serve.Service.WEBSERVER] == {"PATH": "/bin"}
