"""Import rules of the round-2 shape (design.md section 7), checked on the source text.

Pure modules import neither the database layer nor the terminal; repositories and services
never import Typer or Rich; nothing below `cli/` imports `cli/`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tunix_rt"
PURE = ["schema.py", "records.py", "errors.py", "ingest/validate.py", "ingest/readers.py"]
PURE += ["formats", "atomic.py", "rewards.py"]  # renderers; atomic files; reward calls
NO_UI = ["repositories", "services", "db", "ingest", *PURE]
DB_LAYER = ("sqlalchemy", "sqlmodel", "psycopg", "alembic", "tunix_rt.db", "tunix_rt.repositories")
UI = ("typer", "rich", "click", "tunix_rt.cli")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _files(entries: list[str]) -> list[Path]:
    out: list[Path] = []
    for entry in entries:
        path = SRC / entry
        out.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return out


def _offending(path: Path, banned: tuple[str, ...]) -> list[str]:
    return [n for n in _imports(path) if any(n == b or n.startswith(b + ".") for b in banned)]


@pytest.mark.parametrize("path", _files(PURE), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_modules_need_no_database(path: Path) -> None:
    assert _offending(path, DB_LAYER) == []


@pytest.mark.parametrize("path", _files(NO_UI), ids=lambda p: str(p.relative_to(SRC)))
def test_lower_layers_do_not_print(path: Path) -> None:
    assert _offending(path, UI) == []


def test_the_rules_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import rich\nfrom sqlalchemy import text\n", encoding="utf-8")
    assert sorted(_offending(bad, DB_LAYER + UI)) == ["rich", "sqlalchemy"]
