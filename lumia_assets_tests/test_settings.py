"""Settings: every LUMIA_* variable has a default, and a bad value names the variable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lumia_assets.settings import DEFAULT_CRYPTO_EXCHANGES, Settings, SettingsError

LUMIA_VARIABLES = (
    "LUMIA_WAREHOUSE_URL",
    "LUMIA_UPSTREAM_URL",
    "LUMIA_USER_AGENT",
    "LUMIA_HTTP_TIMEOUT",
    "LUMIA_CRYPTO_EXCHANGES",
    "LUMIA_PRICES_START_DATE",
    "LUMIA_GAP_LOOKBACK_DAYS",
    "LUMIA_GAP_MAX_RUNS",
    "LUMIA_GAP_MAX_DAYS",
    "LUMIA_RATE_LIMITS",
    "LUMIA_MAX_RETRIES",
    "LUMIA_RETRY_MAX_SECONDS",
    "LUMIA_BREAKER_FAILURES",
    "LUMIA_BREAKER_COOLDOWN_SECONDS",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in LUMIA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return monkeypatch


def test_defaults_need_nothing_set(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = Settings.from_env()
    assert settings.warehouse_url == f"sqlite:///{tmp_path / 'home' / 'warehouse.db'}"
    assert settings.upstream_url is None
    assert settings.crypto_exchanges == DEFAULT_CRYPTO_EXCHANGES
    assert settings.prices_start <= date(2021, 11, 22), "the default must reach back at least five years"
    assert "@" in settings.user_agent, "SEC asks for a contact address in the User-Agent"


def test_values_are_parsed(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LUMIA_UPSTREAM_URL", "http://127.0.0.1:8765/")
    clean_env.setenv("LUMIA_CRYPTO_EXCHANGES", " Kraken , binance ")
    clean_env.setenv("LUMIA_PRICES_START_DATE", "2019-01-02")
    clean_env.setenv("LUMIA_HTTP_TIMEOUT", "7.5")
    clean_env.setenv("LUMIA_HOURLY_CANDLES", "Off")
    settings = Settings.from_env()
    assert not settings.hourly_candles
    assert settings.upstream_url == "http://127.0.0.1:8765"
    assert settings.crypto_exchanges == ("kraken", "binance")
    assert settings.prices_start == date(2019, 1, 2)
    assert settings.http_timeout == 7.5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LUMIA_PRICES_START_DATE", "02/01/2020", "LUMIA_PRICES_START_DATE='02/01/2020' is not a date"),
        ("LUMIA_HTTP_TIMEOUT", "soon", "LUMIA_HTTP_TIMEOUT='soon' is not a number"),
        ("LUMIA_HTTP_TIMEOUT", "-1", "must be greater than zero"),
        ("LUMIA_UPSTREAM_URL", "127.0.0.1:8765", "must start with http:// or https://"),
        ("LUMIA_CRYPTO_EXCHANGES", " , ", "LUMIA_CRYPTO_EXCHANGES is empty"),
        ("LUMIA_GAP_LOOKBACK_DAYS", "0", "LUMIA_GAP_LOOKBACK_DAYS='0' must be greater than zero"),
        ("LUMIA_GAP_MAX_RUNS", "two", "LUMIA_GAP_MAX_RUNS='two' is not a whole number"),
        ("LUMIA_RATE_LIMITS", "api.binance.com=fast", "LUMIA_RATE_LIMITS: bad rate limit entry 'api.binance.com=fast'"),
        ("LUMIA_MAX_RETRIES", "-3", "LUMIA_MAX_RETRIES='-3' must be greater than zero"),
        ("LUMIA_BREAKER_COOLDOWN_SECONDS", "later", "is not a number"),
        ("LUMIA_HOURLY_CANDLES", "sometimes", "LUMIA_HOURLY_CANDLES='sometimes' must be true or false"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(
    clean_env: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env()
