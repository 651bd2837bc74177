"""Reading the warehouse back (``lumia_assets.read_prices``, ...) and ``lumia export``, on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import lumia_assets
from lumia_assets.cli import app
from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices
from lumia_assets.operations import exports
from lumia_assets.warehouse.reads import Selection, prices_query
from lumia_assets_tests.defs.prices_helpers import (
    derived_prices,
    evening,
    load_universes,
    materialize,
    quiet_symbols,
    settings_for,
    stored_actions,
    stored_prices,
)

pytestmark = pytest.mark.slow
runner = CliRunner()
FIRST, SPLIT_ON, LAST = date(2024, 9, 23), date(2024, 10, 3), date(2024, 10, 15)
CRYPTO_FIRST, CRYPTO_LAST = date(2024, 10, 12), date(2024, 10, 14)


@pytest.fixture
def warehouse(sim, warehouse_url, tmp_path, monkeypatch) -> dict[str, object]:
    """A warehouse with three weeks of equities (one split among them) and three days of crypto."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("LUMIA_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("LUMIA_CRYPTO_EXCHANGES", "binance")
    sim.set_clock(evening(LAST))
    [splitter] = quiet_symbols(sim, "stock", 1, FIRST)
    sim.equities.add_split(splitter, SPLIT_ON, 2.0)
    settings = settings_for(sim, warehouse_url)
    load_universes(settings)
    assert materialize(settings, [equity_daily_prices], FIRST, LAST).success
    assert materialize(settings, [crypto_daily_prices], CRYPTO_FIRST, CRYPTO_LAST).success
    return {"url": warehouse_url, "splitter": splitter}


def _equities(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["asset_class"] != "crypto"].reset_index(drop=True)


def test_read_prices_is_the_stored_rows_typed_and_filtered_in_sql(warehouse) -> None:
    url, splitter = warehouse["url"], warehouse["splitter"]
    stored = stored_prices(url, ("stock", "etf", "mutual_fund"))
    window = stored[(stored["date"] >= date(2024, 10, 1)) & (stored["date"] <= date(2024, 10, 4))]

    read = lumia_assets.read_prices(start=date(2024, 10, 1), end=date(2024, 10, 4), asset_classes=["stock", "etf",
                                    "mutual_fund"])  # fmt: skip

    expected = window.sort_values(["symbol", "asset_class", "date"], ignore_index=True)
    pd.testing.assert_frame_equal(read.drop(columns="source"), expected.drop(columns="source"), check_dtype=False)
    assert all(isinstance(day, date) for day in read["date"])
    assert {read[c].dtype.name for c in ("open", "high", "low", "close", "volume")} == {"float64"}
    one = lumia_assets.read_prices(symbols=[splitter], start=FIRST, end=LAST)
    assert set(one["symbol"]) == {splitter} and len(one) == len(stored[stored["symbol"] == splitter])
    assert lumia_assets.read_prices(symbols=["NO'; DROP TABLE daily_prices; --"]).empty  # a parameter, not SQL
    crypto = lumia_assets.read_prices(asset_classes=["crypto"])
    assert not crypto.empty and crypto["volume"].dtype.name == "float64"
    assert (crypto["volume"] % 1 != 0).any()  # fractional base-asset volumes survive


def test_adjusted_reads_are_the_derived_series_and_actions_and_universe_read_back(warehouse) -> None:
    url, splitter = warehouse["url"], warehouse["splitter"]

    adjusted = lumia_assets.read_prices(symbols=[splitter], start=FIRST, end=LAST, adjusted=True)

    derived = derived_prices(url, [splitter], FIRST, LAST)
    pd.testing.assert_frame_equal(
        adjusted.drop(columns="asset_class"), derived, check_dtype=False, check_exact=False, rtol=1e-12
    )
    actions = lumia_assets.read_actions(symbols=[splitter])
    assert list(actions[["date", "action", "value"]].itertuples(index=False, name=None)) == [(SPLIT_ON, "split", 2.0)]
    assert len(lumia_assets.read_actions()) == len(stored_actions(url))
    universe = lumia_assets.read_universe(asset_classes=["crypto"])
    assert not universe.empty and set(universe["asset_class"]) == {"crypto"} and universe["active"].dtype == bool
    with pytest.raises(ValueError, match=r"asset_classes: unknown \['bond'\]"):
        lumia_assets.read_prices(asset_classes=["bond"])
    with pytest.raises(ValueError, match="start 2024-10-15 is after end 2024-10-01"):
        lumia_assets.read_prices(start=LAST, end=date(2024, 10, 1))


def _read_back(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "feather":
        return pd.read_feather(path)
    frame = pd.read_csv(path, keep_default_na=True)
    return frame.assign(date=pd.to_datetime(frame["date"]).dt.date)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "feather"])
def test_an_export_reads_back_as_read_prices_in_every_format(warehouse, tmp_path, fmt: str) -> None:
    out = tmp_path / f"prices.{fmt}"

    result = runner.invoke(app, ["export", "--what", "prices", "--format", fmt, "--out", str(out), "--chunk-rows",
                                 "500", "--start", str(FIRST), "--end", str(LAST)])  # fmt: skip

    assert result.exit_code == 0, result.output
    expected = lumia_assets.read_prices(start=FIRST, end=LAST)
    back = _read_back(out, fmt)
    assert f"wrote {len(expected)} rows of prices" in result.output
    if fmt == "csv":  # text: the numbers and dates are the same, the dtypes are what CSV can say
        pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    else:
        pd.testing.assert_frame_equal(back, expected)
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def test_a_partitioned_export_writes_a_folder_per_year_and_bad_options_are_named(warehouse, tmp_path) -> None:
    out = tmp_path / "bars"

    result = runner.invoke(app, ["export", "--out", str(out), "--partition-by", "year", "--adjusted"])

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["year=2024"]
    back = pq.read_table(out).to_pandas().drop(columns="year").sort_values(["symbol", "asset_class", "date"])
    expected = lumia_assets.read_prices(adjusted=True)
    pd.testing.assert_frame_equal(back.reset_index(drop=True), expected)
    for args, message in [
        (["--partition-by", "month"], "only 'year'"),
        (["--what", "universe", "--partition-by", "year"], "not the universe"),
        (["--what", "actions", "--adjusted"], "--adjusted applies to --what prices only"),
        (["--start", "2024-13-01"], "'2024-13-01' is not a date"),
        (["--asset-classes", "bond"], "unknown ['bond']"),
    ]:
        bad = runner.invoke(app, ["export", "--out", str(tmp_path / "x.parquet"), *args], env={"COLUMNS": "300"})
        assert bad.exit_code == 2 and message in bad.output, (args, bad.output)


def test_a_failed_or_killed_export_leaves_nothing_under_its_name(warehouse, tmp_path) -> None:
    query = prices_query(Selection())
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "prices.parquet"

    def failing_chunks():
        yield lumia_assets.read_prices().head(10)
        raise ConnectionError("the warehouse went away")

    with pytest.raises(ConnectionError):
        exports.export(failing_chunks(), query, "parquet", out)
    assert list(folder.iterdir()) == []

    command = [sys.executable, "-m", "lumia_assets.cli", "export", "--format", "csv", "--out", str(out),
               "--chunk-rows", "1"]  # fmt: skip
    process = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(".partial-" in p.name for p in folder.iterdir()):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the export never started writing"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists()  # the partial file may stay behind, never under the final name
