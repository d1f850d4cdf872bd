"""What the command line imports before it runs a command: `--help` and a command's own input
checks must not load the web stack or the database stack (README "Command line": start-up times;
bench/cli_startup.py measures them; no timing here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

HEAVY = ("fastapi", "starlette", "strawberry", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings")
OURS_HEAVY = ("app.main", "app.graphql", "app.rest", "app.persistence", "app.settings")

RUN = """
import json, runpy, sys
sys.argv = ["promo-wallet", *json.loads(sys.argv[1])]
try:
    runpy.run_module("app.cli", run_name="__main__", alter_sys=True)
except SystemExit as done:
    code = done.code
else:
    code = 0
with open(OUT, "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def imported_by(args: list[str], tmp_path: Path) -> tuple[int, list[str]]:
    """The exit code of `promo-wallet ARGS` and every module loaded by its end."""
    out = tmp_path / "modules.json"
    script = RUN.replace("OUT", repr(str(out)))
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "PROMO_WALLET_DATABASE_URL": "sqlite+aiosqlite:///x",
        },
    )
    assert out.exists(), done.stderr
    found = json.loads(out.read_text())
    return found["code"], found["modules"]


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY or m.startswith(OURS_HEAVY)]


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["serve", "--help"],
        ["issue", "--help"],
        ["customers", "import", "--help"],
        ["promotions", "create", "--help"],
        ["check-invariants", "--help"],
    ],
)
def test_help_loads_neither_the_web_stack_nor_the_database_stack(args: list[str], tmp_path: Path) -> None:
    code, modules = imported_by(args, tmp_path)
    assert code == 0
    assert heavy(modules) == []


def test_a_command_refusing_its_options_stops_before_loading_the_database_stack(tmp_path: Path) -> None:
    code, modules = imported_by(["wallet", "1", "--org", "1", "--status", "NOPE"], tmp_path)
    assert code == 2
    assert heavy(modules) == []


def test_the_check_sees_the_web_stack_when_a_command_does_load_it(tmp_path: Path) -> None:
    code, modules = imported_by(["export-schema", "--output", str(tmp_path / "schema.graphql")], tmp_path)
    assert code == 0
    assert "strawberry" in heavy(modules)
