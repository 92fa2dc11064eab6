"""The built wheel ships the migrations and works outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
    )
    (found,) = out.glob("tunix_rt-*.whl")
    return found


def test_wheel_contains_migrations(wheel: Path) -> None:
    """env.py, the template and every revision are inside the wheel."""
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tunix_rt/migrations/env.py" in names
    assert "tunix_rt/migrations/script.py.mako" in names
    versions = [
        n for n in names if n.startswith("tunix_rt/migrations/versions/") and n.endswith(".py")
    ]
    assert len(versions) == len(list((ROOT / "migrations" / "versions").glob("*.py")))


@pytest.mark.slow
def test_installed_wheel_runs_outside_checkout(wheel: Path, tmp_path: Path) -> None:
    """From another directory the installed package upgrades a database and uploads traces."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    db = f"sqlite:///{tmp_path / 'w.db'}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tunix_rt", "--db", db, *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    where = subprocess.run(
        [sys.executable, "-c", "import tunix_rt, sys; sys.stdout.write(tunix_rt.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(target))
    up = run("db", "upgrade")
    assert up.returncode == 0, up.stderr
    loaded = run("trace", "upload", str(ROOT / "examples"))
    assert loaded.returncode == 0, loaded.stderr
    assert "stored 68, duplicates 0" in loaded.stderr
