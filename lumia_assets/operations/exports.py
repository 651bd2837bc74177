"""Exporting a warehouse read to Parquet, CSV or Feather, streamed chunk by chunk, never half-written.

Rows come from ``warehouse.reads.read_chunks`` (a server-side cursor on PostgreSQL), so memory holds one chunk
whatever the export's size. The output is written beside its final name (``.NAME.partial-XXXX``) and renamed into
place only once complete: a failed or killed export leaves nothing under the final name. Parquet and Feather carry
the read's types (``date32`` dates, ``float64`` prices and volumes, ``bool`` flags, strings); CSV writes ISO dates.
Parquet can also be a hive-partitioned folder, ``year=YYYY/part-NNNNN.parquet``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lumia_assets.warehouse.reads import Query

FORMATS = ("parquet", "csv", "feather")
PARTITION_KEYS = ("year",)


class ExportError(ValueError):
    """An export that can't be written as asked: a bad format, output path or partitioning."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: Path
    rows: int
    files: int


def arrow_schema(query: Query) -> pa.Schema:
    """The file schema of ``query``'s rows: the same in every chunk, even one whose column is all NULL."""

    def arrow_type(name: str) -> pa.DataType:
        if name in query.dates:
            return pa.date32()
        if name in query.floats:
            return pa.float64()
        return pa.bool_() if name in query.flags else pa.string()

    return pa.schema([(name, arrow_type(name)) for name in query.columns])


def _arrow(chunk: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)


def _write_file(
    chunks: Iterable[pd.DataFrame], schema: pa.Schema, fmt: str, path: Path, done: Callable[[int], None]
) -> int:
    """Every chunk into the one file ``path``; returns the rows written."""
    rows = 0
    if fmt == "csv":
        with path.open("w", newline="") as handle:
            handle.write(",".join(schema.names) + "\n")
            for chunk in chunks:
                chunk.to_csv(handle, header=False, index=False)
                rows += len(chunk)
                done(len(chunk))
        return rows
    if fmt == "parquet":
        writer = pq.ParquetWriter(path, schema)
    else:  # Feather v2 is the Arrow IPC file format; lz4, as pyarrow's write_feather compresses by default
        writer = pa.ipc.new_file(str(path), schema, options=pa.ipc.IpcWriteOptions(compression="lz4"))
    with writer:  # one row group (record batch) per chunk: larger ones cost more memory than they save
        for chunk in chunks:
            writer.write_table(_arrow(chunk, schema))
            rows += len(chunk)
            done(len(chunk))
    return rows


def _write_partitioned(
    chunks: Iterable[pd.DataFrame], schema: pa.Schema, folder: Path, done: Callable[[int], None]
) -> tuple[int, int]:
    """Every chunk as one Parquet file per year it spans, under ``folder/year=YYYY/``; returns (rows, files)."""
    rows = files = 0
    for chunk in chunks:
        years = pd.to_datetime(chunk["date"]).dt.year
        for year, part in chunk.groupby(years, sort=True):
            target = folder / f"year={year}"
            target.mkdir(exist_ok=True)
            pq.write_table(_arrow(part, schema), target / f"part-{files:05d}.parquet")
            files += 1
        rows += len(chunk)
        done(len(chunk))
    return rows, files


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export(
    chunks: Iterable[pd.DataFrame],
    query: Query,
    fmt: str,
    out: Path,
    partition_by: str | None = None,
    done: Callable[[int], None] = lambda rows: None,
) -> ExportResult:
    """Write ``chunks`` (typed frames of ``query``) to ``out`` in ``fmt``; ``done`` hears of each chunk's rows.

    A file is replaced if it exists; a partitioned folder must not exist yet (its old parts would mix in).
    """
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: choose one of {list(FORMATS)}")
    if partition_by is not None and (partition_by not in PARTITION_KEYS or fmt != "parquet"):
        raise ExportError(f"--partition-by {partition_by!r}: only 'year', and only with --format parquet")
    if partition_by is not None and "date" not in query.columns:
        raise ExportError("--partition-by year needs dated rows (prices or actions), not the universe")
    if not out.parent.is_dir():
        raise ExportError(f"--out {out}: the folder {out.parent} does not exist")
    if partition_by is not None and out.exists():
        raise ExportError(f"--out {out} exists; a partitioned export writes a new folder")
    if partition_by is None and out.is_dir():
        raise ExportError(f"--out {out} is a folder; name a file (or use --partition-by year)")
    schema = arrow_schema(query)
    if partition_by is not None:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        try:
            rows, files = _write_partitioned(chunks, schema, staging, done)
            staging.rename(out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return ExportResult(out, rows, files)
    handle, name = tempfile.mkstemp(prefix=f".{out.name}.partial-", dir=out.parent)
    os.close(handle)
    staging = Path(name)
    try:
        rows = _write_file(chunks, schema, fmt, staging, done)
        staging.chmod(0o666 & ~_umask())  # mkstemp's file is private; the export gets the usual permissions
        os.replace(staging, out)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return ExportResult(out, rows, 1)
