"""The frontend example (examples/frontend) compiles against schema.graphql: `npm ci`, the
graphql-codegen client preset, then `tsc --noEmit`, as a frontend team's CI would run them, so a
schema change that breaks a frontend's documents or types fails here. Run in a copy (the example
beside a copy of the schema, as in the repository), which also lets the test prove that it fails
when a field the documents use leaves the schema."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

EXAMPLE = ROOT / "examples" / "frontend"
NPM = shutil.which("npm")
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NPM is None or NODE is None, reason="node and npm are not installed (every CI machine has them)"
)


def npm(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    assert NPM is not None
    return subprocess.run(
        [NPM, *args, "--no-audit", "--no-fund"] if args[0] == "ci" else [NPM, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_frontend_example_type_checks_against_the_schema_and_fails_when_it_breaks(tmp_path: Path) -> None:
    # given the example and the schema, laid out as in the repository
    copy = tmp_path / "examples" / "frontend"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("node_modules", "gql"))
    schema = tmp_path / "schema.graphql"
    shutil.copy(ROOT / "schema.graphql", schema)
    installed = npm("ci", cwd=copy)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    # when the documents are generated and type-checked
    checked = npm("run", "check", cwd=copy)

    # then they compile
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (copy / "src" / "gql" / "graphql.ts").is_file()

    # and a schema without a field the wallet screen reads fails the same command
    schema.write_text(schema.read_text().replace("  validTillLocal: String!\n", ""))
    broken = npm("run", "check", cwd=copy)
    assert broken.returncode != 0
    assert 'Cannot query field "validTillLocal"' in broken.stdout + broken.stderr
