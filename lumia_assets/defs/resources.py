"""Resources shared by every asset: the warehouse and the upstream HTTP layer, configured from LUMIA_*."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field
from sqlalchemy.engine import Engine

from lumia_assets.settings import Settings
from lumia_assets.sources.http import HttpClient
from lumia_assets.sources.policy import ResilienceConfig, ResilientPolicy, parse_host_rates
from lumia_assets.warehouse.engine import warehouse_engine

WAREHOUSE_URL_VARIABLE = "LUMIA_WAREHOUSE_URL"


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse (SQLite by default, PostgreSQL in production). Migrates itself on first use."""

    url: str = Field(description=f"SQLAlchemy URL of the warehouse ({WAREHOUSE_URL_VARIABLE}).")

    def engine(self) -> Engine:
        return warehouse_engine(self.url.strip())  # blanks around LUMIA_WAREHOUSE_URL are ignored, as in Settings


def warehouse_url_config(settings: Settings) -> str:
    """The resource's ``url``: ``EnvVar("LUMIA_WAREHOUSE_URL")`` when the URL comes from it, so the UI shows the
    variable's name and never its password; otherwise the URL itself (the embedded SQLite default, or a test's)."""
    from_env = os.environ.get(WAREHOUSE_URL_VARIABLE, "").strip() == settings.warehouse_url
    return dg.EnvVar(WAREHOUSE_URL_VARIABLE) if from_env else settings.warehouse_url


class UpstreamResource(dg.ConfigurableResource):
    """How to reach the market-data upstreams: routing, identity, timeouts and the crypto exchanges."""

    upstream_url: str | None = Field(
        default=None, description="Send https://HOST/PATH to UPSTREAM/HOST/PATH (LUMIA_UPSTREAM_URL)."
    )
    user_agent: str = Field(description="User-Agent with a contact address, as SEC asks (LUMIA_USER_AGENT).")
    timeout_seconds: float = Field(description="Per-request timeout (LUMIA_HTTP_TIMEOUT).")
    crypto_exchanges: list[str] = Field(description="ccxt exchange ids, primary first (LUMIA_CRYPTO_EXCHANGES).")
    crypto_fallbacks: list[str] = Field(
        default_factory=list,
        description="Last resorts of a dollar pair every exchange failed (LUMIA_CRYPTO_FALLBACKS).",
    )
    rate_limits: str = Field(default="", description="Per-host budgets HOST=RATE[:BURST],... (LUMIA_RATE_LIMITS).")
    max_retries: int = Field(default=4, description="Retries of a retryable failure (LUMIA_MAX_RETRIES).")
    retry_max_seconds: float = Field(default=120.0, description="Retry time bound (LUMIA_RETRY_MAX_SECONDS).")
    breaker_failures: int = Field(
        default=5, description="Failures that open a host's breaker (LUMIA_BREAKER_FAILURES)."
    )
    breaker_cooldown_seconds: float = Field(
        default=30.0, description="Seconds a breaker stays open before a trial (LUMIA_BREAKER_COOLDOWN_SECONDS)."
    )

    def policy(self) -> ResilientPolicy:
        """Rate budgets, retries and circuit breakers for one run, shared by all its threads."""
        return ResilientPolicy(
            ResilienceConfig(
                max_attempts=self.max_retries + 1,
                max_retry_seconds=self.retry_max_seconds,
                breaker_failure_threshold=self.breaker_failures,
                breaker_cooldown_seconds=self.breaker_cooldown_seconds,
                host_rates=parse_host_rates(self.rate_limits),
            )
        )

    def client(self) -> HttpClient:
        """A fresh client and policy: counters, budgets and breakers cover exactly one materialization."""
        return HttpClient(self.upstream_url, self.user_agent, self.timeout_seconds, self.policy())


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources for ``settings``; tests call this with their own settings."""
    return {
        "warehouse": WarehouseResource(url=warehouse_url_config(settings)),
        "upstream": UpstreamResource(
            upstream_url=settings.upstream_url,
            user_agent=settings.user_agent,
            timeout_seconds=settings.http_timeout,
            crypto_exchanges=list(settings.crypto_exchanges),
            crypto_fallbacks=list(settings.crypto_fallbacks),
            rate_limits=settings.rate_limits,
            max_retries=settings.max_retries,
            retry_max_seconds=settings.retry_max_seconds,
            breaker_failures=settings.breaker_failures,
            breaker_cooldown_seconds=settings.breaker_cooldown_seconds,
        ),
    }


@dg.definitions
def resources() -> dg.Definitions:
    """Resources configured from the environment of the code location."""
    return dg.Definitions(resources=build_resources(Settings.from_env()))
