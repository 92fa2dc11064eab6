"""Frozen datasets: build, list, show, delete, export, verify, diff (see `tunix_rt.dataset`).

A build runs in one writing transaction: it checks the name, streams the selected traces
(every one, unless `--keep-duplicates --pick latest --limit N`, which reads only the newest
N), parses each payload once for its normalised content (the exact-duplicate key and the
prompt that decides the split), keeps one trace per exact key (`dataset.collapse`), picks
(newest first, or ordered by a keyed hash of the id) and stores ids, content hashes and
splits. Memory: one small record per distinct selected trace, never a payload.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tunix_rt import __version__
from tunix_rt import dataset as ds
from tunix_rt import dupes as algo
from tunix_rt.atomic import atomic_output
from tunix_rt.dataset import card as card_mod
from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors, writing
from tunix_rt.errors import OutputError, TunixRtError
from tunix_rt.filters import TraceFilter
from tunix_rt.formats import Options
from tunix_rt.records import DamagedTraceError, RawRow, parse_payload
from tunix_rt.repositories import datasets as repo
from tunix_rt.repositories import raw as raw_repo
from tunix_rt.services import selection as select
from tunix_rt.services.export import ExportReport, write_lines

PICKS = ("latest", "random")


class DatasetExistsError(TunixRtError):
    """`dataset build` named a dataset (or version) that exists."""


class DatasetNotFoundError(TunixRtError):
    """No dataset has this name (or version)."""


class EmptyDatasetError(TunixRtError):
    """No trace matched the selection."""


class DatasetIncompleteError(TunixRtError):
    """Traces a dataset froze were deleted (forced) or changed since it was built."""


@dataclass(frozen=True)
class Info:
    """A stored dataset and its per-split counts."""

    id: int
    name: str
    version: int
    created_at: datetime
    filter: str
    seed: int
    pick: str
    limit: int | None
    ratios: ds.Ratios
    tool_version: str
    duplicates_dropped: int | None  # None: exact duplicates were kept
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ds.label(self.name, self.version)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _info(row: Any, counts: dict[str, int]) -> Info:
    ratios = ds.parse_ratios(row.ratios, stored=True)
    ordered = {s: counts.get(s, 0) for s in ratios.names}
    return Info(
        row.id,
        row.name,
        row.version,
        row.created_at,
        row.filter,
        row.seed,
        row.pick,
        row.limit,
        ratios,
        row.tool_version,
        row.duplicates_dropped,
        ordered,
    )


def _find(conn: Any, text: str) -> Info:
    ref = ds.parse_ref(text)
    row = repo.find(conn=conn, name=ref.name, version=ref.version)
    if row is None:
        raise DatasetNotFoundError(f"dataset {ref} not found (`tunix-rt dataset list`)")
    return _info(row, repo.split_counts(conn=conn, dataset_id=row.id))


def choose(
    found: list[ds.Candidate], *, pick: str, seed: int, limit: int | None
) -> list[ds.Candidate]:
    """The picked candidates: `latest` the newest (ties by the larger id), `random` the
    first by the keyed id hash; the first `limit` of them when given."""
    if limit is None or len(found) <= limit:
        return found  # all of them: the order does not matter (members are stored by id)
    if pick == "random":
        found.sort(key=lambda c: ds.pick_key(seed, c.id))
    else:
        found.sort(key=lambda c: (c.created_at, c.id), reverse=True)
    return found[:limit]


def _candidates(
    rows: Iterator[tuple[str, datetime, str, str]],
    *,
    seed: int,
    ratios: ds.Ratios,
    keyed: bool,
) -> Iterator[tuple[str, ds.Candidate]]:
    """(exact key, candidate) of each row; the key is "" unless `keyed`."""
    bounds = ratios.bounds()
    for ident, created_at, digest, text in rows:
        payload = parse_payload(text, uuid.UUID(ident))
        try:
            if keyed:
                folded = algo.folded_parts(payload)
                key, prompt = algo.exact_key(folded), folded[0]
            else:
                key, prompt = "", ds.prompt_key(payload["prompt"])
        except (KeyError, TypeError, AttributeError):
            raise DamagedTraceError(
                f"trace {ident} is damaged (its stored payload is not a valid trace): "
                "run `tunix-rt db doctor --deep`"
            ) from None
        split = ds.assign_folded(prompt, seed, ratios, bounds)
        yield key, ds.Candidate(ident, created_at, digest, split)


def build(
    db: Database,
    name: str,
    selection: TraceFilter,
    *,
    ratios: ds.Ratios,
    seed: int = 0,
    pick: str = "latest",
    limit: int | None = None,
    keep_duplicates: bool = False,
) -> Info:
    """Freeze the selected traces as dataset `name` (`NAME` = version 1, or `NAME@vN`):
    exact duplicates once (unless `keep_duplicates`), then the pick and the limit."""
    ref = ds.parse_ref(name)
    if pick not in PICKS:
        raise ds.DatasetNameError(f"--pick {pick}: choose latest or random")
    with translate_errors(db.url), db.engine.connect() as plain:
        conn = writing(plain)
        with conn.begin():
            existing = repo.versions(conn=conn, name=ref.name)
            version = ref.version or 1
            if ref.version is None and existing:
                raise DatasetExistsError(
                    f"dataset {ref.name} exists ({', '.join(f'v{v}' for v in existing)}); "
                    f"build a new version as {ref.name}@v{max(existing) + 1}"
                )
            if version in existing:
                raise DatasetExistsError(
                    f"dataset {ds.label(ref.name, version)} exists; versions are never "
                    f"replaced: build {ref.name}@v{max(existing) + 1}"
                )
            where = select.conditions(conn=conn, selection=selection)
            sql_limit = limit if keep_duplicates and pick == "latest" else None
            rows = repo.candidates(conn=conn, where=where, limit=sql_limit)
            found = _candidates(rows, seed=seed, ratios=ratios, keyed=not keep_duplicates)
            dropped: int | None = None
            if keep_duplicates:
                kept = [c for _, c in found]
            else:
                kept, dropped = ds.collapse(found)
            chosen = choose(kept, pick=pick, seed=seed, limit=limit)
            if not chosen:
                raise EmptyDatasetError("Dataset is empty. No traces matched the filters.")
            members = sorted((c.id, c.content_hash, c.split) for c in chosen)
            del kept, chosen
            new_id = repo.create(
                conn=conn,
                name=ref.name,
                version=version,
                created_at=datetime.now(UTC),
                filter_text=selection.describe(),
                seed=seed,
                pick=pick,
                limit=limit,
                ratios=str(ratios),
                tool_version=__version__,
                duplicates_dropped=dropped,
                rows=members,
            )
            counts: dict[str, int] = {}
            for _, _, split in members:
                counts[split] = counts.get(split, 0) + 1
            row = repo.find(conn=conn, name=ref.name, version=version)
            assert row is not None
            assert row.id == new_id
            return _info(row, counts)


def listing(db: Database) -> list[Info]:
    """Every dataset with its per-split counts, by name then version."""
    with translate_errors(db.url), db.engine.connect() as conn:
        counts = repo.all_split_counts(conn=conn)
        return [_info(row, counts.get(row.id, {})) for row in repo.listing(conn=conn)]


def find(db: Database, name: str) -> Info:
    """A dataset (`NAME`: the newest version) and its per-split counts, or
    DatasetNotFoundError."""
    with translate_errors(db.url), db.engine.connect() as conn:
        return _find(conn, name)


def show(db: Database, name: str) -> tuple[Info, dict[str, Any]]:
    """A dataset and the original service's manifest stats over its traces."""
    with translate_errors(db.url), db.engine.connect() as conn:
        info = _find(conn, name)
        stats = card_mod.Stats()
        for payload in repo.payloads(conn=conn, dataset_id=info.id):
            stats.add(orjson.loads(payload))
        return info, stats.as_dict()


def delete(
    db: Database, name: str, *, confirm: Callable[[Info], bool] | None = None
) -> Info | None:
    """Delete a dataset (its traces stay); None when `confirm` said no."""
    with translate_errors(db.url), db.engine.connect() as plain:
        conn = writing(plain)
        with conn.begin() as tx:
            info = _find(conn, name)
            if confirm is not None and not confirm(info):
                tx.rollback()
                return None
            repo.delete(conn=conn, dataset_id=info.id)
            return info


def members(db: Database, name: str) -> tuple[Info, list[tuple[str, str, str]]]:
    with translate_errors(db.url), db.engine.connect() as conn:
        info = _find(conn, name)
        return info, repo.member_rows(conn=conn, dataset_id=info.id)


# --- export ---------------------------------------------------------------------------------


@dataclass
class ExportResult:
    info: Info
    folder: Path
    files: dict[str, tuple[str, int]]
    reports: dict[str, ExportReport]


def _watch(
    rows: Iterator[RawRow], stats: card_mod.Stats, newest: list[str], clamp: datetime | None
) -> Iterator[RawRow]:
    """Rows as they go by: stats, the newest time, and (`clamp`, SOURCE_DATE_EPOCH) every
    time after `clamp` written as `clamp`."""
    clamped = clamp.isoformat() if clamp is not None else ""
    for row in rows:
        stats.add(orjson.loads(row.payload))
        if not newest or row.created_at > newest[0]:
            newest[:] = [row.created_at]
        if clamp is not None and datetime.fromisoformat(row.created_at) > clamp:
            yield row._replace(created_at=clamped)
        else:
            yield row


def _remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def export(
    db: Database,
    name: str,
    *,
    to: str,
    out: Path,
    options: Options | None = None,
    force: bool = False,
    workers: int | None = None,
    epoch: datetime | None = None,
) -> ExportResult:
    """Write one `<split>.jsonl` per split, then `README.md`, then `manifest.json` (last: a
    folder without it is not a finished export). Each file is written atomically; an existing
    file is refused unless `force`.

    `epoch` (SOURCE_DATE_EPOCH) is the manifest's `created_at`, and trace times after it are
    written as it (clamped), so the same traces uploaded at different moments, into SQLite or
    PostgreSQL, export to the same bytes."""
    names: list[str] = []
    if os.path.lexists(out) and not out.is_dir():
        kind = "a file" if out.is_file() else "not a folder"
        raise OutputError(f"--out {out} is {kind}, not a folder to export into: name a folder")
    with translate_errors(db.url), db.engine.connect() as conn:
        info = _find(conn, name)
        names = [f"{s}.jsonl" for s in info.ratios.names] + [card_mod.CARD, card_mod.MANIFEST]
        others = _unrelated(out)
        if others and not force:
            shown = ", ".join(others[:3]) + (
                f" and {len(others) - 3} more" if len(others) > 3 else ""
            )
            raise OutputError(
                f"{out} is not empty and holds no earlier export ({shown}): export into a new "
                "or empty folder, or add --force to write beside those files (which "
                "`dataset verify` then reports as extra)"
            )
        if not force:
            taken = [n for n in names if os.path.lexists(out / n)]
            if taken:
                raise OutputError(f"{out} already has {', '.join(taken)}: add --force to replace")
        stale = [n for n in card_mod.listed_files(out) if n not in names]
        gone = repo.missing(conn=conn, dataset_id=info.id)
        if gone:
            more = f" and {len(gone) - 5} more" if len(gone) > 5 else ""
            raise DatasetIncompleteError(
                f"dataset {info.label}: {len(gone)} of its traces were deleted or changed "
                f"since it was built ({', '.join(gone[:5])}{more}); build a new version"
            )
        member_rows = repo.member_rows(conn=conn, dataset_id=info.id)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {out}: {exc.strerror or exc}") from None
        stats = card_mod.Stats()
        written: list[Path] = []  # removed again if the export does not finish
        newest: list[str] = []
        files: dict[str, tuple[str, int]] = {}
        reports: dict[str, ExportReport] = {}
        try:
            for split in info.ratios.names:
                report = ExportReport(to)
                path = out / f"{split}.jsonl"
                where = [repo.in_split(info.id, split)]
                with (
                    atomic_output(path, force=force) as handle,
                    closing(raw_repo.rows(conn=conn, where=where)) as rows,
                ):
                    watched = _watch(rows, stats, newest, epoch)
                    write_lines(watched, to, options or Options(), handle, report, workers=workers)
                reports[split] = report
                written.append(path)
                files[path.name] = card_mod.file_digest(path)
        except BaseException:
            _remove(written)
            raise
    try:
        ratios = info.ratios.as_dict()
        card_bytes = card_mod.card(
            name=info.name,
            version=info.version,
            to=to,
            filter_text=info.filter,
            pick=info.pick,
            seed=info.seed,
            ratios=ratios,
            counts=info.counts,
            duplicates_dropped=info.duplicates_dropped,
            tool_version=__version__,
        )
        with atomic_output(out / card_mod.CARD, force=force) as handle:
            handle.write(card_bytes)
        written.append(out / card_mod.CARD)
        files[card_mod.CARD] = card_mod.file_digest(out / card_mod.CARD)
        doc = card_mod.manifest(
            name=info.name,
            version=info.version,
            filter_text=info.filter,
            pick=info.pick,
            seed=info.seed,
            limit=info.limit,
            duplicates_dropped=info.duplicates_dropped,
            ratios=ratios,
            members=member_rows,
            data_as_of=epoch.isoformat() if epoch else newest[0] if newest else None,
            stats=stats.as_dict(),
            tool_version=__version__,
            to=to,
            files=files,
        )
        with atomic_output(out / card_mod.MANIFEST, force=force) as handle:
            handle.write(doc)
    except BaseException:
        _remove(written)  # no manifest: a folder of split files must not look finished
        raise
    _remove([out / n for n in stale])  # split files of the export this one replaced
    return ExportResult(info, out, files, reports)


def _unrelated(out: Path) -> list[str]:
    """The visible entries of `out` when it holds no earlier export (no manifest.json);
    hidden ones (.git, .gitattributes) are never the data's."""
    try:
        entries = sorted(e for e in os.listdir(out) if not e.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []  # a new folder; a file in the way fails at mkdir
    except OSError as exc:
        raise OutputError(f"cannot read {out}: {exc.strerror or exc}") from None
    return [] if card_mod.MANIFEST in entries else entries


# --- diff -----------------------------------------------------------------------------------


@dataclass
class Diff:
    a: Info
    b: Info
    added: list[tuple[str, str]]  # (id, split in b)
    removed: list[tuple[str, str]]  # (id, split in a)
    moved: list[tuple[str, str, str]]  # (id, split in a, split in b)
    same: int


def diff(db: Database, a: str, b: str) -> Diff:
    with translate_errors(db.url), db.engine.connect() as conn:
        left = _find(conn, a)
        right = _find(conn, b)
        old = {i: s for i, _, s in repo.member_rows(conn=conn, dataset_id=left.id)}
        new = {i: s for i, _, s in repo.member_rows(conn=conn, dataset_id=right.id)}
    added = [(i, new[i]) for i in sorted(new.keys() - old.keys())]
    removed = [(i, old[i]) for i in sorted(old.keys() - new.keys())]
    both = sorted(old.keys() & new.keys())
    moved = [(i, old[i], new[i]) for i in both if old[i] != new[i]]
    return Diff(left, right, added, removed, moved, len(both) - len(moved))
