"""LUMIA_CRYPTO_FALLBACKS: off by default, ``yahoo`` the one fallback, anything else an error naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumia_assets.settings import Settings, SettingsError

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.delenv("LUMIA_CRYPTO_FALLBACKS", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return monkeypatch


def test_no_fallback_unless_asked(env: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().crypto_fallbacks == ()


@pytest.mark.parametrize("value", ["yahoo", " Yahoo ", "yahoo,"])
def test_yahoo_is_the_fallback(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("LUMIA_CRYPTO_FALLBACKS", value)

    assert Settings.from_env().crypto_fallbacks == ("yahoo",)


@pytest.mark.parametrize(("value", "named"), [("coingecko", "'coingecko'"), ("yahoo,binance", "'binance'")])
def test_an_unknown_fallback_is_an_error_naming_the_setting_and_value(env, value: str, named: str) -> None:
    env.setenv("LUMIA_CRYPTO_FALLBACKS", value)

    with pytest.raises(SettingsError, match=rf"LUMIA_CRYPTO_FALLBACKS='{value}': unknown fallback {named}"):
        Settings.from_env()


def test_the_readme_documents_the_setting() -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `LUMIA_CRYPTO_FALLBACKS`")]
    assert len(rows) == 1 and "yahoo" in rows[0]
