"""Refresh the README's screenshots of the Dagster UI: the asset graph, a price asset's partitions, a check's history.

Starts ``lumia demo --reset --profile small`` on free ports, waits for its first collection, backfills a month so the
partitions have a history, then has headless Chromium (Debian's ``chromium`` package: ``apt-get install chromium``)
render each page to ``docs/screenshots/``. Stops the demo it started, and nothing else, when done::

    .venv/bin/python scripts/ui_screenshots.py [--chromium /usr/bin/chromium] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import requests

from lumia_assets.calendars import last_closed_equity_session
from lumia_assets.commands.demo import DemoHome, demo_env

REPO = Path(__file__).resolve().parents[1]
LATEST = last_closed_equity_session(datetime.now(UTC)).isoformat()
PAGES = {
    "asset-graph.png": "/locations/lumia_assets/asset-groups/prices",
    "price-partitions.png": f"/assets/equity_daily_prices?view=partitions&partition={LATEST}",  # with its heatmap
    "check-history.png": "/assets/equity_daily_prices?view=checks&checkDetail=coverage",
}
IN_FLIGHT = "[QUEUED, NOT_STARTED, STARTING, STARTED]"
RUNS_IN_FLIGHT = f"{{ runsOrError(filter: {{statuses: {IN_FLIGHT}}}) {{ ... on Runs {{ count }} }} }}"
MATERIALIZED = '{ assetOrError(assetKey: {path: ["equity_daily_prices"]}) { ... on Asset { assetMaterializations(limit: 1) { timestamp } } } }'  # noqa: E501


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(ui: str, query: str) -> dict:
    answer = requests.post(f"{ui}/graphql", json={"query": query}, timeout=30)
    answer.raise_for_status()
    return answer.json()["data"]


def wait_until(what: str, ready, timeout: float) -> None:
    """Poll ``ready()`` every 2 s until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except requests.RequestException:
            pass
        time.sleep(2)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def collected(ui: str) -> bool:
    """The equity prices have a materialization and no run is queued or running."""
    asset = graphql(ui, MATERIALIZED)["assetOrError"]
    return bool(asset.get("assetMaterializations")) and graphql(ui, RUNS_IN_FLIGHT)["runsOrError"]["count"] == 0


def screenshot(chromium: str, url: str, path: Path) -> None:
    """Render ``url`` at 1440x900 once the page has settled (Chromium's virtual time budget) into ``path``."""
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1440,900",
         "--virtual-time-budget=20000", f"--screenshot={path}", url],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {url}")


def run_demo(port: int, sim_port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "lumia_assets.cli", "demo", "--reset", "--profile", "small",
               "--port", str(port), "--sim-port", str(sim_port)]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, start_new_session=True)


def backfill_a_month(env: Mapping[str, str]) -> None:
    """A month of prices, so that the partitions view shows a history."""
    end = date.today()
    command = [sys.executable, "-m", "lumia_assets.cli", "backfill", "--start", str(end - timedelta(days=30)),
               "--end", str(end)]  # fmt: skip
    subprocess.run(command, cwd=REPO, env=dict(env), check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        raise SystemExit(f"no Chromium at {args.chromium}: apt-get install chromium, or pass --chromium PATH")
    args.out.mkdir(parents=True, exist_ok=True)
    port, sim_port = free_port(), free_port()
    ui = f"http://127.0.0.1:{port}"
    demo = run_demo(port, sim_port)
    try:
        wait_until("the demo's first collection", lambda: collected(ui), timeout=900)
        backfill_a_month(demo_env(os.environ, DemoHome.in_checkout(), f"http://127.0.0.1:{sim_port}", "small"))
        wait_until("the backfill's checks", lambda: collected(ui), timeout=300)
        graphql(ui, "mutation { setNuxSeen }")  # the first visit's "join the community" dialog
        for name, page in PAGES.items():
            screenshot(args.chromium, ui + page, args.out / name)
    finally:
        os.killpg(demo.pid, signal.SIGTERM)  # the demo's own process group: the simulator, Dagster, collection
        demo.wait(timeout=60)


if __name__ == "__main__":
    main()
