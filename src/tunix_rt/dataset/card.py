"""The files of a dataset export besides the data: `manifest.json` and the `README.md` card.

Both are rendered from what the database froze and the bytes written, never from the clock,
so exporting the same dataset over the same data gives the same bytes. `verify` is the pure
check of a folder against its manifest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

MANIFEST = "manifest.json"
CARD = "README.md"
SCHEMA_VERSION = "1.0"
_CHUNK = 1 << 20


@dataclass
class Stats:
    """The original service's manifest stats, over the exported traces."""

    count: int = 0
    steps: list[int] = field(default_factory=list)
    chars: int = 0

    def add(self, payload: dict[str, Any]) -> None:
        steps = payload.get("steps") or []
        self.count += 1
        self.steps.append(len(steps))
        text = len(str(payload.get("prompt", ""))) + len(str(payload.get("final_answer", "")))
        self.chars += text + sum(len(str(s.get("content", ""))) for s in steps)

    def as_dict(self) -> dict[str, Any]:
        if not self.count:
            return {"trace_count": 0}
        return {
            "trace_count": self.count,
            "avg_step_count": round(sum(self.steps) / self.count, 4),
            "min_step_count": min(self.steps),
            "max_step_count": max(self.steps),
            "avg_total_chars": round(self.chars / self.count, 4),
        }


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def build_id(members: Sequence[tuple[str, str, str]]) -> str:
    """A content address of the frozen membership: the same traces and splits, the same id."""
    digest = hashlib.sha256()
    for ident, content_hash, split in sorted(members):
        digest.update(f"{ident}\t{content_hash}\t{split}\n".encode())
    return digest.hexdigest()


def manifest(
    *,
    name: str,
    version: int,
    filter_text: str,
    pick: str,
    seed: int,
    limit: int | None,
    duplicates_dropped: int | None,
    ratios: Mapping[str, str],
    members: Sequence[tuple[str, str, str]],
    data_as_of: str | None,
    stats: dict[str, Any],
    tool_version: str,
    to: str,
    files: Mapping[str, tuple[str, int]],
) -> bytes:
    """`manifest.json`: formats.md section 6's fields, then ours; sorted keys, 2-space indent.

    `duplicates_dropped` is how many exact duplicates the build dropped (null: it kept them).
    `created_at` is the newest exported trace's time (the data as of) or SOURCE_DATE_EPOCH, never
    the export time.
    """
    splits: dict[str, list[dict[str, str]]] = {s: [] for s in ratios}
    for ident, content_hash, split in sorted(members):
        splits.setdefault(split, []).append({"id": ident, "content_hash": content_hash})
    key = f"{name}-v{version}".replace(" ", "_").replace("/", "_")
    doc = {
        "dataset_key": key,
        "build_id": build_id(members),
        "dataset_name": name,
        "dataset_version": f"v{version}",
        "dataset_schema_version": SCHEMA_VERSION,
        "created_at": data_as_of,
        "filters": filter_text,
        "selection_strategy": pick,
        "seed": seed,
        "limit": limit,
        "duplicates_dropped": duplicates_dropped,
        "trace_ids": sorted(m[0] for m in members),
        "trace_count": len(members),
        "stats": stats,
        "session_id": None,
        "parent_dataset_id": None,
        "training_run_id": None,
        "provenance": {"tool": "tunix-rt", "tool_version": tool_version},
        "tool_version": tool_version,
        "format": to,
        "split_ratios": dict(ratios),
        "splits": {s: {"count": len(rows), "traces": rows} for s, rows in splits.items()},
        "files": {
            path: {"sha256": digest, "bytes": size}
            for path, (digest, size) in sorted(files.items())
        },
    }
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def card(
    *,
    name: str,
    version: int,
    to: str,
    filter_text: str,
    pick: str,
    seed: int,
    ratios: Mapping[str, str],
    counts: Mapping[str, int],
    duplicates_dropped: int | None,
    tool_version: str,
) -> bytes:
    """The Hugging Face dataset card: a YAML header naming each non-empty split's file."""
    label = f"{name}@v{version}"
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in ratios:
        if counts.get(split, 0):
            lines += [f"  - split: {split}", f"    path: {split}.jsonl"]
    lines += [f"pretty_name: {_yaml_text(label)}", "---", "", f"# {label}", ""]
    lines += [
        f"Exported by tunix-rt {tool_version} in the `{to}` format, one JSON object per line.",
        "",
        f"- selection: {filter_text}",
        f"- pick: {pick}, seed {seed}",
        "- exact duplicates (the same normalised prompt, steps and answer): "
        + (
            "kept"
            if duplicates_dropped is None
            else f"held once, the oldest of each group ({duplicates_dropped} dropped)"
        ),
        "- splits (by a hash of the normalised prompt and the seed): "
        + ", ".join(f"{s}={r}" for s, r in ratios.items()),
        "",
        "| split | file | traces |",
        "| --- | --- | ---: |",
    ]
    lines += [f"| {s} | {s}.jsonl | {counts.get(s, 0)} |" for s in ratios]
    lines += [
        "",
        "`manifest.json` lists every trace id and content hash per split and every file's "
        "SHA-256; `tunix-rt dataset verify DIR` checks them.",
        "",
    ]
    return "\n".join(lines).encode()


def _yaml_text(text: str) -> str:
    return orjson.dumps(text).decode()  # a JSON string is a YAML double-quoted scalar


@dataclass
class Verdict:
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)


class BadManifestError(ValueError):
    """The folder's manifest.json is missing or not a tunix-rt manifest."""


def verify(folder: Path) -> tuple[Verdict, int]:
    """Compare every file under `folder` with its manifest; return the verdict and how many
    files were checked."""
    try:
        doc = orjson.loads((folder / MANIFEST).read_bytes())
        files = {str(k): str(v["sha256"]) for k, v in doc["files"].items()}
    except FileNotFoundError:
        raise BadManifestError(f"{folder / MANIFEST} is missing") from None
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise BadManifestError(f"{folder / MANIFEST} is not a tunix-rt manifest") from None
    verdict = Verdict()
    present = set()
    for root, _dirs, names in os.walk(folder):
        for name in names:
            rel = Path(root, name).relative_to(folder).as_posix()
            if rel != MANIFEST:
                present.add(rel)
    for rel in sorted(files):
        if rel not in present:
            verdict.missing.append(rel)
        elif file_digest(folder / rel)[0] != files[rel]:
            verdict.changed.append(rel)
    verdict.extra = sorted(present - set(files))
    return verdict, len(files)
