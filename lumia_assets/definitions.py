"""The one Definitions object: everything under ``defs/``, loaded by folder, with a freshness policy per asset."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lumia_assets.defs.monitoring.freshness import with_freshness_policies


@dg.definitions
def defs() -> dg.Definitions:
    """Assets, checks, schedules, sensors and resources of every domain in ``lumia_assets/defs``."""
    return with_freshness_policies(dg.load_from_defs_folder(path_within_project=Path(__file__).parent))
