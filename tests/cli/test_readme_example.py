"""The README's command-line example runs as pasted: the `sh` block after its marker, in a scratch
folder with `.venv/bin/promo-wallet` standing for the installed command, every line exiting 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

MARKER = "<!-- tests/cli/test_readme_example.py runs the sh block below -->"


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    after = text[text.index(MARKER) + len(MARKER) :].lstrip()
    assert after.startswith("```sh\n"), "the marker must sit right above a ```sh block"
    return after[len("```sh\n") : after.index("\n```")]


def test_the_readme_command_line_example_runs_as_pasted(tmp_path: Path) -> None:
    # given a folder where .venv/bin/promo-wallet is this checkout's command
    script = tmp_path / ".venv" / "bin" / "promo-wallet"
    script.parent.mkdir(parents=True)
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m app.cli "$@"\n')
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMO_WALLET_")}
    env |= {"PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    # when the block runs, stopping at the first line that fails
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_example()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # then every step did what the README says
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert '"username": "pos-1"' in done.stdout
    assert "created" in done.stdout and "issued" in done.stdout
    assert "wallet of customer 1001" in done.stdout and "Welcome 100 off" in done.stdout
    assert "ok: no invariant violations" in done.stdout
    assert (tmp_path / "try.db").exists()
