"""The simulator's clock: set by ``as_of`` or ``now``, advanced by NYSE sessions, shared by every market."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lumia_assets.sim import MarketSimulator, SimConfig
from lumia_assets.sim.clock import SimClock
from lumia_assets_tests.sim.conftest import FRIDAY, MONDAY, THURSDAY, TUESDAY

NEW_YORK = ZoneInfo("America/New_York")


def _evening(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 18, 0, tzinfo=NEW_YORK)


def test_as_of_starts_the_clock_at_18_00_new_york_after_the_close(friday_evening: MarketSimulator) -> None:
    assert friday_evening.now == _evening(FRIDAY)
    assert friday_evening.now.tzinfo == UTC


def test_now_sets_the_clock_and_without_either_it_follows_real_time() -> None:
    frozen = datetime(2024, 6, 14, 21, 0, tzinfo=UTC)

    assert SimClock.from_config(SimConfig(profile="small", now=frozen)).now() == frozen
    real = SimClock.from_config(SimConfig(profile="small")).now()
    assert abs(real - datetime.now(UTC)) < timedelta(seconds=5)


def test_now_and_as_of_together_are_refused() -> None:
    with pytest.raises(ValueError, match="now or as_of"):
        SimConfig(now=datetime(2024, 6, 14, tzinfo=UTC), as_of=FRIDAY)


def test_advancing_one_session_from_friday_evening_reaches_monday_evening(friday_evening: MarketSimulator) -> None:
    assert friday_evening.advance() == _evening(MONDAY)
    assert friday_evening.now == _evening(MONDAY)


def test_advancing_skips_weekends_and_holidays(friday_evening: MarketSimulator) -> None:
    assert friday_evening.advance(sessions=3) == _evening(THURSDAY)  # past the weekend and Juneteenth


def test_advancing_during_a_session_reaches_that_sessions_evening(friday_evening: MarketSimulator) -> None:
    friday_evening.set_clock(datetime(2024, 6, 18, 11, 0, tzinfo=NEW_YORK))

    assert friday_evening.advance() == _evening(TUESDAY)


def test_advance_moves_forward_only(friday_evening: MarketSimulator) -> None:
    with pytest.raises(ValueError, match="one session or more"):
        friday_evening.advance(0)


def test_set_clock_needs_a_time_zone(friday_evening: MarketSimulator) -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        friday_evening.set_clock(datetime(2024, 6, 17, 18, 0))


def test_reset_puts_the_clock_back_at_its_configured_start(friday_evening: MarketSimulator) -> None:
    friday_evening.advance(5)

    friday_evening.reset()

    assert friday_evening.now == _evening(FRIDAY)


def test_crypto_runs_on_the_same_clock(friday_evening: MarketSimulator) -> None:
    symbol = friday_evening.crypto.pairs("binance")[0].symbol
    day = date(2024, 6, 1)

    before = friday_evening.crypto.daily_candles("binance", symbol, day, date(2024, 7, 1))
    friday_evening.advance()  # Friday 22:00 UTC to Monday 22:00 UTC: three more closed UTC days
    after = friday_evening.crypto.daily_candles("binance", symbol, day, date(2024, 7, 1))

    assert len(after) == len(before) + 3
    assert after["date"].iloc[-1] == date(2024, 6, 16)


def test_the_directories_follow_the_clock(friday_evening: MarketSimulator) -> None:
    victim = friday_evening.equities.listed("nasdaqlisted")[0].symbol
    friday_evening.equities.delist(victim, MONDAY)

    assert victim in {i.symbol for i in friday_evening.equities.listed("nasdaqlisted")}
    friday_evening.advance()
    assert victim not in {i.symbol for i in friday_evening.equities.listed("nasdaqlisted")}
