"""`python -m app.cli`: the same as the `promo-wallet` script."""

from app.cli import main

main()
