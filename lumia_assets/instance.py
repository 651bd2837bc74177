"""The Dagster instance the ``lumia`` commands use: ``$DAGSTER_HOME``, defaulting inside the checkout."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from lumia_assets.settings import dagster_home, project_root


def ensure_dagster_home(template: Path | None = None) -> Path:
    """Point ``DAGSTER_HOME`` at a persistent directory and give it the project's dagster.yaml (or ``template``).

    Unset, it defaults to ``.dagster_home/`` in the checkout (git ignores it), never a temporary
    directory, so run history survives restarts. An existing dagster.yaml there is left alone.
    """
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    template = template or project_root() / "dagster.yaml"
    if template.exists() and not (home / "dagster.yaml").exists():
        shutil.copyfile(template, home / "dagster.yaml")
    return home


def get_instance() -> dg.DagsterInstance:
    """The persistent instance under ``$DAGSTER_HOME`` (created on first use)."""
    ensure_dagster_home()
    return dg.DagsterInstance.get()
