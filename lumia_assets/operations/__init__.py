"""Operations over the Dagster instance: run history, partition freshness, status, reports, retention, cleanup.

It reads and prunes the instance through Dagster's instance API, on top of the engine and the warehouse; it
never imports ``lumia_assets.defs`` (the CLI passes the ``Definitions`` in where a graph is needed).
"""
