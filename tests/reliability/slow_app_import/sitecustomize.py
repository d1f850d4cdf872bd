"""Put on PYTHONPATH of a `promo-wallet serve` under test: in each uvicorn worker (a
multiprocessing spawn child), the first import of the app's heavy dependencies (the web stack,
the ORM, the CLI's Typer) takes SLOW_APP_IMPORT_SECONDS longer, as on a loaded machine where
importing the app takes a worker longer than uvicorn's worker health-check timeout (5 s).

A worker that imports any of them before uvicorn's health-check thread is running (re-importing
the CLI as its `__main__`, or the log formatters pulling in FastAPI) misses the supervisor's ping,
is killed and logged as "died"; one that imports them only in uvicorn's `config.load()` answers
the ping meanwhile, and merely starts later."""

from __future__ import annotations

import os
import sys
import time

HEAVY = {"fastapi", "starlette", "strawberry", "sqlalchemy", "sqlmodel", "alembic", "typer", "pydantic"}


class _SlowFirstHeavyImport:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.slept = False  # not removed from sys.meta_path: the import system is iterating it

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if not self.slept and name.partition(".")[0] in HEAVY:
            self.slept = True
            time.sleep(self.seconds)
        return None  # the ordinary finders find it


if "--multiprocessing-fork" in sys.argv and os.environ.get("SLOW_APP_IMPORT_SECONDS"):
    sys.meta_path.insert(0, _SlowFirstHeavyImport(float(os.environ["SLOW_APP_IMPORT_SECONDS"])))
