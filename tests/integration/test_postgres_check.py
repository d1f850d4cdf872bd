"""The suite's first line when PostgreSQL is missing: one line saying what and how to fix it."""

from __future__ import annotations

import socket
import subprocess
import sys

from tests.support import ROOT


def a_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the socket closes


def test_an_unreachable_postgresql_is_one_line_naming_the_server_and_the_variable() -> None:
    # when the check is pointed at a port nothing listens on
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{a_closed_port()}/test"
    result = subprocess.run(
        [sys.executable, "-m", "tests.postgres_check", url, "PROMO_WALLET_TEST_PG_URL"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then it fails with exactly one line that says where, why, and which variable to set
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "not reachable at 127.0.0.1" in lines[0]
    assert "PROMO_WALLET_TEST_PG_URL" in lines[0]


def test_pytest_stops_before_any_test_when_its_postgresql_is_unreachable() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{a_closed_port()}/test"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_text.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PROMO_WALLET_TEST_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 4  # pytest's usage error: nothing ran
    assert "passed" not in result.stdout
    assert "PostgreSQL is not reachable" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
