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

from tunix_rt.formats import canonical_name
from tunix_rt.schema import content_hash as payload_hash

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
    """The Hugging Face dataset card: a YAML header naming each non-empty split's file.

    Split names and paths are written as JSON strings (YAML double-quoted scalars): a split
    named `1`, `1.5`, `true` or `null` must stay a string for `datasets.load_dataset`."""
    label = f"{name}@v{version}"
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in ratios:
        if counts.get(split, 0):
            lines += [
                f"  - split: {_yaml_text(split)}",
                f"    path: {_yaml_text(split + '.jsonl')}",
            ]
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
    inconsistent: list[str] = field(default_factory=list)  # the manifest vs the split files

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra or self.inconsistent)


class BadManifestError(ValueError):
    """The folder's manifest.json is missing or not a tunix-rt manifest."""


# Where each format keeps the trace id (formats/): a split file's ids are checked against
# the manifest's; other formats carry none, and only their record counts are checked.
# the keys every record of a format has (what verify checks a line for)
_KEYS: dict[str, frozenset[str]] = {
    "jsonl": frozenset({"id", "created_at", "trace_version", "content_hash", "payload", "tags"}),
    "trace": frozenset({"id", "prompts", "trace_steps", "final_answer", "metadata"}),
    "training_example": frozenset({"id", "prompt", "response", "metadata"}),
    "tunix-sft": frozenset({"id", "prompts", "final_answer", "metadata", "prompt", "completion"}),
    "tunix-grpo": frozenset({"id", "prompts", "question", "answer", "completion"}),
    "trl-messages": frozenset({"messages"}),
    "trl-prompt-completion": frozenset({"prompt", "completion"}),
    "trl-stepwise": frozenset({"prompt", "completions", "labels"}),
    "atif": frozenset({"schema_version", "session_id", "agent", "steps"}),
}
_KEYS["tunix_sft"] = _KEYS["tunix-sft"]

_ID_PATHS: dict[str, tuple[str, ...]] = {
    "jsonl": ("id",),
    "trace": ("id",),
    "tunix-sft": ("id",),
    "tunix_sft": ("id",),
    "tunix-grpo": ("id",),
    "training_example": ("metadata", "source_trace_id"),
    "atif": ("session_id",),
}


@dataclass(frozen=True)
class _Manifest:
    files: dict[str, str]  # path -> sha256
    sizes: dict[str, int]  # path -> bytes (where listed)
    splits: dict[str, tuple[int, list[str]]]  # split -> (count, ids)
    hashes: dict[str, dict[str, str]]  # split -> id -> content hash (where listed)
    trace_count: int
    trace_ids: list[str]
    format: str


def _load(folder: Path) -> _Manifest:
    path = folder / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadManifestError(f"{path} is missing") from None
    except OSError as exc:
        raise BadManifestError(f"{path}: {exc.strerror or exc}") from None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadManifestError(f"{path} is not valid JSON ({exc})") from None

    def bad(what: str) -> BadManifestError:
        return BadManifestError(f"{path} is not a tunix-rt manifest: {what}")

    if not isinstance(doc, dict):
        raise bad("not a JSON object")
    for key, kind in (("files", dict), ("splits", dict), ("trace_count", int)):
        if key not in doc:
            raise bad(f"no {key!r}")
        if not isinstance(doc[key], kind) or isinstance(doc[key], bool):
            raise bad(f"{key!r} is not {'an object' if kind is dict else 'a number'}")
    files: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for name, entry in doc["files"].items():
        if not isinstance(entry, dict):
            raise bad(f"files.{name} is not an object with sha256 and bytes")
        digest = entry.get("sha256")
        if not isinstance(digest, str):
            raise bad(f"files.{name} has no sha256")
        size = entry.get("bytes")
        if "bytes" in entry and not _count(size):
            raise bad(f"files.{name}.bytes is {_shown(size)}, not a whole number >= 0")
        files[name] = digest
        if size is not None:
            sizes[name] = size
    splits: dict[str, tuple[int, list[str]]] = {}
    hashes: dict[str, dict[str, str]] = {}
    for name, entry in doc["splits"].items():
        if not isinstance(entry, dict):
            raise bad(f"splits.{name} is not an object with count and traces")
        if "count" not in entry:
            raise bad(f"splits.{name} has no count")
        count = entry["count"]
        if not _count(count):
            raise bad(f"splits.{name}.count is {_shown(count)}, not a whole number >= 0")
        traces = entry.get("traces")
        if not isinstance(traces, list):
            raise bad(f"splits.{name}.traces is {_shown(traces)}, not a list")
        ids = [t.get("id") if isinstance(t, dict) else None for t in traces]
        if not all(isinstance(i, str) for i in ids):
            raise bad(f"splits.{name}.traces has an entry without an id")
        splits[name] = (count, [str(i) for i in ids])
        hashes[name] = {
            t["id"]: t["content_hash"] for t in traces if isinstance(t.get("content_hash"), str)
        }
    trace_ids = doc.get("trace_ids", [])
    if not isinstance(trace_ids, list) or not all(isinstance(i, str) for i in trace_ids):
        raise bad("'trace_ids' is not a list of ids")
    fmt = doc.get("format")
    if fmt is not None and (not isinstance(fmt, str) or canonical_name(fmt) is None):
        raise bad(f"format is {_shown(fmt)}, not a format tunix-rt exports")
    return _Manifest(files, sizes, splits, hashes, doc["trace_count"], trace_ids, fmt or "")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shown(value: Any) -> str:
    """A manifest value in an error message: JSON, at most 40 characters."""
    text = orjson.dumps(value).decode() if value is not None else "missing"
    return text if len(text) <= 40 else text[:37] + "..."


def listed_files(folder: Path) -> list[str]:
    """The split files (`NAME.jsonl` directly in `folder`) an earlier export's manifest
    lists; none when there is no readable manifest."""
    try:
        m = _load(folder)
    except BadManifestError:
        return []
    return sorted(n for n in m.files if n.endswith(".jsonl") and "/" not in n and n[0] != ".")


def _hidden(rel: str) -> bool:
    """`.git`, `.gitattributes`, `.DS_Store`, `.cache/...`: not the data's (Hugging Face
    ignores them too)."""
    return any(part.startswith(".") for part in rel.split("/"))


def _records(
    path: Path, id_path: tuple[str, ...] | None, payloads: bool, keys: frozenset[str] = frozenset()
) -> tuple[int, list[str] | None, list[tuple[str, str | None]], list[str]]:
    """How many records (lines) a split file holds, their trace ids (None: the format
    carries none), with `payloads` (the `jsonl` format) each record's id and the SHA-256 of
    its payload's canonical JSON (None: no payload object), and the lines that are not a
    record of the format (`LINE: why`): not a JSON object, or without its trace id."""
    count = 0
    ids: list[str] | None = [] if id_path else None
    digests: list[tuple[str, str | None]] = []
    bad: list[str] = []
    with open(path, "rb") as handle:
        for line in handle:
            count += 1
            try:
                record: Any = orjson.loads(line)
            except orjson.JSONDecodeError:
                bad.append(f"{count}: not JSON")
                continue
            if not isinstance(record, dict):
                bad.append(f"{count}: not a JSON object")
                continue
            if not keys <= record.keys():
                bad.append(f"{count}: no {', '.join(sorted(keys - record.keys()))}")
                continue
            if ids is None or id_path is None:
                continue
            value: Any = record
            try:
                for key in id_path:
                    value = value[key]
            except (KeyError, TypeError, IndexError):
                value = None
            if not isinstance(value, str):
                bad.append(f"{count}: no trace id at {'.'.join(id_path)}")
                continue
            ids.append(value)
            if payloads:
                payload = record.get("payload")
                try:
                    digest = payload_hash(payload) if isinstance(payload, dict) else None
                except orjson.JSONEncodeError:
                    digest = None
                digests.append((value, digest))
    return count, ids, digests, bad


def _consistency(folder: Path, m: _Manifest, present: set[str]) -> list[str]:
    """What the manifest says about the splits against itself and the split files."""
    out: list[str] = []
    listed = 0
    for split, (count, ids) in m.splits.items():
        listed += count
        if count != len(ids):
            out.append(f"manifest splits.{split}: count {count:,}, but {len(ids):,} ids listed")
        name = f"{split}.jsonl"
        if name not in m.files:
            if count:
                out.append(f"manifest lists no file for split {split} ({count:,} traces)")
            continue
        if name not in present:
            continue  # reported as missing
        payloads = m.format == "jsonl"
        lines, found, digests, bad = _records(
            folder / name, _ID_PATHS.get(m.format), payloads, _KEYS.get(m.format, frozenset())
        )
        if bad:
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            out.append(
                f"{name}: {len(bad):,} line(s) that are not {m.format} records "
                f"(line {'; line '.join(bad[:3])}{more})"
            )
        if lines != count:
            out.append(f"{name} has {lines:,} records, the manifest says {count:,}")
        if found is not None and sorted(found) != sorted(ids):
            extra, gone = set(found) - set(ids), set(ids) - set(found)
            out.append(
                f"{name}: its trace ids differ from the manifest's "
                f"({len(extra):,} not listed, {len(gone):,} listed but absent)"
            )
        if found is not None and payloads:
            listed_hashes = m.hashes.get(split, {})
            edited = [i for i, d in digests if i in listed_hashes and d != listed_hashes[i]]
            if edited:
                more = f" and {len(edited) - 3} more" if len(edited) > 3 else ""
                out.append(
                    f"{name}: {len(edited):,} record(s) whose payload does not match its "
                    f"content hash in the manifest ({', '.join(edited[:3])}{more})"
                )
    if listed != m.trace_count:
        out.append(f"manifest trace_count is {m.trace_count:,}, its splits hold {listed:,}")
    in_splits = sorted(i for _, ids in m.splits.values() for i in ids)
    if sorted(m.trace_ids) != in_splits:
        out.append("manifest trace_ids are not the ids its splits list")
    return out


def verify(folder: Path) -> tuple[Verdict, int]:
    """Compare every file under `folder` with its manifest, and the manifest's per-split
    counts and ids with itself and the split files; return the verdict and how many files
    were checked. Hidden files and folders (`.git`, ...) are not looked at."""
    m = _load(folder)
    verdict = Verdict()
    present = set()
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            rel = Path(root, name).relative_to(folder).as_posix()
            if rel != MANIFEST and not _hidden(rel):
                present.add(rel)
    for rel in sorted(m.files):
        if rel not in present:
            verdict.missing.append(rel)
            continue
        digest, size = file_digest(folder / rel)
        if digest != m.files[rel]:
            verdict.changed.append(rel)
        elif rel in m.sizes and size != m.sizes[rel]:
            verdict.inconsistent.append(
                f"manifest files.{rel}.bytes is {m.sizes[rel]:,}, the file has {size:,}"
            )
    verdict.extra = sorted(present - set(m.files))
    verdict.inconsistent += _consistency(folder, m, present)
    return verdict, len(m.files)
