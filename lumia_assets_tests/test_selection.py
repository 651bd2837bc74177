"""Selection settings: spellings, lists inline and from files, and errors that name the setting and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumia_assets.selection import EVERYTHING, SelectionError, selection_from_env, spellings
from lumia_assets.settings import Settings, SettingsError


def test_a_symbol_matches_under_any_separator() -> None:
    assert spellings("brk-b") == ("BRK-B", "BRK.B", "BRK/B")
    assert spellings("BTC/USDT")[0] == "BTC/USDT" and "BTC-USDT" in spellings("BTC/USDT")
    assert spellings("AAPL") == ("AAPL",)


def test_no_selection_settings_select_everything() -> None:
    assert selection_from_env({}) == EVERYTHING
    assert EVERYTHING.everything and EVERYTHING.included("stock") is None


def test_lists_come_inline_and_from_files_per_class_and_for_all(tmp_path: Path) -> None:
    picks = tmp_path / "sp.txt"
    picks.write_text("# my picks\nAAPL\n\nbrk-b  # Berkshire B\n")
    selection = selection_from_env(
        {"LUMIA_ASSET_CLASSES": "stock, mutual_fund,crypto", "LUMIA_INCLUDE_STOCK": f"@{picks},MSFT",
         "LUMIA_INCLUDE": "VFIAX", "LUMIA_EXCLUDE_CRYPTO": "DOGE/USDT", "LUMIA_CRYPTO_QUOTES": "usdt,USD"}
    )  # fmt: skip

    assert selection.asset_classes == ("stock", "mutual_fund", "crypto")
    assert selection.included("stock") == ("VFIAX", "AAPL", "BRK-B", "BRK.B", "BRK/B", "MSFT")
    assert selection.included("mutual_fund") == ("VFIAX",)  # the list for all classes applies to every class
    assert selection.excluded("crypto")[0] == "DOGE/USDT" and selection.excluded("stock") == ()
    assert selection.crypto_quotes == ("USDT", "USD")
    assert not selection.everything


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LUMIA_ASSET_CLASSES": "stock,bonds"}, "LUMIA_ASSET_CLASSES='stock,bonds': unknown asset class bonds"),
        ({"LUMIA_ASSET_CLASSES": " , "}, "LUMIA_ASSET_CLASSES=' , ' selects nothing"),
        ({"LUMIA_INCLUDE": "@/nonexistent/picks.txt"}, "LUMIA_INCLUDE='@/nonexistent/picks.txt': cannot read"),
        (
            {"LUMIA_ASSET_CLASSES": "stock", "LUMIA_INCLUDE_CRYPTO": "BTC/USDT"},
            "LUMIA_INCLUDE_CRYPTO is set but crypto",
        ),
        ({"LUMIA_ASSET_CLASSES": "stock", "LUMIA_CRYPTO_QUOTES": "USDT"}, "LUMIA_CRYPTO_QUOTES is set but crypto"),
        ({"LUMIA_EXCLUDE": "AAPL;DROP TABLE"}, "LUMIA_EXCLUDE='AAPL;DROP TABLE': AAPL;DROP is not a symbol"),
        ({"LUMIA_CRYPTO_QUOTES": "US$"}, "LUMIA_CRYPTO_QUOTES='US$': US$ is not a currency code"),
    ],
)
def test_bad_selection_settings_are_errors_naming_the_setting_and_value(env: dict[str, str], named: str) -> None:
    with pytest.raises(SelectionError) as raised:
        selection_from_env(env)
    assert str(raised.value).startswith(named)


def test_an_empty_file_is_an_error_and_settings_report_it_as_a_settings_error(tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "none.txt"
    empty.write_text("# nothing yet\n\n")
    monkeypatch.setenv("LUMIA_INCLUDE", f"@{empty}")

    with pytest.raises(SettingsError, match=rf"LUMIA_INCLUDE='@{empty}': {empty} lists no symbols"):
        Settings.from_env()
