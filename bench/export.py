"""Export benchmark of issue #13: ``lumia export`` of a whole warehouse, its peak memory and throughput.

Usage::

    nice -n 5 .venv/bin/python bench/scale.py --years 5 --repeats 1 --keep      # builds lumia_scale_5y, kept
    URL=postgresql+psycopg2://postgres@127.0.0.1:5432/lumia_scale_5y
    nice -n 5 .venv/bin/python -W ignore bench/export.py --url $URL [--formats parquet,csv,feather,partitioned] \
        [--json FILE]

Each export is the real command, ``lumia export --what prices --format F --out PATH`` (``partitioned``:
``--format parquet --partition-by year``) against the warehouse at ``--url``, in a subprocess whose ``VmHWM`` is
sampled until it exits (``memory.run_measured``). Figures: wall time, rows/s, output size, the peak, and its ratio
to the baseline measured in the same run: ``lumia export --help`` (the interpreter, the CLI and its imports). The
target is a peak under 250 MB for five years of the full universe.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from memory import run_measured

TARGET_MB = 250
LUMIA = [sys.executable, "-W", "ignore", "-m", "lumia_assets.cli"]


def rows_of(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = int(conn.execute(sa.text("SELECT count(*) FROM daily_prices")).scalar_one())
    engine.dispose()
    return rows


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the warehouse to export (LUMIA_WAREHOUSE_URL)")
    parser.add_argument("--formats", default="parquet,csv,feather,partitioned")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="lumia-export-"))
    env = {**os.environ, "LUMIA_WAREHOUSE_URL": args.url, "DAGSTER_HOME": str(workdir / "dagster_home")}
    rows = rows_of(args.url)
    baseline = run_measured([*LUMIA, "export", "--help"], env, workdir / "help.log")["peak_mb"]
    print(f"{rows:,} bars; baseline (lumia export --help) {baseline} MB", flush=True)
    figures: list[dict[str, Any]] = []
    try:
        for name in args.formats.split(","):
            fmt, extra = ("parquet", ["--partition-by", "year"]) if name == "partitioned" else (name, [])
            out = workdir / f"prices-{name}"
            command = [*LUMIA, "export", "--what", "prices", "--format", fmt, "--out", str(out), *extra]
            run = run_measured(command, env, workdir / f"{name}.log")
            figure = {
                "format": name,
                "exit_code": run["exit_code"],
                "wall_s": run["wall_seconds"],
                "rows_per_s": round(rows / run["wall_seconds"]),
                "output_mb": size_mb(out) if out.exists() else None,
                "peak_mb": run["peak_mb"],
                "x_baseline": round(run["peak_mb"] / baseline, 2),
                "verdict": "meets" if run["exit_code"] == 0 and run["peak_mb"] < TARGET_MB else "misses",
            }
            figures.append(figure)
            print(json.dumps(figure), flush=True)
            shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("| format | wall s | rows/s | output MB | peak MB | × baseline | target MB | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for f in figures:
        print(f"| {f['format']} | {f['wall_s']} | {f['rows_per_s']:,} | {f['output_mb']} | {f['peak_mb']} | "
              f"{f['x_baseline']} | {TARGET_MB} | {f['verdict']} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "baseline_mb": baseline, "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
