"""The one Definitions object: everything under ``defs/``, loaded by folder, with a freshness policy per asset."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lumia_assets.defs.monitoring.freshness import with_freshness_policies

# Ad-hoc runs (the UI's "Materialize", ``dagster asset materialize``) may select assets that run side by side,
# equities and crypto in their own pools, so they keep the multiprocess executor; its forkserver imports the code
# location once per run and forks each step from it, instead of starting a fresh interpreter that re-imports it.
# The named jobs (defs/prices/jobs.py) run in process.
DEFAULT_EXECUTOR = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["lumia_assets.definitions"]}}}
)


@dg.definitions
def defs() -> dg.Definitions:
    """Assets, checks, schedules, sensors and resources of every domain in ``lumia_assets/defs``."""
    folder = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return with_freshness_policies(dg.Definitions.merge(folder, dg.Definitions(executor=DEFAULT_EXECUTOR)))
