"""`promo-wallet issue --async`, `promo-wallet jobs` and `promo-wallet jobs cancel`, run as
subprocesses against the test database, on the demo org's data; the job itself is run here by a
JobRunner, as a serve process would run it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.persistence.database import create_database
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services.demo import DEMO_ORG_ID
from app.services.job_runner import JobRunner
from app.settings import Settings
from tests.cli.test_campaign_cli import CUSTOMERS, EXECUTABLE, _demo, _entries, run
from tests.support import ROOT


async def run_jobs_until(database_url: str, process: subprocess.Popen[str]) -> None:
    """Run queued jobs (a serve process's runner) until the CLI process has exited."""
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    runner = JobRunner(SqlUnitOfWorkFactory(database), poll_s=0)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None:
            assert time.monotonic() < deadline, "the CLI never saw its job end"
            await runner.run_next()
            await asyncio.sleep(0.05)
    finally:
        await database.dispose()


@pytest.fixture
def promotion(database_url: str) -> str:
    return asyncio.run(_demo(database_url))


def test_issue_async_starts_a_job_follows_it_to_its_end_and_jobs_lists_it(
    database_url: str, promotion: str, tmp_path: Path
) -> None:
    # given a CSV of the demo customers and an unknown one
    csv = tmp_path / "customers.csv"
    csv.write_text("".join(f"{c}\n" for c in [*CUSTOMERS, 999_999_999]))
    command = [str(EXECUTABLE)] if EXECUTABLE.exists() else [sys.executable, "-m", "app.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMO_WALLET_")}
    env |= {"PROMO_WALLET_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    args = ["issue", "--async", "--skip-missing", "--org", str(DEMO_ORG_ID), "--promotion", promotion]
    args += ["--context", "async-1", "--file", str(csv)]
    # when `issue --async` runs while a runner serves the jobs
    process = subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    asyncio.run(run_jobs_until(database_url, process))
    out, err = process.communicate(timeout=30)
    # then it reported the job's end, and the customers were issued
    assert process.returncode == 0, err
    assert "started job" in err
    assert f"SUCCEEDED {len(CUSTOMERS) + 1}/{len(CUSTOMERS) + 1}, issued {len(CUSTOMERS)}" in out, out
    assert "missing 1" in out
    assert asyncio.run(_entries(database_url, "async-1")) == len(CUSTOMERS)

    listed = run(database_url, "jobs", "--org", str(DEMO_ORG_ID), "--state", "succeeded")
    assert listed.returncode == 0, listed.stderr
    assert "SUCCEEDED" in listed.stdout and "async-1" in listed.stdout
    job_id = next(word for word in out.split() if len(word) == 25 and word.endswith(":")).rstrip(":")
    # and a finished job cannot be cancelled
    refused = run(database_url, "jobs", "cancel", job_id, "--org", str(DEMO_ORG_ID))
    assert refused.returncode == 2 and "cannot be cancelled" in refused.stderr, refused.stderr


def test_jobs_cancel_of_an_unknown_job_is_a_404_and_a_bad_state_is_refused(
    database_url: str, promotion: str
) -> None:
    unknown = run(database_url, "jobs", "cancel", "0" * 24, "--org", str(DEMO_ORG_ID))
    assert unknown.returncode == 2 and "404" in unknown.stderr, unknown.stderr
    bad = run(database_url, "jobs", "--org", str(DEMO_ORG_ID), "--state", "DONE")
    assert bad.returncode == 2 and "--state" in bad.stderr
