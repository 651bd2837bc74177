"""Resources shared by every asset: the warehouse and the upstream HTTP layer, configured from LUMIA_*."""

from __future__ import annotations

from functools import cache

import dagster as dg
from pydantic import Field
from sqlalchemy.engine import Engine

from lumia_assets.settings import Settings
from lumia_assets.sources.http import HttpClient
from lumia_assets.warehouse.engine import connect_warehouse


@cache
def warehouse_engine(url: str) -> Engine:
    """One migrated engine per warehouse URL and process."""
    return connect_warehouse(url)


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse (SQLite by default, PostgreSQL in production). Migrates itself on first use."""

    url: str = Field(description="SQLAlchemy URL of the warehouse (LUMIA_WAREHOUSE_URL).")

    def engine(self) -> Engine:
        return warehouse_engine(self.url)


class UpstreamResource(dg.ConfigurableResource):
    """How to reach the market-data upstreams: routing, identity, timeouts and the crypto exchanges."""

    upstream_url: str | None = Field(
        default=None, description="Send https://HOST/PATH to UPSTREAM/HOST/PATH (LUMIA_UPSTREAM_URL)."
    )
    user_agent: str = Field(description="User-Agent with a contact address, as SEC asks (LUMIA_USER_AGENT).")
    timeout_seconds: float = Field(description="Per-request timeout (LUMIA_HTTP_TIMEOUT).")
    crypto_exchanges: list[str] = Field(description="ccxt exchange ids, primary first (LUMIA_CRYPTO_EXCHANGES).")

    def client(self) -> HttpClient:
        """A fresh client: its counters cover exactly one materialization."""
        return HttpClient(self.upstream_url, self.user_agent, self.timeout_seconds)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources for ``settings``; tests call this with their own settings."""
    return {
        "warehouse": WarehouseResource(url=settings.warehouse_url),
        "upstream": UpstreamResource(
            upstream_url=settings.upstream_url,
            user_agent=settings.user_agent,
            timeout_seconds=settings.http_timeout,
            crypto_exchanges=list(settings.crypto_exchanges),
        ),
    }


@dg.definitions
def resources() -> dg.Definitions:
    """Resources configured from the environment of the code location."""
    return dg.Definitions(resources=build_resources(Settings.from_env()))
