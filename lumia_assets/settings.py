"""Runtime settings, read from ``LUMIA_*`` environment variables.

Every setting the product reads from the environment is defined here, with its default and its
validation, so that the README, the resources and the CLI agree on one list.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from lumia_assets import clock
from lumia_assets.frames import AGGREGATED_SOURCES
from lumia_assets.selection import EVERYTHING, PriceSelection, SelectionError, selection_from_env

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CRYPTO_EXCHANGES = ("binance", "kraken", "coinbaseexchange")
DEFAULT_PRICES_START = date(2020, 1, 2)
DEFAULT_HOURLY_DAYS = 730  # the depth Yahoo and Kraken limit hourly history to
T = TypeVar("T")
N = TypeVar("N", int, float)
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


def _read(name: str, parse: Callable[[str, str], T], default: T) -> T:
    """``name`` from the environment, parsed and validated, or ``default`` when unset or blank."""
    raw = _env(name)
    return parse(name, raw) if raw else default


def _parse_date(name: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a date; use YYYY-MM-DD, e.g. 2020-01-02") from exc


def _positive(cast: Callable[[str], N], noun: str) -> Callable[[str, str], N]:
    """A parser of numbers greater than zero, built with ``cast`` (float or int)."""

    def parse(name: str, raw: str) -> N:
        try:
            value = cast(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}={raw!r} is not {noun}") from exc
        if value <= 0:
            raise SettingsError(f"{name}={raw!r} must be greater than zero")
        return value

    return parse


_parse_positive_float = _positive(float, "a number")
_parse_positive_int = _positive(int, "a whole number")


def parse_rate_spec(spec: str) -> dict[str, tuple[float, float | None]]:
    """``"api.binance.com=10:20,query2.finance.yahoo.com=5"`` (comma-separated ``HOST=RATE[:BURST]``) as
    ``{host: (rate, burst or None)}``; a malformed entry is a ``ValueError`` naming it."""
    return dict(_parse_rate_entry(entry) for entry in filter(None, (part.strip() for part in spec.split(","))))


def _parse_rate_entry(entry: str) -> tuple[str, tuple[float, float | None]]:
    problem = ValueError(
        f"bad rate limit entry {entry!r}: expected HOST=RATE[:BURST] with RATE > 0 and BURST >= 1, "
        "e.g. api.binance.com=10:20"
    )
    host, equals, numbers = (part.strip() for part in entry.partition("="))
    rate_text, _, burst_text = numbers.partition(":")
    try:
        rate = float(rate_text)
        burst = float(burst_text) if burst_text else None
    except ValueError:
        raise problem from None
    if not (host and equals and math.isfinite(rate) and rate > 0) or (burst is not None and not 1 <= burst < math.inf):
        raise problem
    return host, (rate, burst)


def _parse_rate_limits(name: str, raw: str) -> str:
    """Validate ``HOST=RATE[:BURST],...``; the session layer applies it when it builds the budgets."""
    try:
        parse_rate_spec(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from exc
    return raw


def _parse_percent(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc
    if not 0 < value <= 100:
        raise SettingsError(f"{name}={raw!r} must be a percentage above 0 and at most 100, e.g. 95")
    return value


def _parse_webhook(name: str, raw: str) -> str:
    """An http(s) URL. Errors never quote it: a webhook URL holds its secret token."""
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must start with http:// or https://")
    try:
        urlsplit(raw)
    except ValueError:
        raise SettingsError(f"{name} is not a valid URL (check its [brackets]); its value is not shown") from None
    return raw


def _parse_text(name: str, raw: str) -> str:
    return raw


def _parse_exchanges(name: str, raw: str) -> tuple[str, ...]:
    ids = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    if not ids:
        raise SettingsError(f"{name} is empty; list ccxt exchange ids, e.g. binance,kraken")
    return ids


def _parse_coin_ids(name: str, raw: str) -> dict[str, str]:
    """``BASE=coin-id`` pairs, comma-separated: the CoinGecko coin a crypto base stands for."""
    mapping = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        base, equals, coin_id = (part.strip() for part in entry.partition("="))
        if not (equals and base.isalnum() and coin_id and all(c.isalnum() or c in "-_." for c in coin_id)):
            raise SettingsError(f"{name}: bad entry {entry!r}; expected BASE=coin-id, e.g. ETH=ethereum")
        mapping[base.upper()] = coin_id.lower()
    return mapping


def _parse_fallbacks(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated crypto fallbacks, each one of ``AGGREGATED_SOURCES``."""
    ids = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    unknown = [fallback for fallback in ids if fallback not in AGGREGATED_SOURCES]
    if unknown:
        raise SettingsError(f"{name}={raw!r}: unknown fallback {unknown[0]!r}; the only one is "
                            f"{', '.join(AGGREGATED_SOURCES)} (or leave it unset: no fallback)")  # fmt: skip
    return ids


SWITCHES = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}


def _parse_switch(name: str, raw: str) -> bool:
    """``true``/``false`` (also on/off, yes/no, 1/0), in any case."""
    if raw.lower() not in SWITCHES:
        raise SettingsError(f"{name}={raw!r} must be true or false")
    return SWITCHES[raw.lower()]


def _parse_upstream(name: str, raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(f"{name}={raw!r} must start with http:// or https://")
    return raw.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """The product's configuration. Build it with :meth:`from_env`. Its repr leaves out the secrets."""

    warehouse_url: str = field(repr=False)
    upstream_url: str | None
    user_agent: str
    http_timeout: float
    crypto_exchanges: tuple[str, ...]
    prices_start: date
    crypto_fallbacks: tuple[str, ...] = ()
    hourly_start: date = DEFAULT_PRICES_START
    hourly_candles: bool = True
    gap_lookback_days: int = 30
    gap_max_runs: int = 2
    gap_max_days: int = 5
    restatement_lookback_days: int = 92
    delist_after_runs: int = 3
    delist_after_no_data_sessions: int = 10
    rate_limits: str = ""
    max_retries: int = 4
    retry_max_seconds: float = 120.0
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 30.0
    coverage_threshold: float = 95.0
    no_data_alert_pct: float = 5.0
    min_stocks: int = 1000
    min_funds: int = 1000
    min_crypto_pairs: int = 100
    alert_webhook_url: str | None = field(default=None, repr=False)
    slack_token: str | None = field(default=None, repr=False)
    slack_channel: str | None = None
    run_retention_days: int = 90
    coingecko_api_key: str | None = field(default=None, repr=False)
    coingecko_ids: dict[str, str] = field(default_factory=dict)
    coingecko_max_coins: int = 100
    selection: PriceSelection = EVERYTHING

    @classmethod
    def from_env(cls) -> Settings:
        """Read and validate every ``LUMIA_*`` variable, applying the documented defaults."""
        return cls(
            warehouse_url=_env("LUMIA_WAREHOUSE_URL") or default_warehouse_url(),
            upstream_url=_read("LUMIA_UPSTREAM_URL", _parse_upstream, None),
            user_agent=_env("LUMIA_USER_AGENT") or DEFAULT_USER_AGENT,
            http_timeout=_read("LUMIA_HTTP_TIMEOUT", _parse_positive_float, 30.0),
            crypto_exchanges=_read("LUMIA_CRYPTO_EXCHANGES", _parse_exchanges, DEFAULT_CRYPTO_EXCHANGES),
            prices_start=_read("LUMIA_PRICES_START_DATE", _parse_date, DEFAULT_PRICES_START),
            crypto_fallbacks=_read("LUMIA_CRYPTO_FALLBACKS", _parse_fallbacks, ()),
            hourly_start=_read("LUMIA_HOURLY_START_DATE", _parse_date, None) or default_hourly_start(),
            hourly_candles=_read("LUMIA_HOURLY_CANDLES", _parse_switch, True),
            gap_lookback_days=_read("LUMIA_GAP_LOOKBACK_DAYS", _parse_positive_int, 30),
            gap_max_runs=_read("LUMIA_GAP_MAX_RUNS", _parse_positive_int, 2),
            gap_max_days=_read("LUMIA_GAP_MAX_DAYS", _parse_positive_int, 5),
            restatement_lookback_days=_read("LUMIA_RESTATEMENT_LOOKBACK_DAYS", _parse_positive_int, 92),
            delist_after_runs=_read("LUMIA_DELIST_AFTER_RUNS", _parse_positive_int, 3),
            delist_after_no_data_sessions=_read("LUMIA_DELIST_AFTER_NO_DATA_SESSIONS", _parse_positive_int, 10),
            rate_limits=_read("LUMIA_RATE_LIMITS", _parse_rate_limits, ""),
            max_retries=_read("LUMIA_MAX_RETRIES", _parse_positive_int, 4),
            retry_max_seconds=_read("LUMIA_RETRY_MAX_SECONDS", _parse_positive_float, 120.0),
            breaker_failures=_read("LUMIA_BREAKER_FAILURES", _parse_positive_int, 5),
            breaker_cooldown_seconds=_read("LUMIA_BREAKER_COOLDOWN_SECONDS", _parse_positive_float, 30.0),
            coverage_threshold=_read("LUMIA_COVERAGE_THRESHOLD", _parse_percent, 95.0),
            no_data_alert_pct=_read("LUMIA_NO_DATA_ALERT_PCT", _parse_percent, 5.0),
            min_stocks=_read("LUMIA_MIN_STOCKS", _parse_positive_int, 1000),
            min_funds=_read("LUMIA_MIN_FUNDS", _parse_positive_int, 1000),
            min_crypto_pairs=_read("LUMIA_MIN_CRYPTO_PAIRS", _parse_positive_int, 100),
            alert_webhook_url=_read("LUMIA_ALERT_WEBHOOK_URL", _parse_webhook, None),
            slack_token=_read("LUMIA_SLACK_TOKEN", _parse_text, None),
            slack_channel=_read("LUMIA_SLACK_CHANNEL", _parse_text, None),
            run_retention_days=_read("LUMIA_RUN_RETENTION_DAYS", _parse_positive_int, 90),
            coingecko_api_key=_read("LUMIA_COINGECKO_API_KEY", _parse_text, None),
            coingecko_ids=_read("LUMIA_COINGECKO_IDS", _parse_coin_ids, {}),
            coingecko_max_coins=_read("LUMIA_COINGECKO_MAX_COINS", _parse_positive_int, 100),
            selection=_selection(),
        )


def _selection() -> PriceSelection:
    try:
        return selection_from_env(os.environ)
    except SelectionError as exc:
        raise SettingsError(str(exc)) from exc


def default_hourly_start() -> date:
    """The first hourly partition's day by default: ``DEFAULT_HOURLY_DAYS`` before today (UTC)."""
    return clock.utc_now().date() - timedelta(days=DEFAULT_HOURLY_DAYS)


def default_warehouse_url() -> str:
    """The embedded warehouse: a SQLite file under the Dagster home."""
    return f"sqlite:///{dagster_home() / 'warehouse.db'}"
