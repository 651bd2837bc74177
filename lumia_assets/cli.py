"""The ``lumia`` command: the offline demo, the simulator, and the operators' daily commands."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import typer

from lumia_assets.commands import cleanup, export, health, plot, prices, processes, report, serve
from lumia_assets.commands import demo as demo_world
from lumia_assets.commands.output import settings as load_settings
from lumia_assets.settings import project_root

app = typer.Typer(help="lumia: US equities, funds and crypto market data on Dagster.", no_args_is_help=True)


def _dagster_dev(host: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    workspace = project_root() / "workspace.yaml"
    command: Sequence[str] = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(workspace),
        "-h",
        host,
        "-p",
        str(port),
    ]
    return processes.spawn(command, {**env, **serve.DAEMON_ENVIRONMENT})  # dagster dev runs the daemon


@app.command()
def sim(
    port: int = typer.Option(8765, help="Loopback port to serve on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (keep it on loopback)."),
    profile: str = typer.Option("default", help="Universe size: default (16,000+ equities) or small."),
    seed: int = typer.Option(42, help="Market seed: same seed, same market."),
    as_of: Annotated[
        datetime | None,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="Today, YYYY-MM-DD: the clock starts at 18:00 New York."),
    ] = None,
) -> None:
    """Serve the market simulator: NASDAQ Trader, SEC, Yahoo, Binance, Kraken and Coinbase on loopback."""
    from lumia_assets.sim import MarketSimulator, SimConfig

    today = as_of.date() if as_of else None
    simulator = MarketSimulator(SimConfig(profile=profile, seed=seed, as_of=today))  # type: ignore[arg-type]
    clock = f"as of {today}" if today else "real time"
    typer.echo(f"simulator ({profile}, seed {seed}, {clock}) on http://{host}:{port}; set LUMIA_UPSTREAM_URL to it")
    simulator.serve_forever(host=host, port=port)


@app.command()
def dev(
    port: int = typer.Option(3000, help="Dagster web UI port."),
    host: str = typer.Option("127.0.0.1", help="Dagster web UI interface."),
) -> None:
    """Start Dagster (web UI + daemon) on the persistent instance in $DAGSTER_HOME."""
    processes.exit_on_sigterm()
    from lumia_assets.instance import ensure_dagster_home

    load_settings()
    home = ensure_dagster_home()
    typer.echo(f"Dagster home: {home}")
    webserver = _dagster_dev(host, port, dict(os.environ))
    try:
        webserver.wait()
    finally:
        processes.stop(webserver)


def _enter_demo_world(sim_port: int, reset: bool, profile: str) -> dict[str, str]:
    """Point this process and its children at the demo's own home, warehouse and simulator; say where they are."""
    from lumia_assets.instance import ensure_dagster_home

    home = demo_world.DemoHome.in_checkout()
    try:
        demo_world.prepare(home, reset=reset)
    except demo_world.DemoHomeError as exc:
        typer.secho(str(exc), err=True, fg="red")
        raise typer.Exit(2) from exc
    env = demo_world.demo_env(os.environ, home, f"http://127.0.0.1:{sim_port}", profile)
    if ignored := demo_world.overridden(os.environ, env):
        typer.echo(f"the demo overrides your {', '.join(ignored)} for its own processes: it keeps to its own "
                   "instance, warehouse and simulator, and alerts only to its log")  # fmt: skip
    os.environ.update(env)
    load_settings()
    ensure_dagster_home()
    typer.echo(f"demo Dagster home: {home.path}{' (reset)' if reset else ''}\ndemo warehouse: {home.warehouse}")
    return env


@app.command()
def demo(
    port: int = typer.Option(3000, help="Dagster web UI port."),
    sim_port: int = typer.Option(8765, help="Simulator port."),
    profile: str = typer.Option("default", help="Simulator universe size: default or small."),
    collect: bool = typer.Option(True, help="Run `lumia collect` once the UI is up (universes, then prices)."),
    reset: bool = typer.Option(False, "--reset", help="Delete the demo's instance and warehouse first."),
) -> None:
    """The offline demo, in its own instance and warehouse (.dagster_home/demo/): the simulator, Dagster pointed at
    it, and a first collection. Ctrl-C stops all."""
    processes.exit_on_sigterm()
    env = _enter_demo_world(sim_port, reset, profile)
    lumia = [sys.executable, "-m", "lumia_assets.cli"]
    children = [processes.spawn([*lumia, "sim", "--port", str(sim_port), "--profile", profile], env)]
    try:
        processes.wait_for_port("127.0.0.1", sim_port, 120, children[0])
        children.append(_dagster_dev("127.0.0.1", port, env))
        processes.wait_for_port("127.0.0.1", port, 180, children[1])
        typer.secho(
            f"\nlumia demo is up: Dagster UI http://127.0.0.1:{port}, simulator {env['LUMIA_UPSTREAM_URL']}.\n"
            + ("Collecting universes and the latest prices now; watch the runs in the UI." if collect else ""),
            fg="green",
        )
        if collect:
            children.append(processes.spawn([*lumia, "collect"], env))
        children[1].wait()
    finally:
        for child in reversed(children):
            processes.stop(child)


@app.command()
def migrate() -> None:
    """Create or upgrade the warehouse schema (also done automatically on first use)."""
    from lumia_assets.warehouse.engine import connect_warehouse

    settings = load_settings()
    engine = connect_warehouse(settings.warehouse_url)
    typer.echo(f"warehouse at {engine.url.render_as_string(hide_password=True)} is up to date")


prices.register(app)


for _commands in (health, report, export, plot, cleanup, serve):
    _commands.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
