"""The uvicorn supervisor behind `promo-wallet serve`, started so that its workers import none of
the CLI.

uvicorn starts each worker with multiprocessing's *spawn*, and a spawned child first re-imports
the parent's `__main__` module (so that functions defined there can be unpickled), before it runs
uvicorn's code. When `uvicorn.run()` is called from the `promo-wallet` console script or
`python -m app.cli`, that `__main__` is the CLI, so every worker imports the CLI and all it
imports (SQLAlchemy, Alembic, Typer, the services: seconds on a loaded machine) before it starts
the thread that answers the supervisor's health check. The supervisor waits 5 s
(`timeout_worker_healthcheck`) for that answer, then kills the worker, logs
`Child process [...] died` and starts another, which may die the same way.

`exec_uvicorn()` replaces the CLI process by `python -m app.server`: multiprocessing does not
re-import a `…__main__` module in its children, so a worker runs uvicorn's code at once, answers
the health check from its first second, and imports the app only in uvicorn's `config.load()`,
however long that takes. The supervisor keeps the CLI's pid, environment and stderr.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

# asyncio's own event loop, not uvloop (uvicorn's choice when installed): while the loop is busy,
# uvloop accepts one new connection per loop iteration, so clients (re)connecting during a burst
# waited in a queue of their own, up to a second at 32 connections; asyncio's loop accepts every
# pending connection at once, and this app's requests, bound by Python, run no slower on it
# (README, Benchmarks: bench/latency_tails.py).
SERVER_LOOP = "asyncio"


def exec_uvicorn() -> NoReturn:
    """Called by `promo-wallet serve` once the one-time start-up work (migrations, demo seed,
    GraphiQL assets, metrics directory) is done: serve the app with uvicorn, configured from the
    same PROMO_WALLET_* environment (and .env) the CLI read, which `serve` has updated with its
    options. Never returns."""
    sys.stdout.flush()
    sys.stderr.flush()  # exec discards buffered output, e.g. the demo credentials
    os.execv(sys.executable, [sys.executable, "-m", "app.server"])
