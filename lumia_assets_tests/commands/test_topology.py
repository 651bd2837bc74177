"""The production topology end to end: code server, webserver and daemon as separate processes on PostgreSQL.

A backfill is launched through the webserver's GraphQL API (the call the UI's "Launch backfill" makes), the daemon
runs it, and the code server is restarted (a deploy) while a backfill run is in flight. Every run must then have
finished once, and the warehouse must equal the simulator's truth. The simulator runs on real time, the clock the
services read. Every process the test started is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from lumia_assets.calendars import last_closed_crypto_day, last_closed_equity_session
from lumia_assets.commands import processes, serve
from lumia_assets.commands.demo import SIMULATOR_BUDGETS, SMALL_PROFILE_BOUNDS
from lumia_assets.sim import MarketSimulator, SimConfig
from lumia_assets_tests.conftest import REPO_ROOT, dagster_pg_environment, fresh_postgres_databases, postgres_url
from lumia_assets_tests.defs.prices_helpers import (
    PRICE_VALUES,
    active_equities,
    crypto_truth,
    equity_truth,
    stored_prices,
)

pytestmark = pytest.mark.slow

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_DONE = {"COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
BACKFILL_WAIT_SECONDS = 420

LAUNCH_RUN = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
PARTITION_KEYS = """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
  ... on AssetNode { partitionKeys } } }"""
BACKFILL_STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }"""
RUNS = """query { runsOrError { ... on Runs { results { runId jobName status tags { key value } } } } }"""


@dataclass
class Deployment:
    """The three services of one topology, their shared environment, and the simulator they collect from."""

    topology: serve.Topology
    env: dict[str, str]
    started: list  # the services' processes, in start order
    sim: MarketSimulator
    warehouse_url: str

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        payload = {"query": query, "variables": variables}
        response = requests.post(f"{self.topology.webserver_url}/graphql", json=payload, timeout=60)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def restart(self, service: serve.Service) -> None:
        """Stop ``service`` by its PID and start it again, as a deploy does."""
        index = list(serve.Service).index(service)
        processes.stop(self.started[index])
        self.started[index] = serve.start(self.topology, [service], self.env, self.topology.home)[0]

    def runs(self) -> list[dict[str, Any]]:
        results = self.graphql(RUNS)["runsOrError"]["results"]
        return [{**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in results]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """The topology of the README's walk-through, on two fresh PostgreSQL databases and a real-time simulator."""
    with fresh_postgres_databases(2, "lumia_topology") as (instance_db, warehouse_db):
        warehouse_url = postgres_url(warehouse_db)
        home = tmp_path / "home"
        home.mkdir()
        shutil.copyfile(REPO_ROOT / serve.POSTGRES_INSTANCE_TEMPLATE, home / "dagster.yaml")
        sim = MarketSimulator(SimConfig(profile="small"))
        sim.start()
        env = {
            **os.environ,
            **SMALL_PROFILE_BOUNDS,
            "DAGSTER_HOME": str(home),
            **dagster_pg_environment(instance_db),
            "LUMIA_WAREHOUSE_URL": warehouse_url,
            "LUMIA_UPSTREAM_URL": sim.url,
            "LUMIA_RATE_LIMITS": SIMULATOR_BUDGETS,
        }
        topology = serve.Topology(home, code_port=_free_port(), web_port=_free_port())
        serve.require_postgres(home, warehouse_url)
        topology.write_workspace()
        started = serve.start(topology, list(serve.Service), env, home)  # each service's log in the home
        try:
            yield Deployment(topology, env, started, sim, warehouse_url)
        finally:
            serve.stop(started)
            sim.stop()
        assert all(process.poll() is not None for process in started)


def _wait(deployment: Deployment, done, what: str, timeout: float = BACKFILL_WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(2)
    states = [(run["jobName"], run["status"]) for run in deployment.runs()]
    pytest.fail(f"{what} did not happen in {timeout:.0f} s; runs: {states}\n{_log_tails(deployment)}")


def _log_tails(deployment: Deployment, lines: int = 40) -> str:
    """The end of each service's log, to say why a step of the test failed."""
    tails = []
    for service in serve.Service:
        log = deployment.topology.home / f"{service.value}.log"
        text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else ["(no log)"]
        tails.append(f"--- {service.value} ---\n" + "\n".join(text))
    return "\n".join(tails)


def _closed_keys(deployment: Deployment, asset: str, last_closed: date, count: int) -> list[str]:
    keys = deployment.graphql(PARTITION_KEYS, key={"path": [asset]})["assetNodeOrError"]["partitionKeys"]
    return [key for key in keys if date.fromisoformat(key) <= last_closed][-count:]


def _stored_truth(deployment: Deployment, crypto_days: list[str], sessions: list[str]) -> tuple[pd.DataFrame, ...]:
    url, sim = deployment.warehouse_url, deployment.sim
    crypto = stored_prices(url, ("crypto",))
    first, last = date.fromisoformat(crypto_days[0]), date.fromisoformat(crypto_days[-1])
    by_source = {source: sorted(set(rows["symbol"])) for source, rows in crypto.groupby("source")}
    crypto_expected = pd.concat(
        crypto_truth(sim, source, symbols, first, last) for source, symbols in by_source.items()
    )
    equities = stored_prices(url, ("stock", "etf", "mutual_fund"))
    symbols = list(active_equities(url)["symbol"])
    equity_expected = equity_truth(sim, symbols, date.fromisoformat(sessions[0]), date.fromisoformat(sessions[-1]))
    columns = ["symbol", "date", *PRICE_VALUES]
    return (crypto[columns], crypto_expected.sort_values(["symbol", "date"], ignore_index=True)[columns],
            equities[columns], equity_expected[columns])  # fmt: skip


def _lumia_status(deployment: Deployment) -> dict[str, Any]:
    command = [sys.executable, "-m", "lumia_assets.cli", "status", "--json"]
    done = subprocess.run(command, env=deployment.env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: healthy or not, it answered
    return json.loads(done.stdout)


def test_a_backfill_launched_through_the_webserver_survives_restarts_of_the_code_server_and_the_daemon(
    deployment: Deployment,
) -> None:
    universe = deployment.graphql(LAUNCH_RUN, params={"selector": {
        "repositoryLocationName": serve.LOCATION_NAME, "repositoryName": "__repository__", "jobName": "universe_job",
    }, "runConfigData": {}})["launchRun"]  # fmt: skip
    assert universe["__typename"] == "LaunchRunSuccess", universe

    def universe_done() -> bool:
        return any(run["jobName"] == "universe_job" and run["status"] in FINISHED for run in deployment.runs())

    _wait(deployment, universe_done, "the universe run")

    now = datetime.now(UTC)
    crypto_days = _closed_keys(deployment, "crypto_daily_prices", last_closed_crypto_day(now), 60)
    sessions = _closed_keys(deployment, "equity_daily_prices", last_closed_equity_session(now), 40)
    backfills = []
    for asset, keys in (("crypto_daily_prices", crypto_days), ("equity_daily_prices", sessions)):
        params = {"assetSelection": [{"path": [asset]}], "partitionNames": keys, "fromFailure": False}
        launched = deployment.graphql(LAUNCH_BACKFILL, params=params)["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfills.append(launched["backfillId"])

    def backfill_runs() -> list[dict[str, Any]]:
        return [run for run in deployment.runs() if run["tags"].get("dagster/backfill") in backfills]

    _wait(deployment, lambda: any(run["status"] == "STARTED" for run in backfill_runs()), "a backfill run starting")
    in_flight = {run["runId"] for run in backfill_runs() if run["status"] == "STARTED"}
    deployment.restart(serve.Service.CODE_SERVER)
    deployment.restart(serve.Service.DAEMON)

    def all_done() -> bool:
        statuses = [deployment.graphql(BACKFILL_STATUS, id=b)["partitionBackfillOrError"]["status"] for b in backfills]
        return set(statuses) <= BACKFILL_DONE and all(run["status"] in FINISHED for run in deployment.runs())

    _wait(deployment, all_done, "both backfills finishing")
    statuses = [deployment.graphql(BACKFILL_STATUS, id=b)["partitionBackfillOrError"]["status"] for b in backfills]
    assert statuses == ["COMPLETED_SUCCESS", "COMPLETED_SUCCESS"], _log_tails(deployment)
    runs = backfill_runs()
    # one run per backfill (single-run policy: the whole range in one run), each finished once: none lost or doubled
    assert sorted(run["tags"]["dagster/backfill"] for run in runs) == sorted(backfills)
    assert all(run["status"] == "SUCCESS" for run in runs), runs
    assert in_flight <= {run["runId"] for run in runs}  # the runs in flight across the restarts finished

    crypto, crypto_expected, equities, equity_expected = _stored_truth(deployment, crypto_days, sessions)
    assert sorted({day.isoformat() for day in crypto["date"]}) == crypto_days
    pd.testing.assert_frame_equal(crypto, crypto_expected, check_dtype=False)
    pd.testing.assert_frame_equal(equities, equity_expected, check_dtype=False)
    assert [service.value for service in serve.Service if deployment.topology.health(service, deployment.env)] == []
    # lumia status reads the same instance and warehouse: it sees the runs the daemon launched
    report = _lumia_status(deployment)
    assert report["database"]["backend"] == "postgresql" and report["database"]["reachable"]
    materialized = {asset["asset"]: asset["last_materialization"] for asset in report["assets"]}
    assert materialized["crypto_daily_prices"] and materialized["equity_daily_prices"]  # the backfills' runs
