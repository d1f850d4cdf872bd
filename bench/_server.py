"""The server every benchmark measures: a real uvicorn process (one worker) on a free port,
optionally pinned to one CPU, healthy before it is yielded and stopped after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def pinned_to(cpu: int) -> Callable[[], None]:
    """A `preexec_fn` that runs the child on `cpu` only."""

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base_url: str
    pid: int


@contextmanager
def running_server(
    database_url: str,
    *,
    env: dict[str, str] | None = None,
    cpu: int | None = None,
    log_path: Path | None = None,
) -> Iterator[Server]:
    """`env` is added to the environment (after the database URL and a quiet log level);
    the server's stderr goes to `log_path` if given."""
    port = _free_port()
    environment = (
        os.environ
        | {"PROMO_WALLET_DATABASE_URL": database_url, "PROMO_WALLET_LOG_LEVEL": "WARNING"}
        | (env or {})
    )
    command = [
        sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with open(log_path or os.devnull, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log if log_path else None,
            preexec_fn=pinned_to(cpu) if cpu is not None else None,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    detail = log_path.read_text() if log_path else "see its output above"
                    raise RuntimeError(f"the server exited during start-up: {detail}")
                try:
                    if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not become healthy in 60 s")
                time.sleep(0.1)
            yield Server(base_url=base_url, pid=process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
