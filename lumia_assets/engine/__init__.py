"""The engine the Dagster definitions call: feeds and their deadlines, price collection, alert delivery.

No Dagster imports, and nothing here imports ``lumia_assets.defs``: the definitions declare Dagster objects over
these pieces, and the CLI and the operations layer use them too.
"""
