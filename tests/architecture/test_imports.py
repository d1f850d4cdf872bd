"""The dependency rule of DESIGN §1, read from the code: which parts of `app` may import which.

Every `import` and `from … import` in app/ is found with `ast` (function-level imports too, and
those under TYPE_CHECKING), so a never-arrow fails this test wherever it is written."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"

# part -> parts of ours it must never import (a part is the first package under app/).
NEVER: dict[str, set[str]] = {
    "domain": {
        "services",
        "persistence",
        "graphql",
        "rest",
        "auth",
        "cli",
        "main",
        "settings",
        "observability",
        "ide",
    },
    "services": {"persistence", "graphql", "rest", "cli", "main", "observability", "ide"},
    "graphql": {"rest", "persistence", "cli"},
    "rest": {"graphql", "persistence", "cli"},
    "auth": {"persistence", "graphql", "rest", "cli"},
    "persistence": {"services", "graphql", "rest", "cli", "main"},
    # the invariant checker's old command name: an alias of the CLI, nothing of its own
    "invariants": {"persistence", "services", "graphql", "rest", "main"},
}
# Third-party packages the domain must not know (DESIGN §1: plain Python).
DOMAIN_FORBIDDEN_LIBRARIES = {
    "fastapi",
    "starlette",
    "strawberry",
    "graphql",
    "sqlalchemy",
    "sqlmodel",
    "pydantic",
}


@dataclass(frozen=True)
class Import:
    source: Path
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.source.relative_to(APP.parent)}:{self.line} imports {self.module}"


def part_of(path: Path) -> str:
    relative = path.relative_to(APP)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 else relative.stem


def imports_in(path: Path) -> list[Import]:
    package = ".".join(("app", *path.relative_to(APP).with_suffix("").parts[:-1]))
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(Import(path, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append(Import(path, node.lineno, module))
            # `from app import services` names the part in the alias
            if module == "app":
                found.extend(Import(path, node.lineno, f"app.{alias.name}") for alias in node.names)
    return found


def violations(root: Path = APP) -> list[str]:
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        part = part_of(path)
        for imported in imports_in(path):
            names = imported.module.split(".")
            if names[0] == "app" and len(names) > 1 and names[1] in NEVER.get(part, set()):
                problems.append(str(imported))
            if part == "domain" and names[0] in DOMAIN_FORBIDDEN_LIBRARIES:
                problems.append(str(imported))
    return problems


def test_no_part_of_app_imports_what_the_dependency_rule_forbids() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("planted_in", "line"),
    [
        ("domain/planted.py", "from app.persistence.database import Database"),
        ("domain/planted.py", "import sqlalchemy"),
        ("services/planted.py", "from app.persistence import uow"),
        ("services/planted.py", "def f() -> None:\n    from app.graphql.schema import schema\n"),
        ("graphql/planted.py", "from app.rest.routes import router"),
        ("rest/planted.py", "from app import graphql"),
        ("rest/planted.py", "from app.persistence.tables import promotion_table"),
        ("graphql/sub/planted.py", "from ...persistence.database import Database"),
        ("services/planted.py", "from app.cli.shell import run"),
        ("persistence/planted.py", "from app.cli import main"),
        ("invariants.py", "from app.persistence.invariants import check_database"),
    ],
)
def test_a_planted_violation_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted_in: str, line: str
) -> None:
    # given a copy of app/ with one forbidden import planted in it
    copy = tmp_path / "app"
    for path in APP.rglob("*.py"):
        target = copy / path.relative_to(APP)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    planted = copy / planted_in
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(line + "\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["APP"]), "APP", copy)
    # when the rule is checked, then exactly the planted import is reported
    [problem] = violations(copy)
    assert problem.startswith(f"app/{planted_in}:")
