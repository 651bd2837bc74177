"""SEC's ticker files: the User-Agent rule, and contents consistent with the directories."""

from __future__ import annotations

import requests

from lumia_assets.sim import MarketSimulator

FILES = "/www.sec.gov/files/"
DECLARED = {"User-Agent": "lumia-assets tests ops@example.com"}


def _get(sim: MarketSimulator, name: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(f"{sim.url}{FILES}{name}", headers=headers, timeout=5)


def test_a_user_agent_without_a_contact_address_is_refused_403(sim: MarketSimulator) -> None:
    response = _get(sim, "company_tickers_exchange.json", {"User-Agent": "python-requests/2.32"})

    assert response.status_code == 403
    assert "Undeclared Automated Tool" in response.text


def test_the_exchange_file_lists_every_listed_stock_and_etf_by_yahoo_spelling(sim: MarketSimulator) -> None:
    payload = _get(sim, "company_tickers_exchange.json", DECLARED).json()
    universe = sim.equities.universe()
    listed = universe[
        ~universe["test_issue"] & universe["delisted_on"].isna() & universe["asset_class"].ne("mutual_fund")
    ]

    assert payload["fields"] == ["cik", "name", "ticker", "exchange"]
    tickers = {row[2]: row[3] for row in payload["data"]}
    assert set(tickers) == set(listed["yahoo_symbol"])
    assert tickers["BRK-B"] == "NYSE"
    assert set(tickers.values()) <= {"Nasdaq", "NYSE", "CBOE"}


def test_the_fund_file_lists_every_listed_fund_with_series_and_class_ids(sim: MarketSimulator) -> None:
    payload = _get(sim, "company_tickers_mf.json", DECLARED).json()
    universe = sim.equities.universe()
    funds = universe[
        ~universe["test_issue"] & universe["delisted_on"].isna() & universe["asset_class"].eq("mutual_fund")
    ]

    assert payload["fields"] == ["cik", "seriesId", "classId", "symbol"]
    assert {row[3] for row in payload["data"]} == set(funds["symbol"])
    assert all(row[1].startswith("S") and row[2].startswith("C") and len(row[1]) == 10 for row in payload["data"])


def test_a_renamed_fund_keeps_its_share_class_and_series_under_the_new_ticker(sim: MarketSimulator) -> None:
    universe = sim.equities.universe()
    fund = universe[~universe["test_issue"] & universe["asset_class"].eq("mutual_fund")
                    & universe["delisted_on"].isna()]["symbol"].iloc[0]  # fmt: skip
    before = {row[3]: row for row in _get(sim, "company_tickers_mf.json", DECLARED).json()["data"]}

    sim.equities.rename(fund, "LMNRX", sim.now.date())
    after = {row[3]: row for row in _get(sim, "company_tickers_mf.json", DECLARED).json()["data"]}

    assert fund not in after
    assert after["LMNRX"][:3] == before[fund][:3]  # cik, seriesId, classId
