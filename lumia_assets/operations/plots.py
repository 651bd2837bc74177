"""Pictures as PNG: price coverage (asset class x date), one symbol's price history, and the weekly trends.

matplotlib loads only when a picture is drawn, with its headless Agg backend.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pandas as pd

COVERAGE_SESSIONS = 90  # the heatmap's span, in the equity calendar's sessions


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    _pyplot().close(figure)
    return buffer.getvalue()


def coverage_png(coverage: pd.DataFrame, title: str) -> bytes:
    """A heatmap of ``coverage`` (``gaps.COVERAGE_COLUMNS``): one row per asset class, one column per date, the
    share of expected bars present (grey where nothing is expected)."""
    plt = _pyplot()
    share = coverage.assign(pct=100 * coverage["present"] / coverage["expected"].where(coverage["expected"] > 0))
    grid = share.pivot(index="asset_class", columns="date", values="pct")
    figure, axis = plt.subplots(figsize=(max(6.0, 0.09 * grid.shape[1] + 2), 0.5 * grid.shape[0] + 1.6))
    colormap = plt.get_cmap("RdYlGn").with_extremes(bad="lightgrey")
    image = axis.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap=colormap, vmin=0, vmax=100,
                        interpolation="nearest")  # fmt: skip
    axis.set_yticks(range(grid.shape[0]), list(grid.index), fontsize=8)
    step = max(1, grid.shape[1] // 10)
    axis.set_xticks(range(0, grid.shape[1], step), [str(day) for day in grid.columns[::step]], fontsize=7, rotation=45)
    figure.colorbar(image, ax=axis, label="% of expected bars", fraction=0.03)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return _png(figure)


def price_png(bars: pd.DataFrame, symbol: str, adjusted: bool) -> bytes:
    """One symbol's close (adjusted close, if ``adjusted``) over its volume, from a ``read_prices`` frame."""
    plt = _pyplot()
    dates = pd.to_datetime(bars["date"])
    figure, (prices, volumes) = plt.subplots(2, 1, figsize=(9, 5), sharex=True, height_ratios=(3, 1))
    prices.plot(dates, bars["adj_close" if adjusted else "close"], linewidth=1)
    prices.set_ylabel("adjusted close" if adjusted else "close (as traded)", fontsize=8)
    prices.set_title(f"{symbol}: {bars['date'].iloc[0]} to {bars['date'].iloc[-1]}", fontsize=9)
    prices.grid(alpha=0.3)
    volumes.bar(dates, bars["volume"].fillna(0), width=1.0, color="grey")
    volumes.set_ylabel("volume", fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    return _png(figure)


def weekly_png(report: dict[str, Any], trends: tuple[str, ...]) -> bytes:
    """One panel per trend of a ``run_reports.weekly_report``."""
    plt = _pyplot()
    labels = [day["date"][5:] for day in report["days"]]
    figure, axes = plt.subplots(len(trends), 1, figsize=(8, 2.2 * len(trends)), sharex=True)
    for axis, key in zip(axes, trends, strict=True):
        values = [day[key] if day[key] is not None else float("nan") for day in report["days"]]
        axis.plot(labels, values, marker="o")
        axis.set_ylabel(key, fontsize=8)
        axis.grid(alpha=0.3)
    axes[0].set_title(f"lumia: {report['start']} to {report['end']}")
    figure.tight_layout()
    return _png(figure)


def write_png(png: bytes, path: Path) -> Path:
    """``png`` written to ``path`` (its folder created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def markdown_image(png: bytes, caption: str) -> str:
    """``png`` as a Markdown image with a data URI: Dagster's UI shows it in the metadata panel."""
    return f"![{caption}](data:image/png;base64,{base64.b64encode(png).decode()})"
