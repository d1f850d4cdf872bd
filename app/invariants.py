"""`python -m app.invariants [--database-url URL]`: an alias of `promo-wallet check-invariants`,
kept for the scripts and runbooks that call it. The checker is app/persistence/invariants.py."""

from __future__ import annotations

from app.cli.invariants import alias_main

if __name__ == "__main__":
    alias_main()
