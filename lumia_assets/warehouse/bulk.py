"""Frames as a driver takes them in bulk: PostgreSQL's binary ``COPY`` stream, and SQLite ``executemany`` rows.

Both read a checked frame (``contracts.checked``: floats with NaN, dates, UTC timestamps) or a driver-ready one
(``contracts.conform``: Python objects with None); a missing value (NaN, NaT, None) is written as NULL. The values
travel as data, never as SQL text. Columns are encoded by their type in the SQLAlchemy table, so the binary stream
is meant for a table created from that same definition (see :func:`staging_ddl`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Dialect

PG_EPOCH_DAYS = (date(2000, 1, 1) - date(1970, 1, 1)).days  # binary dates count days from 2000-01-01
PG_EPOCH_MICROSECONDS = PG_EPOCH_DAYS * 86_400 * 1_000_000  # binary timestamptz: microseconds from 2000-01-01 UTC
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")  # signature, flags, no ext.
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def _integer_width(column_type: sa.Integer) -> str:
    if isinstance(column_type, sa.BigInteger):
        return ">i8"
    return ">i2" if isinstance(column_type, sa.SmallInteger) else ">i4"


def _ranges(starts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The positions ``start, start + 1, ..., start + width - 1`` of every (start, width), concatenated."""
    return np.repeat(starts - (np.cumsum(widths) - widths), widths) + np.arange(widths.sum(), dtype=np.int64)


def _fixed(values: np.ndarray, missing: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Field lengths (-1 for NULL) and the big-endian bytes of the present values, in row order."""
    lengths = np.where(missing, -1, np.dtype(dtype).itemsize).astype(np.int64)
    return lengths, np.ascontiguousarray(values[~missing].astype(dtype)).view(np.uint8)


def _binary_field(series: pd.Series, column_type: sa.types.TypeEngine) -> tuple[np.ndarray, np.ndarray]:
    missing = series.isna().to_numpy(dtype=bool)
    if isinstance(column_type, sa.Float):
        return _fixed(series.to_numpy(dtype="float64", na_value=np.nan), missing, ">f8")
    if isinstance(column_type, sa.DateTime):
        stamps = pd.to_datetime(series.where(~missing), utc=True).to_numpy(dtype="datetime64[us]")
        microseconds = np.where(missing, 0, stamps.astype(np.int64) - PG_EPOCH_MICROSECONDS)
        return _fixed(microseconds, missing, ">i8")
    if isinstance(column_type, sa.Date):
        days = pd.to_datetime(series.where(~missing)).to_numpy(dtype="datetime64[D]")
        return _fixed(np.where(missing, 0, days.astype(np.int64) - PG_EPOCH_DAYS), missing, ">i4")
    if isinstance(column_type, sa.Boolean):
        return _fixed(series.where(~missing, False).to_numpy(dtype=bool), missing, "u1")
    if isinstance(column_type, sa.Integer):
        values = series.where(~missing, 0).to_numpy(dtype=np.int64)
        return _fixed(values, missing, _integer_width(column_type))
    if isinstance(column_type, sa.String) and not isinstance(column_type, sa.Enum):  # String, Text: UTF-8 text
        codes, uniques = pd.factorize(series)
        encoded = [str(value).encode() for value in uniques]
        sizes = np.array([len(e) for e in encoded], dtype=np.int64)
        lengths = np.append(sizes, -1)[codes]
        present = codes[codes >= 0]
        distinct = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return lengths, distinct[_ranges((np.cumsum(sizes) - sizes)[present], sizes[present])]
    raise TypeError(f"no binary COPY encoding for {column_type!r}")


def copy_binary(frame: pd.DataFrame, table: sa.Table) -> bytes:
    """``frame`` as a ``COPY ... FROM STDIN (FORMAT binary)`` stream of its columns, in the frame's order.

    Each row is a 16-bit field count and, per field, a 32-bit length (-1: NULL) and the value's bytes. Built with
    vectorised scatters: each field's position is its row's start plus the sizes of the fields before it.
    """
    fields = [_binary_field(frame[name], table.c[name].type) for name in frame.columns]
    sizes = np.stack([4 + np.maximum(lengths, 0) for lengths, _ in fields])  # (fields, rows): length word + value
    row_sizes = 2 + sizes.sum(axis=0, dtype=np.int64)
    row_starts = len(COPY_HEADER) + np.cumsum(row_sizes) - row_sizes
    stream = np.empty(len(COPY_HEADER) + int(row_sizes.sum()) + len(COPY_TRAILER), dtype=np.uint8)
    stream[: len(COPY_HEADER)] = np.frombuffer(COPY_HEADER, dtype=np.uint8)
    stream[len(stream) - len(COPY_TRAILER) :] = np.frombuffer(COPY_TRAILER, dtype=np.uint8)
    stream[row_starts[:, None] + np.arange(2)] = np.frombuffer(len(fields).to_bytes(2, "big"), dtype=np.uint8)
    at = row_starts + 2
    for (lengths, payload), size in zip(fields, sizes, strict=True):
        stream[at[:, None] + np.arange(4)] = lengths.astype(">i4").view(np.uint8).reshape(-1, 4)
        present = lengths > 0
        stream[_ranges(at[present] + 4, lengths[present])] = payload
        at = at + size
    return stream.tobytes()


def staging_ddl(table: sa.Table, columns: list[str], name: str, dialect: Dialect) -> str:
    """``CREATE TEMPORARY TABLE`` of ``columns``, typed as in ``table``'s definition, unconstrained, dropped at
    commit."""
    quote = dialect.identifier_preparer.quote
    typed = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=dialect)}" for c in columns)
    return f"CREATE TEMPORARY TABLE {quote(name)} ({typed}) ON COMMIT DROP"


def _plain(value: object) -> object:
    """A pandas or numpy scalar as the Python value a DBAPI driver takes."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if isinstance(value, np.generic) else value


def driver_column(series: pd.Series, column_type: sa.types.TypeEngine, dialect: Dialect) -> list[object]:
    """``series`` as the values SQLAlchemy would bind for ``column_type`` (its own bind processor), None for NULL.

    Each distinct value is converted once: a batch's dates, timestamps, symbols and sources repeat a lot.
    """
    if isinstance(column_type, sa.Float):
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        values: list[object] = numbers.tolist()
        for i in np.flatnonzero(np.isnan(numbers)).tolist():
            values[i] = None
        return values
    process: Callable[[object], object] | None = column_type.dialect_impl(dialect).bind_processor(dialect)
    codes, uniques = pd.factorize(series)
    plain = [_plain(v) for v in uniques]
    if isinstance(column_type, sa.Date) and not isinstance(column_type, sa.DateTime):
        plain = [v.date() if isinstance(v, datetime) else v for v in plain]
    shown = np.empty(len(plain) + 1, dtype=object)  # the last one, None, for code -1 (missing)
    shown[:-1] = [process(v) for v in plain] if process else plain
    return shown[codes].tolist()


def driver_rows(frame: pd.DataFrame, table: sa.Table, dialect: Dialect) -> list[tuple[object, ...]]:
    """``frame``'s rows as tuples of driver values, in the frame's column order."""
    columns = [driver_column(frame[name], table.c[name].type, dialect) for name in frame.columns]
    return list(zip(*columns, strict=True))
