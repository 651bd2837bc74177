"""``crypto_hourly_prices`` end to end on both backends: the real ccxt client against the simulator's venues."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.calendars import last_closed_crypto_hour
from lumia_assets.defs.prices.assets import crypto_daily_prices
from lumia_assets.defs.prices.hourly import HOUR_FORMAT, crypto_hourly_prices
from lumia_assets.defs.prices.hourly_sensors import due_hours, hourly_gap_sensor
from lumia_assets.defs.prices.schedules import crypto_hourly_after_the_hour
from lumia_assets.defs.resources import build_resources, warehouse_engine
from lumia_assets.settings import Settings
from lumia_assets_tests.defs.checks_helpers import execute, run_checks
from lumia_assets_tests.defs.prices_helpers import PRICE_VALUES, materialize, metadata_of

HOUR = timedelta(hours=1)
KLINES = {"binance": ("api.binance.com", "/api/v3/klines"), "kraken": ("api.kraken.com", "/0/public/OHLC"),
          "coinbaseexchange": ("api.exchange.coinbase.com", "/candles")}  # fmt: skip

pytestmark = pytest.mark.slow


def _key(hour: datetime) -> str:
    return f"{hour:{HOUR_FORMAT}}"


def _stored(warehouse_url: str) -> pd.DataFrame:
    query = "SELECT symbol, open_time, open, high, low, close, volume, source FROM candles ORDER BY symbol, open_time"
    with warehouse_engine(warehouse_url).connect() as conn:
        frame = pd.read_sql(sa.text(query), conn)
    return frame.assign(open_time=pd.to_datetime(frame["open_time"], utc=True))


def _printed(decimals: int) -> Callable[[float], float]:
    """A price as a venue prints it with ``decimals``: Python's correctly rounded format (numpy's ``round`` can
    differ in the last digit, 14831.12211 against the 14831.1221 Kraken printed)."""
    return lambda value: float(f"{value:.{decimals}f}")


def _truth(sim, stored: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """The simulator's closed candles of each stored pair from the venue that served it (Kraken prints 5 decimals)."""
    frames = []
    for (symbol, source), _ in stored.groupby(["symbol", "source"]):
        truth = sim.crypto.hourly_candles(source, symbol, start, end)
        truth[PRICE_VALUES[:4]] = truth[PRICE_VALUES[:4]].map(_printed(5 if source == "kraken" else 8))
        frames.append(truth.assign(symbol=symbol, source=source))
    return pd.concat(frames, ignore_index=True)[stored.columns].sort_values(["symbol", "open_time"], ignore_index=True)


def _assert_stored_equal_the_truth(sim, warehouse_url: str, start: datetime, end: datetime) -> pd.DataFrame:
    stored = _stored(warehouse_url)
    pd.testing.assert_frame_equal(stored, _truth(sim, stored, start, end), check_dtype=False, rtol=1e-12)
    return stored


@pytest.mark.parametrize("hours", [1, 48])
def test_hours_of_candles_equal_the_simulators_truth(sim, warehouse_url, settings, hours: int) -> None:
    end = last_closed_crypto_hour(datetime.now(UTC)) - HOUR
    start = end - (hours - 1) * HOUR

    result = materialize(settings, [crypto_hourly_prices], _key(start), _key(end))

    assert result.success
    stored = _assert_stored_equal_the_truth(sim, warehouse_url, start, end)
    assert stored.groupby("symbol").size().eq(hours).all()
    metadata = metadata_of(result, crypto_hourly_prices)
    assert metadata["rows_written"] == len(stored) and metadata["hours"] == hours


def test_thirty_days_cost_the_pages_each_venue_needs(sim, warehouse_url, settings) -> None:
    end = last_closed_crypto_hour(datetime.now(UTC))
    start = end - (30 * 24 - 1) * HOUR

    result = materialize(settings, [crypto_hourly_prices], _key(start), _key(end))

    assert result.success
    stored = _assert_stored_equal_the_truth(sim, warehouse_url, start, end)
    served = stored.groupby("symbol")["source"].first()
    for venue, (host, path) in KLINES.items():
        pairs = int((served == venue).sum())
        pages = {"binance": 1, "kraken": 1, "coinbaseexchange": 3}[venue]  # 720 hours: 1,000 / 720 / 300 a page
        assert len(sim.requests(host=host, path_contains=path)) == pairs * pages, venue
    # Kraken serves only its newest 720 hours, fewer than the range reaches back: its pairs come from elsewhere
    assert "kraken" not in set(served)
    metadata = metadata_of(result, crypto_hourly_prices)
    assert metadata["symbols_not_served"] + metadata["symbols_covered"] == metadata["symbols_expected"]


def test_an_hour_that_has_not_closed_is_refused_and_nothing_is_stored(sim, warehouse_url, settings) -> None:
    current = last_closed_crypto_hour(datetime.now(UTC)) + HOUR

    result = materialize(settings, [crypto_hourly_prices], _key(current), _key(current))

    assert not result.success
    assert "has not closed yet" in str(result.get_step_failure_events()[0].event_specific_data.error)
    assert _stored(warehouse_url).empty


def test_the_hourly_schedule_asks_for_the_hour_that_just_closed() -> None:
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 3, 10, 7, 5, tzinfo=UTC))
    request = crypto_hourly_after_the_hour(context)
    assert request.partition_key == "2024-03-10-06:00"  # the US changes clocks that morning: UTC hours do not


def test_hourly_and_daily_agree_and_a_corrupted_candle_is_named(sim, warehouse_url, settings) -> None:
    day = datetime.now(UTC).date() - timedelta(days=3)
    first, last = datetime(day.year, day.month, day.day, tzinfo=UTC), datetime(day.year, day.month, day.day, 23,
                                                                                tzinfo=UTC)  # fmt: skip
    assert materialize(settings, [crypto_daily_prices], day, day).success
    assert materialize(settings, [crypto_hourly_prices], _key(first), _key(last)).success

    hourly = run_checks(settings, "crypto_hourly_prices", _key(first), _key(last))
    daily = run_checks(settings, "crypto_daily_prices", day, day)
    assert hourly["hourly_daily_agreement"].passed and daily["hourly_daily_agreement"].passed
    assert hourly["hourly_daily_agreement"].metadata["checked"].value > 0
    assert hourly["candle_sanity"].passed and hourly["coverage"].passed and hourly["no_duplicate_candles"].passed
    assert hourly["no_duplicate_candles"].metadata["checked"].value == len(_stored(warehouse_url))

    symbol = _stored(warehouse_url)["symbol"].iloc[0]
    # the day's last hourly close is the daily close: a partial or corrupted last candle shows there
    execute(warehouse_url, "UPDATE candles SET close = close * 1.001 WHERE symbol = :symbol AND open_time = "
            "(SELECT max(open_time) FROM candles WHERE symbol = :symbol)", symbol=symbol)  # fmt: skip
    failed = run_checks(settings, "crypto_daily_prices", day, day)["hourly_daily_agreement"]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert symbol in failed.description and day.isoformat() in failed.description and "close" in failed.description
    assert failed.metadata["failing"].value == 1


def test_a_missing_hour_is_found_and_repaired_by_the_gap_sensor(sim, warehouse_url, settings) -> None:
    hours = due_hours(datetime.now(UTC), Settings.from_env())
    stored_before = len(_stored(warehouse_url))
    symbol = next(p.symbol for p in sim.crypto.pairs("binance") if p.listed_on is None and p.delisted_on is None)
    lost = hours[len(hours) // 2]
    fault = sim.faults.inject("api.binance.com", "missing_candles", candles={(symbol, lost)})
    assert materialize(settings, [crypto_hourly_prices], _key(hours[0]), _key(hours[-1])).success
    sim.faults.remove(fault)
    stored = _stored(warehouse_url)
    assert stored_before == 0 and not ((stored["symbol"] == symbol) & (stored["open_time"] == lost)).any()

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=build_resources(settings))
        (request,) = hourly_gap_sensor(context).run_requests
        assert request.run_config["ops"]["crypto_hourly_prices"]["config"]["symbols"] == [symbol]
        assert request.tags["dagster/asset_partition_range_start"] == _key(lost) == request.tags[
            "dagster/asset_partition_range_end"]  # fmt: skip
        repaired = materialize(settings, [crypto_hourly_prices], _key(lost), _key(lost), request.run_config)
        assert repaired.success
        result = hourly_gap_sensor(dg.build_sensor_context(instance=instance, resources=build_resources(settings)))
    assert not result.run_requests and "no candle missing" in result.skip_reason.skip_message
    _assert_stored_equal_the_truth(sim, warehouse_url, hours[0], hours[-1])
