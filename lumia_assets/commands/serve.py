"""``lumia serve``: Dagster's production topology on one host, on PostgreSQL.

Three services, each its own process, started, health-checked and stopped on its own: the code server
(``dagster code-server start``: the code location's gRPC server, which also launches the run workers), the
webserver, and the daemon (schedules, sensors, backfills, the run queue, run monitoring and retries). The webserver
and the daemon reach the code server through a workspace file that names it by host and port, so each can move
to its own machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from lumia_assets.commands import processes
from lumia_assets.settings import project_root

LOCATION_NAME = "lumia_assets"
CODE_MODULE = "lumia_assets.definitions"
POSTGRES_INSTANCE_TEMPLATE = Path("deploy") / "dagster.postgres.yaml"
HEALTH_TIMEOUT_SECONDS = 240
# Dagster fails an asset backfill whose code location is unloadable for a moment, as during a code server restart
# (dagster-io/dagster#28204, #29467); with this variable the daemon's backfill loop waits for the location instead.
DAEMON_ENVIRONMENT = {"DAGSTER_BACKFILL_RETRY_DEFINITION_CHANGED_ERROR": "1"}


class Service(StrEnum):
    """The services of the topology, in the order they start."""

    CODE_SERVER = "code-server"
    WEBSERVER = "webserver"
    DAEMON = "daemon"


class TopologyError(RuntimeError):
    """The topology cannot run here as configured: the message says what to change."""


@dataclass(frozen=True)
class Topology:
    """Where the services listen, and the Dagster home (``$DAGSTER_HOME``) whose instance they share."""

    home: Path
    host: str = "127.0.0.1"
    code_port: int = 4000
    web_port: int = 3000

    @property
    def workspace(self) -> Path:
        return self.home / "workspace.yaml"

    @property
    def webserver_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    def workspace_config(self) -> dict:
        """The workspace of the webserver and the daemon: the code location, served by the code server."""
        server = {"host": self.host, "port": self.code_port, "location_name": LOCATION_NAME}
        return {"load_from": [{"grpc_server": server}]}

    def write_workspace(self) -> Path:
        """Write :meth:`workspace_config` to ``workspace.yaml`` in the home."""
        self.workspace.write_text(yaml.safe_dump(self.workspace_config(), sort_keys=False))
        return self.workspace

    def command(self, service: Service) -> list[str]:
        """The command line that runs ``service`` in the foreground."""
        python = sys.executable
        if service is Service.CODE_SERVER:
            return [python, "-m", "dagster", "code-server", "start", "-h", self.host, "-p", str(self.code_port),
                    "-m", CODE_MODULE, "--location-name", LOCATION_NAME,
                    "--use-python-environment-entry-point"]  # fmt: skip
        if service is Service.WEBSERVER:
            return [python, "-m", "dagster_webserver", "-h", self.host, "-p", str(self.web_port),
                    "-w", str(self.workspace)]  # fmt: skip
        return [str(Path(python).with_name("dagster-daemon")), "run", "-w", str(self.workspace)]

    def environment(self, service: Service, env: Mapping[str, str]) -> dict[str, str]:
        """The environment ``service`` runs with: ``env``, and for the daemon ``DAEMON_ENVIRONMENT``."""
        return {**env, **(DAEMON_ENVIRONMENT if service is Service.DAEMON else {})}

    def health(self, service: Service, env: Mapping[str, str]) -> str | None:
        """``None`` when ``service`` answers as healthy, else what is wrong."""
        if service is Service.WEBSERVER:
            return _http_health(f"{self.webserver_url}/server_info")
        if service is Service.CODE_SERVER:
            check = [sys.executable, "-m", "dagster", "api", "grpc-health-check", "-h", self.host,
                     "-p", str(self.code_port)]  # fmt: skip
        else:
            check = [str(Path(sys.executable).with_name("dagster-daemon")), "liveness-check"]
        return _command_health(check, env)


def _http_health(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"


def _command_health(command: Sequence[str], env: Mapping[str, str]) -> str | None:
    done = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=60, check=False)
    if done.returncode == 0:
        return None
    said = (done.stdout + done.stderr).strip().splitlines()
    return said[-1] if said else f"{command[0]} exited with code {done.returncode}"


def require_postgres(home: Path, warehouse_url: str) -> None:
    """The topology's processes share one instance and one warehouse: both must be PostgreSQL."""
    config_file = home / "dagster.yaml"
    config = (yaml.safe_load(config_file.read_text()) if config_file.exists() else None) or {}
    if not _instance_in_postgres(config):
        raise TopologyError(
            f"{config_file} does not keep the instance in PostgreSQL (storage: postgres, or run, event-log and "
            f"schedule storages each with a postgres_db): start from "
            f"{POSTGRES_INSTANCE_TEMPLATE} and set DAGSTER_PG_*, or use `lumia dev` for a single-machine instance"
        )
    if not warehouse_url.startswith("postgresql"):
        raise TopologyError(
            "LUMIA_WAREHOUSE_URL is not PostgreSQL: the services and run workers share it, so set it to "
            "postgresql+psycopg2://user:password@host:5432/database"
        )


def _instance_in_postgres(config: Mapping[str, Any]) -> bool:
    """Whether a dagster.yaml keeps runs, events and schedules in PostgreSQL: Dagster's ``storage: postgres``, or
    the three storages each configured with a PostgreSQL database (as deploy/dagster.postgres.yaml does)."""
    if "postgres" in (config.get("storage") or {}):
        return True
    storages = [config.get(key) or {} for key in ("run_storage", "event_log_storage", "schedule_storage")]
    return all({"postgres_db", "postgres_url"} & set(storage.get("config") or {}) for storage in storages)


def wait_healthy(topology: Topology, service: Service, process: subprocess.Popen[bytes], env: Mapping[str, str],
                 timeout: float = HEALTH_TIMEOUT_SECONDS) -> None:  # fmt: skip
    """Wait until ``service`` is healthy; raise :class:`TopologyError` if its process exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    problem: str | None = "not checked yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TopologyError(f"{service.value} (pid {process.pid}) exited with code {process.returncode}")
        problem = topology.health(service, env)
        if problem is None:
            return
        time.sleep(1)
    raise TopologyError(f"{service.value} (pid {process.pid}) is not healthy after {timeout:.0f} s: {problem}")


def start(topology: Topology, services: Sequence[Service], env: Mapping[str, str],
          logs: Path | None = None) -> list[subprocess.Popen[bytes]]:  # fmt: skip
    """Start ``services`` in order, each once the one before it is healthy; on a failure stop what was started.
    With ``logs`` (a folder), each service's output is appended to ``SERVICE.log`` there."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for service in services:
            log = logs / f"{service.value}.log" if logs else None
            process = processes.spawn(topology.command(service), topology.environment(service, env), log)
            started.append(process)
            wait_healthy(topology, service, process, env)
            typer.echo(f"{service.value} is up (pid {process.pid})")
    except BaseException:
        stop(started)
        raise
    return started


def stop(started: Sequence[subprocess.Popen[bytes]]) -> None:
    """Stop the processes :func:`start` started, by PID, the last started first."""
    for process in reversed(started):
        processes.stop(process)


ServicesArgument = Annotated[
    list[Service] | None, typer.Argument(help="Services to act on (default: all three, in start order).")
]
HostOption = Annotated[str, typer.Option(help="Interface the services listen on, and the code server's host.")]
CodePortOption = Annotated[int, typer.Option(help="Code server (gRPC) port.")]
WebPortOption = Annotated[int, typer.Option(help="Webserver port.")]

serve_app = typer.Typer(help="The production topology: code server, webserver and daemon, on PostgreSQL.")


def _topology(host: str, code_port: int, web_port: int) -> Topology:
    from lumia_assets.instance import ensure_dagster_home

    home = ensure_dagster_home(template=project_root() / POSTGRES_INSTANCE_TEMPLATE)
    return Topology(home, host, code_port, web_port)


def _chosen(services: list[Service] | None) -> list[Service]:
    return sorted(services or list(Service), key=list(Service).index)


@serve_app.command("up")
def up(services: ServicesArgument = None, host: HostOption = "127.0.0.1", code_port: CodePortOption = 4000,
       web_port: WebPortOption = 3000) -> None:  # fmt: skip
    """Start the services in the foreground, each as its own process once the one before it is healthy. Ctrl-C
    (or SIGTERM) stops them; so does any one of them exiting."""
    from lumia_assets.commands.output import settings

    processes.exit_on_sigterm()
    topology = _topology(host, code_port, web_port)
    try:
        require_postgres(topology.home, settings().warehouse_url)
        topology.write_workspace()
        started = start(topology, _chosen(services), dict(os.environ))
    except TopologyError as exc:
        typer.secho(str(exc), err=True, fg="red")
        raise typer.Exit(2) from exc
    typer.secho(f"serving: webserver {topology.webserver_url}, code server {host}:{code_port}", fg="green")
    try:
        while all(process.poll() is None for process in started):
            time.sleep(1)
        exited = next(process for process in started if process.poll() is not None)
        typer.secho(f"pid {exited.pid} exited with code {exited.returncode}: stopping the others", err=True, fg="red")
        raise typer.Exit(1)
    finally:
        stop(started)


@serve_app.command("check")
def check(services: ServicesArgument = None, host: HostOption = "127.0.0.1", code_port: CodePortOption = 4000,
          web_port: WebPortOption = 3000) -> None:  # fmt: skip
    """Health-check the services (however they were started); exit 1 if any is unhealthy."""
    topology = _topology(host, code_port, web_port)
    unhealthy = 0
    for service in _chosen(services):
        problem = topology.health(service, dict(os.environ))
        unhealthy += problem is not None
        typer.secho(f"{service.value}: {problem or 'healthy'}", fg="red" if problem else "green")
    if unhealthy:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(serve_app, name="serve")
