#!/usr/bin/env python3
"""Fetch the GraphiQL IDE's assets (GraphiQL, React) from the npm registry at the versions and
integrity hashes pinned in app/ide/assets.lock.json, into the folder the server reads them from:
PROMO_WALLET_IDE_ASSETS_DIR (environment or .env, as for the server), by default
app/ide/static/vendor/ (git-ignored). Run it with the project's environment (.venv/bin/python).

    python scripts/fetch_ide_assets.py            # fetch if missing or out of date
    python scripts/fetch_ide_assets.py --force    # fetch again
    python scripts/fetch_ide_assets.py --lock     # after editing a version: refresh the hashes
    python scripts/fetch_ide_assets.py --dir D    # into D instead

`promo-wallet serve` runs the same step by itself when the IDE is enabled.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.ide.assets import main

if __name__ == "__main__":
    sys.exit(main())
