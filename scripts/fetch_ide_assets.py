#!/usr/bin/env python3
"""Fetch the GraphiQL IDE's assets (GraphiQL, React) from the npm registry at the versions and
integrity hashes pinned in app/ide/assets.lock.json, into app/ide/static/vendor/ (git-ignored).

    python scripts/fetch_ide_assets.py            # fetch if missing or out of date
    python scripts/fetch_ide_assets.py --force    # fetch again
    python scripts/fetch_ide_assets.py --lock     # after editing a version: refresh the hashes

`promo-wallet serve` runs the same step by itself when the IDE is enabled.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.ide.assets import main

if __name__ == "__main__":
    sys.exit(main())
