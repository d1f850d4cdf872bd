"""`python -m app.invariants [--database-url URL]`: an alias of `promo-wallet check-invariants`,
kept for the scripts and runbooks that call it. The checker is app/persistence/invariants.py."""

from __future__ import annotations

import sys

from app.cli import main

if __name__ == "__main__":
    main(["check-invariants", *sys.argv[1:]], prog_name="python -m app.invariants")
