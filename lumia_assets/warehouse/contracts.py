"""Frame contracts at the warehouse's door: exact columns, typed values, unique keys, allowed values.

Every frame is checked before anything is written, and comes out ready for a DBAPI driver: dates as
``datetime.date``, timestamps as tz-aware UTC, numbers as floats, and NaN/NaT as ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from lumia_assets.frames import ASSET_CLASSES, CORPORATE_ACTIONS

SYMBOL_STATUSES = ("ok", "no_data", "delisted", "unknown_symbol", "error")
ALLOWED_VALUES: Mapping[str, Sequence[str]] = {
    "asset_class": ASSET_CLASSES,
    "action": CORPORATE_ACTIONS,
    "status": SYMBOL_STATUSES,
}


class FrameContractError(ValueError):
    """A frame handed to the warehouse breaks its table's contract (columns, types, keys or values)."""


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    extra = [c for c in frame.columns if c not in columns]
    if missing or extra:
        raise FrameContractError(
            f"{table}: frame has missing columns {missing} and unexpected columns {extra}; expected {list(columns)}"
        )


def _check_keys(frame: pd.DataFrame, keys: Sequence[str], table: str) -> None:
    if not keys:  # a surrogate key the database assigns
        return
    missing_key = frame[frame[list(keys)].isna().any(axis=1)]
    if not missing_key.empty:
        raise FrameContractError(
            f"{table}: {len(missing_key)} rows have no {list(keys)}, e.g. row {missing_key.index[0]}"
        )
    duplicated = frame[frame.duplicated(list(keys), keep=False)]
    if not duplicated.empty:
        sample = duplicated[list(keys)].head(5).to_dict("records")
        raise FrameContractError(f"{table}: {len(duplicated)} rows repeat a primary key, e.g. {sample}")


def _check_allowed_values(frame: pd.DataFrame, table: str) -> None:
    for column, allowed in ALLOWED_VALUES.items():
        if column in frame.columns:
            unknown = sorted(set(frame[column].dropna().unique().tolist()) - set(allowed))
            if unknown:
                raise FrameContractError(f"{table}.{column}: unknown values {unknown[:10]}; allowed {list(allowed)}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _as_float(series: pd.Series, where: str) -> pd.Series:
    numeric_dtype = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if not numeric_dtype:
        bad = [v for v in series.dropna() if not _is_number(v)]
        if bad:
            raise FrameContractError(f"{where}: expected numbers, got {bad[0]!r} (dtype {series.dtype})")
    return series.astype("float64")


def _as_date(series: pd.Series, where: str) -> pd.Series:
    try:
        codes, uniques = pd.factorize(series)  # a batch repeats its dates: convert each distinct one once
        days = pd.to_datetime(pd.Series(uniques)).dt.date.to_numpy(dtype=object)
    except (ValueError, TypeError) as exc:
        raise FrameContractError(f"{where}: expected dates, got dtype {series.dtype}: {exc}") from exc
    return pd.Series(np.append(days, pd.NaT)[codes], index=series.index, name=series.name, dtype=object)


def _as_utc(series: pd.Series, where: str) -> pd.Series:
    """Tz-aware timestamps converted to UTC: SQLite keeps only the wall time, so the offset must be UTC."""
    values = series.dropna()
    if pd.api.types.is_datetime64_any_dtype(series):
        naive = getattr(series.dt, "tz", None) is None and not values.empty
    else:
        naive = any(getattr(v, "tzinfo", None) is None for v in values)
    if naive:
        raise FrameContractError(
            f"{where}: timestamps must be tz-aware (UTC), got naive values of dtype {series.dtype}"
        )
    try:
        return pd.to_datetime(series, utc=True)
    except (ValueError, TypeError) as exc:
        raise FrameContractError(f"{where}: expected timestamps, got dtype {series.dtype}: {exc}") from exc


def _converter(column_type: sa.types.TypeEngine) -> Callable[[pd.Series, str], pd.Series] | None:
    if isinstance(column_type, sa.Float):
        return _as_float
    if isinstance(column_type, sa.DateTime):
        return _as_utc
    if isinstance(column_type, sa.Date):
        return _as_date
    return None


def without_nan(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as Python objects with NaN/NaT as None."""
    return frame.astype(object).where(frame.notna(), None)


def checked(frame: pd.DataFrame, table: sa.Table, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Check ``frame`` against ``table`` (exactly ``columns``, default: all of them) and return it typed: floats as
    float64 (NaN where missing), dates as ``datetime.date``, timestamps as tz-aware UTC. What the bulk writers take.

    Raises :class:`FrameContractError` naming the table and column at fault; nothing is written then.
    """
    expected = list(columns) if columns is not None else [c.name for c in table.columns]
    _check_columns(frame, expected, table.name)
    out = frame.loc[:, expected].reset_index(drop=True)
    if out.empty:
        return out
    _check_keys(out, [c.name for c in table.primary_key.columns if c.name in expected], table.name)
    _check_allowed_values(out, table.name)
    for name in expected:
        convert = _converter(table.c[name].type)
        if convert is not None:
            out[name] = convert(out[name], f"{table.name}.{name}")
    return out


def conform(frame: pd.DataFrame, table: sa.Table, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Check ``frame`` against ``table`` (exactly ``columns``, default: all of them) and return it driver-ready.

    Raises :class:`FrameContractError` naming the table and column at fault; nothing is written then.
    """
    out = checked(frame, table, columns)
    return out if out.empty else without_nan(out)


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows of a driver-ready frame as dicts of plain Python values (no numpy scalars)."""
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()} for row in frame.to_dict("records")
    ]
