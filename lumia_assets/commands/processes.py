"""Child processes of the ``lumia`` commands: started with default signal handling, stopped by their PID."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path

import typer

from lumia_assets.settings import project_root

STOP_TIMEOUT_SECONDS = 20


def default_signals() -> None:
    """In a child: take SIGINT and SIGTERM by default, even when a backgrounding shell ignored them for us."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def exit_on_sigterm() -> None:
    """Turn SIGTERM (and an inherited ignored SIGINT) into an exit that runs our cleanup: children stop with us."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    signal.signal(signal.SIGINT, signal.default_int_handler)


def spawn(command: Sequence[str], env: Mapping[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``command`` in the checkout with ``env``, taking SIGINT and SIGTERM by default; its output goes to
    ``log`` (appended) when given, else to ours."""
    with log.open("ab") if log else nullcontext() as out:
        return subprocess.Popen(command, cwd=project_root(), env=dict(env), preexec_fn=default_signals, stdout=out,
                                stderr=subprocess.STDOUT if out else None)  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a child we started, by its PID: SIGTERM, then SIGKILL after 20 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Wait until ``process`` listens on ``host:port``; exit the command if it dies or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise typer.Exit(f"{process.args[0]} exited with code {process.returncode} before listening")
        if port_open(host, port):
            return
        time.sleep(0.2)
    raise typer.Exit(f"nothing listens on {host}:{port} after {timeout:.0f}s")
