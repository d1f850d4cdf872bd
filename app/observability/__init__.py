"""Operator-facing observability: request ids, JSON logs, Prometheus metrics (/metrics)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

# Nothing heavy at the top: each uvicorn worker imports `app.observability.logging` (its log
# formatters) in `configure_logging()`, before the thread that answers the supervisor's health
# check starts; importing FastAPI there took 1.7 s, and a worker silent for 5 s is killed.


def install_observability(app: FastAPI) -> None:
    """Request-id + access-log + HTTP-metrics middleware, and GET /metrics. GraphQL operation
    metrics come from `MetricsExtension` in the schema's extensions."""
    from app.observability.metrics import add_metrics_route
    from app.observability.middleware import RequestContextMiddleware

    app.add_middleware(RequestContextMiddleware)
    add_metrics_route(app)


def prepare_metrics_dir(workers: int) -> None:
    """Called by `promo-wallet serve` before the workers start. With PROMETHEUS_MULTIPROC_DIR set,
    empty it (stale files of a previous run would be summed in); with several workers and no
    such directory, warn that each scrape sees one worker's counters."""
    import os
    import sys
    from pathlib import Path

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for entry in path.glob("*.db"):
            entry.unlink()
    elif workers > 1:
        print(
            "warning: several workers without PROMETHEUS_MULTIPROC_DIR: /metrics shows the counters "
            "of whichever worker answers the scrape",
            file=sys.stderr,
        )
