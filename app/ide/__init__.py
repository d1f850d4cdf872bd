"""The offline GraphiQL IDE: its page (`page.py`) and its pinned third-party assets (`assets.py`)."""

from __future__ import annotations

import sys

from app.settings import Settings


def prepare_ide_assets(settings: Settings) -> None:
    """Called by `promo-wallet serve` before its workers start, the one place that fetches:
    GraphiQL/React, if the IDE is on and they are missing. A failure is reported once, not
    fatal: /graphql works without the IDE page, which then says how to fetch them."""
    if not settings.graphql_ide:
        return
    from app.ide.assets import AssetFetchError, ensure_assets, vendor_dir

    target = vendor_dir(settings)
    try:
        if ensure_assets(target):
            print(f"fetched GraphiQL assets into {target}", file=sys.stderr)
    except AssetFetchError as error:
        print(
            f"warning: GraphiQL assets could not be fetched ({error}); the IDE page will say so. "
            "Retry with: python scripts/fetch_ide_assets.py",
            file=sys.stderr,
        )
