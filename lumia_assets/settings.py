"""Runtime settings, read from ``LUMIA_*`` environment variables.

Every setting the product reads from the environment is defined here, with its default and its
validation, so that the README, the resources and the CLI agree on one list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CRYPTO_EXCHANGES = ("binance", "kraken", "coinbaseexchange")
DEFAULT_PRICES_START = date(2020, 1, 2)
DEFAULT_USER_AGENT = "lumia-assets/0.1 (lumia-assets@users.noreply.github.com)"


class SettingsError(ValueError):
    """A ``LUMIA_*`` (or ``DAGSTER_HOME``) variable holds a value the product cannot use."""


def project_root() -> Path:
    """The checkout this package runs from, or the working directory for a non-editable install."""
    candidate = PACKAGE_DIR.parent
    return candidate if (candidate / "pyproject.toml").exists() else Path.cwd()


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, defaulting to ``.dagster_home`` inside the checkout (git ignores it)."""
    return Path(os.environ.get("DAGSTER_HOME") or project_root() / ".dagster_home").resolve()


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _parse_date(name: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a date; use YYYY-MM-DD, e.g. 2020-01-02") from exc


def _parse_positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be greater than zero")
    return value


def _parse_positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from exc
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be greater than zero")
    return value


def _parse_exchanges(raw: str) -> tuple[str, ...]:
    ids = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    if not ids:
        raise SettingsError("LUMIA_CRYPTO_EXCHANGES is empty; list ccxt exchange ids, e.g. binance,kraken")
    return ids


def _parse_upstream(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(f"LUMIA_UPSTREAM_URL={raw!r} must start with http:// or https://")
    return raw.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """The product's configuration. Build it with :meth:`from_env`."""

    warehouse_url: str
    upstream_url: str | None
    user_agent: str
    http_timeout: float
    crypto_exchanges: tuple[str, ...]
    prices_start: date
    gap_lookback_days: int = 30
    gap_max_runs: int = 2
    gap_max_attempts: int = 3

    @classmethod
    def from_env(cls) -> Settings:
        """Read and validate every ``LUMIA_*`` variable, applying the documented defaults."""
        upstream = _env("LUMIA_UPSTREAM_URL")
        timeout = _env("LUMIA_HTTP_TIMEOUT")
        exchanges = _env("LUMIA_CRYPTO_EXCHANGES")
        start = _env("LUMIA_PRICES_START_DATE")
        lookback = _env("LUMIA_GAP_LOOKBACK_DAYS")
        max_runs = _env("LUMIA_GAP_MAX_RUNS")
        max_attempts = _env("LUMIA_GAP_MAX_ATTEMPTS")
        return cls(
            warehouse_url=_env("LUMIA_WAREHOUSE_URL") or default_warehouse_url(),
            upstream_url=_parse_upstream(upstream) if upstream else None,
            user_agent=_env("LUMIA_USER_AGENT") or DEFAULT_USER_AGENT,
            http_timeout=_parse_positive_float("LUMIA_HTTP_TIMEOUT", timeout) if timeout else 30.0,
            crypto_exchanges=_parse_exchanges(exchanges) if exchanges else DEFAULT_CRYPTO_EXCHANGES,
            prices_start=_parse_date("LUMIA_PRICES_START_DATE", start) if start else DEFAULT_PRICES_START,
            gap_lookback_days=_parse_positive_int("LUMIA_GAP_LOOKBACK_DAYS", lookback) if lookback else 30,
            gap_max_runs=_parse_positive_int("LUMIA_GAP_MAX_RUNS", max_runs) if max_runs else 2,
            gap_max_attempts=_parse_positive_int("LUMIA_GAP_MAX_ATTEMPTS", max_attempts) if max_attempts else 3,
        )


def default_warehouse_url() -> str:
    """The embedded warehouse: a SQLite file under the Dagster home."""
    return f"sqlite:///{dagster_home() / 'warehouse.db'}"
