"""The one Definitions object: everything under ``defs/``, loaded by folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Assets, checks, schedules, sensors and resources of every domain in ``lumia_assets/defs``."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
