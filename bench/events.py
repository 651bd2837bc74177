"""What Dagster's storage spends on each asset check evaluation a step yields: the instance the product ships
against Dagster's own storage of the same backend, in the same run.

Usage::

    .venv/bin/python bench/events.py [--partitions 365] [--checks 7] [--repeats 3] [--json out.json]

A range run's check step yields one evaluation per partitioned check and partition (7 × 365 = 2,555 for a year of
crypto), and the step's wall time is nearly all their storage. Each case materializes, in process and on a fresh
instance, one ``multi_asset_check`` of ``--checks`` partitioned checks over ``--partitions`` daily partitions, and
times the step's loop from its first yield to its last (median of ``--repeats``). The instances:

- ``sqlite, Dagster's``: ``storage: sqlite`` (Dagster's default);
- ``sqlite, the product's``: the repo's ``dagster.yaml`` (its pooled event log);
- ``postgresql, Dagster's``: ``storage: postgres`` (dagster-postgres);
- ``postgresql, the product's``: ``deploy/dagster.postgres.yaml``.

PostgreSQL is ``--postgres`` (default ``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres``): each case
creates a database of its own there and drops it after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
DAGSTER_STORAGE = {
    "sqlite": "storage:\n  sqlite:\n    base_dir:\n      env: DAGSTER_HOME\n",
    "postgresql": (
        "storage:\n  postgres:\n    postgres_db:\n      scheme: postgresql+psycopg2\n"
        "      username: {env: DAGSTER_PG_USERNAME}\n      password: {env: DAGSTER_PG_PASSWORD}\n"
        "      hostname: {env: DAGSTER_PG_HOST}\n      db_name: {env: DAGSTER_PG_DB}\n      port: 5432\n"
    ),
}
PRODUCT_INSTANCE = {"sqlite": REPO / "dagster.yaml", "postgresql": REPO / "deploy" / "dagster.postgres.yaml"}


def step_seconds(partitions: int, checks: int) -> float:
    """Materialize the check step on ``$DAGSTER_HOME``'s instance; the seconds from its first yield to its last."""
    import warnings

    import dagster as dg

    warnings.simplefilter("ignore")
    days = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2026-12-31")
    keys = days.get_partition_keys()[:partitions]

    @dg.asset(partitions_def=days)
    def prices() -> None:
        """The checked asset (nothing to write)."""

    specs = [dg.AssetCheckSpec(f"check_{n}", asset=prices, partitions_def=days) for n in range(checks)]
    timed: dict[str, float] = {}

    @dg.multi_asset_check(specs=specs, can_subset=True)  # as the product's check steps: results, not outputs
    def verdicts(context):  # no annotation: dagster is imported in the function, not at module level
        started = time.perf_counter()
        for key in context.partition_keys:
            for spec in specs:
                yield dg.AssetCheckEvaluation(asset_key=spec.asset_key, check_name=spec.name, passed=True,
                                              partition=key, metadata={"rows": 1}, blocking=False)  # fmt: skip
        timed["loop"] = time.perf_counter() - started

    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    with dg.DagsterInstance.get() as instance:
        dg.materialize([prices, verdicts], instance=instance, tags=tags)
    return timed["loop"]


def case(backend: str, instance: str, args: argparse.Namespace) -> float:
    """One case in a subprocess with a fresh instance (and, for PostgreSQL, a fresh database): seconds."""
    home = Path(tempfile.mkdtemp(prefix="lumia_events_"))
    config = PRODUCT_INSTANCE[backend].read_text() if instance == "product" else DAGSTER_STORAGE[backend]
    (home / "dagster.yaml").write_text(config)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    database = f"lumia_events_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    url = sa.engine.make_url(args.postgres)
    if backend == "postgresql":
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
        env |= {"DAGSTER_PG_USERNAME": url.username or "postgres", "DAGSTER_PG_PASSWORD": url.password or "",
                "DAGSTER_PG_HOST": url.host or "127.0.0.1", "DAGSTER_PG_DB": database}  # fmt: skip
    try:
        done = subprocess.run([sys.executable, __file__, "step", str(args.partitions), str(args.checks)], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode:
            raise SystemExit(f"{backend}, {instance}: the step exited {done.returncode}\n{done.stderr[-3000:]}")
        return float(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if backend == "postgresql":
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    if sys.argv[1:2] == ["step"]:
        print(step_seconds(int(sys.argv[2]), int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, default=365)
    parser.add_argument("--checks", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    events = args.partitions * args.checks
    print(f"{events:,} evaluations a step ({args.checks} checks x {args.partitions} partitions), "
          f"median of {args.repeats}\n")  # fmt: skip
    print("| backend | instance | step s | ms an evaluation | ÷ Dagster's |\n|---|---|---|---|---|")
    results: list[dict[str, Any]] = []
    for backend in ("sqlite", "postgresql"):
        seconds = {}
        for instance in ("dagster", "product"):
            runs = [case(backend, instance, args) for _ in range(args.repeats)]
            seconds[instance] = statistics.median(runs)
            ratio = seconds[instance] / seconds["dagster"]
            label = "Dagster's" if instance == "dagster" else "the product's"
            print(f"| {backend} | {label} | {seconds[instance]:.2f} | {seconds[instance] / events * 1000:.2f} | "
                  f"{ratio:.2f} |", flush=True)  # fmt: skip
            results.append({"backend": backend, "instance": instance, "runs": runs, "seconds": seconds[instance],
                            "ms_per_evaluation": seconds[instance] / events * 1000, "ratio": ratio})  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"evaluations": events, "results": results}, indent=2))


if __name__ == "__main__":
    main()
