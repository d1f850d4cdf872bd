"""`python -m app.server`: uvicorn serving `app.main:create_app` with the PROMO_WALLET_* settings.

Started by `promo-wallet serve` through `app.server.exec_uvicorn()` after the one-time start-up
work; it does none of that work itself (run `promo-wallet serve`, not this, by hand)."""

from __future__ import annotations

import uvicorn

from app.observability.logging import log_config
from app.server import SERVER_LOOP
from app.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        log_config=log_config(settings.log_level, settings.log_format),  # JSON lines with request ids
        access_log=False,  # the app's own access log (app.access) has the request id and duration
        loop=SERVER_LOOP,
    )


if __name__ == "__main__":
    main()
