"""`promo-wallet serve --workers 2` starts cleanly: every worker starts once (uvicorn kills a worker
that does not answer its health check within 5 s and logs `Child process [...] died`), and the
one-time start-up work (migrations, GraphiQL assets) is done once, before the workers, not in
each of them."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx

from tests.support import ServerProcess, serve_process

SLOW_APP_IMPORT = Path(__file__).with_name("slow_app_import")  # a sitecustomize.py
STARTED = "Application startup complete"


def wait_for_workers(server: ServerProcess, log_path: Path, count: int) -> str:
    """The log once `count` workers have finished their start-up (healthy is not enough: one
    worker answering /healthz says nothing of the other)."""
    deadline = time.monotonic() + 120
    while True:
        log = log_path.read_text()
        if log.count(STARTED) >= count:
            return log
        assert server.process.poll() is None, log
        assert time.monotonic() < deadline, f"fewer than {count} workers started:\n{log}"
        time.sleep(0.2)


def test_two_workers_start_once_each_even_when_importing_the_app_is_slow(
    database_url: str, tmp_path: Path
) -> None:
    # given a machine where importing the app's dependencies takes a worker longer than uvicorn's
    # 5 s health-check timeout (a loaded 2-CPU one took 5 s for `import app.main`): injected, so
    # the test does not depend on the load of the machine it runs on
    log_path = tmp_path / "serve.log"
    pythonpath = os.pathsep.join(filter(None, [str(SLOW_APP_IMPORT), os.environ.get("PYTHONPATH")]))
    with serve_process(
        database_url,
        "--workers",
        "2",
        log_path=log_path,
        PYTHONPATH=pythonpath,
        SLOW_APP_IMPORT_SECONDS="8",
        PROMO_WALLET_LOG_LEVEL="INFO",
        PROMO_WALLET_LOG_FORMAT="text",
    ) as server:
        # when both workers have started
        log = wait_for_workers(server, log_path, 2)
        response = httpx.post(f"{server.url}/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 401  # served (no credentials), not refused
    # then no worker was killed and replaced at start-up
    assert "died" not in log, log
    assert len(re.findall(r"Started server process \[\d+\]", log)) == 2, log


def test_serve_warns_once_when_the_graphiql_assets_cannot_be_fetched(
    database_url: str, tmp_path: Path
) -> None:
    # given GraphiQL on, its assets missing and a registry that cannot be reached
    log_path = tmp_path / "serve.log"
    with serve_process(
        database_url,
        "--workers",
        "2",
        log_path=log_path,
        PROMO_WALLET_GRAPHQL_IDE="true",
        PROMO_WALLET_IDE_ASSETS_DIR=str(tmp_path / "assets"),
        NPM_CONFIG_REGISTRY="http://127.0.0.1:9",  # connection refused
        PROMO_WALLET_LOG_LEVEL="INFO",
        PROMO_WALLET_LOG_FORMAT="text",
    ) as server:
        # when both workers have started (each had its chance to warn)
        log = wait_for_workers(server, log_path, 2)
        page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
    # then the warning is printed once, by serve, and the page says how to fetch the assets
    assert log.count("GraphiQL assets could not be fetched") == 1, log
    assert page.status_code == 503 and "scripts/fetch_ide_assets.py" in page.text
