"""The acceptance run of datasets: the shared data uploaded into SQLite and into PostgreSQL,
built and exported the same way, gives the same bytes (SOURCE_DATE_EPOCH for the times)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DATA, invoke
from tunix_rt.filters import fold

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared/data
SPLITS = ("train.jsonl", "validation.jsonl")
EPOCH = "1767225600"  # 2026-01-01T00:00:00Z


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def without_times(data: bytes) -> list[Any]:
    """The records of a tunix-sft file with `metadata.created_at` (upload time) left out."""
    out = []
    for line in data.decode().splitlines():
        record = json.loads(line)
        del record["metadata"]["created_at"]
        out.append(record)
    return out


def test_the_test_data_is_the_whole_shared_data() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not here")
    shared = {p.name: p.read_bytes() for p in SHARED.glob("*.jsonl")}
    assert shared
    assert {p.name: p.read_bytes() for p in DATA.iterdir()} == shared


@pytest.mark.postgres
def test_shared_data_on_sqlite_and_postgresql_gives_the_same_dataset(
    tmp_path: Path, fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite = f"sqlite:///{tmp_path / 'lite.db'}"
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)

    def run(url: str, *args: str) -> Any:
        return ok(invoke(["--db", url, *args]))

    run(fresh_pg_url, "db", "upgrade")
    plain: dict[str, Path] = {}
    pinned: dict[str, Path] = {}
    for url, name in ((lite, "sqlite"), (fresh_pg_url, "pg")):
        run(url, "trace", "upload", str(DATA), "--skip-invalid")
        stored = len(run(url, "trace", "list", "--all", "--jsonl").lines())
        built = run(
            url, "dataset", "build", "dev", "--split", "train=0.9,validation=0.1", "--seed", "42",
            "--json",
        ).json()  # fmt: skip
        assert (stored, built["duplicates_dropped"]) == (915, 88)  # as `trace dupes`
        assert built["trace_count"] == stored - built["duplicates_dropped"]
        plain[name] = tmp_path / f"{name}-plain"
        run(url, "dataset", "export", "dev", "--to", "tunix-sft", "--out", str(plain[name]))
        monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        pinned[name] = tmp_path / f"{name}-pinned"
        run(url, "dataset", "export", "dev", "--to", "tunix-sft", "--out", str(pinned[name]))
        monkeypatch.delenv("SOURCE_DATE_EPOCH")
        for out in (plain[name], pinned[name]):
            assert "ok: 3 files match" in ok(invoke(["dataset", "verify", str(out)])).stderr
        out = pinned[name]
        counts = [len((out / f).read_bytes().splitlines()) for f in SPLITS]
        assert all(counts)
        assert sum(counts) == built["trace_count"]
        manifest = json.loads((out / "manifest.json").read_bytes())
        assert manifest["created_at"] == "2026-01-01T00:00:00+00:00"
        assert [manifest["splits"][f[:-6]]["count"] for f in SPLITS] == counts
        prompts = [
            {fold(json.loads(line)["prompt"]) for line in (out / f).read_bytes().splitlines()}
            for f in SPLITS
        ]
        assert not prompts[0] & prompts[1]
    # Uploaded at other moments, the trace times differ, and only they.
    a, b = files(plain["sqlite"]), files(plain["pg"])
    assert a["README.md"] == b["README.md"]
    for f in SPLITS:
        assert a[f] != b[f]
        assert without_times(a[f]) == without_times(b[f])
    # With SOURCE_DATE_EPOCH the whole folder is the same, byte for byte.
    assert files(pinned["sqlite"]) == files(pinned["pg"])


def test_a_malformed_source_date_epoch_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    ok(invoke(["--db", db, "trace", "upload", str(DATA / "e2e_ingest.jsonl")]))
    ok(invoke(["--db", db, "dataset", "build", "d"]))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    bad = invoke(["--db", db, "dataset", "export", "d", "--to", "jsonl", "--out", "o"])
    assert bad.exit_code == 1
    assert bad.stderr.count("\n") == 1
    assert "SOURCE_DATE_EPOCH 'yesterday' is not a whole number of seconds" in bad.stderr
    assert not Path("o").exists()
