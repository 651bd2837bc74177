"""``python -m lumia_assets.sim --port P --profile default --seed 42``: the same as ``lumia sim``."""

import sys

from lumia_assets.cli import app

if __name__ == "__main__":
    app(["sim", *sys.argv[1:]], prog_name="python -m lumia_assets.sim")
