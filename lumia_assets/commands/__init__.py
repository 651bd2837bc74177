"""``lumia`` sub-commands, one module per domain; each exposes ``register(app)``."""
