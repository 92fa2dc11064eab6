"""`trace dupes`: clusters of exact and near-duplicate traces, a keeper for each, and a tag
for the others.

One pass reads the selected traces. A trace whose sketch (normalised-content key and, for
`--near`, MinHash signature) is stored for its content hash and the current scheme is not
parsed again; the others are parsed, sketched in batches of BATCH and their sketches stored
at the end, so checking a store again costs reading the sketches plus what is new.

Exact duplicates are grouped by key. With `--near`, one trace per exact group goes through
LSH (`tunix_rt.dupes`); candidate pairs are checked on their shingle fingerprints, the edges
that joined a cluster again on the shingle strings, and only then reported. Only the
candidates' payloads are read a second time.

Without a tag the scan runs in a read transaction and the new sketches are stored in a short
write transaction afterwards (a read-only database only loses the cache). With a tag the run
is one write transaction: the selected traces are written down (`repositories.selected`),
checked, and the non-keepers tagged before the commit.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, exc

from tunix_rt import dupes as algo
from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors, writing
from tunix_rt.errors import InvalidInputError
from tunix_rt.filters import TraceFilter
from tunix_rt.records import parse_payload
from tunix_rt.repositories import dupes as repo
from tunix_rt.repositories import scores as score_repo
from tunix_rt.repositories import selected as chosen
from tunix_rt.repositories import tags as tag_repo
from tunix_rt.repositories import traces as trace_repo
from tunix_rt.services import selection as select

BATCH = 1000  # traces sketched at a time
Kind = Literal["exact", "near"]


@dataclass(frozen=True)
class Options:
    near: bool = False
    threshold: float = algo.DEFAULT_THRESHOLD
    keep: algo.KeepRule = "oldest"
    score_name: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    id: uuid.UUID
    created_at: datetime
    similarity: float  # Jaccard similarity of its shingles to the keeper's (1.0: same text)
    exact: bool  # the same normalised content as the keeper
    score: float | None = None


@dataclass(frozen=True)
class Cluster:
    kind: Kind  # exact: one normalised content; near: more than one
    members: list[Member]  # the keeper first, then the others in keeper order
    prompt: str  # the keeper's prompt

    @property
    def keeper(self) -> Member:
        return self.members[0]

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class Report:
    selection: str
    options: Options
    checked: int = 0
    computed: int = 0  # traces sketched in this run (the others came from the store)
    stored: bool = True  # the new sketches were stored (False on a read-only database)
    bands: int = 0
    rows: int = 0
    candidates: int = 0  # candidate pairs checked
    clusters: list[Cluster] = field(default_factory=list)
    tagged: int = 0

    @property
    def duplicates(self) -> int:
        """Traces beyond the keepers."""
        return sum(c.size - 1 for c in self.clusters)

    @property
    def in_clusters(self) -> int:
        return sum(c.size for c in self.clusters)

    @property
    def recall_at_threshold(self) -> float:
        return algo.s_curve(self.options.threshold, self.bands, self.rows) if self.bands else 1.0


def find(db: Database, *, selection: TraceFilter, options: Options) -> Report:
    """Cluster the selected traces (see the module docstring)."""
    report = Report(selection.describe(), options)
    if options.keep == "best-score":
        with translate_errors(db.url), db.engine.connect() as conn:
            if not score_repo.named(conn=conn, name=options.score_name or ""):
                raise InvalidInputError(
                    f"--keep best-score:{options.score_name}: no trace has a whole-trace score "
                    f"named {options.score_name} (`trace score` stores scores)"
                )
    with translate_errors(db.url), db.engine.connect() as conn:
        if options.tag is None:
            with conn.begin():
                where = select.conditions(conn=conn, selection=selection)
                new_rows = _run(conn, where, options, report)
            if new_rows:
                report.stored = _store_quietly(conn, new_rows)
            return report
        writer = writing(conn)
        with writer.begin():
            where = select.conditions(conn=writer, selection=selection)
            if chosen.remember(conn=writer, where=where):
                new_rows = _run(writer, [chosen.condition(conn=writer)], options, report)
                repo.store(conn=writer, rows=new_rows)
                pairs = [(m.id, options.tag) for c in report.clusters for m in c.members[1:]]
                tag_repo.add_pairs(conn=writer, pairs=pairs)
                report.tagged = len(pairs)
            chosen.forget(conn=writer)
    return report


def _store_quietly(conn: Connection, rows: list[dict[str, Any]]) -> bool:
    """Store new sketches in their own write transaction. A database this user cannot
    write, or a trace deleted meanwhile, only costs the cache: False."""
    writer = writing(conn)
    try:
        with writer.begin():
            repo.store(conn=writer, rows=rows)
    except (exc.IntegrityError, exc.ProgrammingError, exc.OperationalError, sqlite3.Error):
        return False
    return True


class _Scan:
    """What the pass over the selected traces collected, ordered by id."""

    def __init__(self) -> None:
        self.ids: list[str] = []  # as the database writes them (see repositories.dupes)
        self.keys: list[str] = []
        self.sigs: list[bytes] = []
        self.new_rows: list[dict[str, Any]] = []


def _scan(conn: Connection, where: Sequence[ColumnElement[bool]], near: bool) -> _Scan:
    """Read the selection once; sketch the traces without a valid stored sketch, BATCH at a
    time as they come (no payload is held longer than its batch); then order by id."""
    out = _Scan()
    pending: list[repo.Scanned] = []

    def sketch() -> None:
        idents = [uuid.UUID(r.id) for r in pending]
        folded = [
            algo.folded_parts(parse_payload(r.payload or "", ident))
            for r, ident in zip(pending, idents, strict=True)
        ]
        sigs = algo.signatures(algo.fingerprint_batch(folded)).astype("<u4") if near else None
        for k, r in enumerate(pending):
            key = algo.exact_key(folded[k])
            signature = sigs[k].tobytes() if sigs is not None else None
            out.ids.append(r.id)
            out.keys.append(key)
            out.sigs.append(signature or b"")
            out.new_rows.append(
                {
                    "trace_id": idents[k],
                    "content_hash": r.content_hash,
                    "scheme": algo.SCHEME,
                    "exact_key": key,
                    "signature": signature,
                }
            )
        pending.clear()

    for row in repo.scan(
        conn=conn,
        where=where,
        scheme=algo.SCHEME,
        signature_bytes=4 * algo.NUM_PERM if near else None,
    ):
        if row.payload is None:
            out.ids.append(row.id)
            out.keys.append(row.exact_key or "")
            out.sigs.append(row.signature or b"")
        else:
            pending.append(row)
            if len(pending) == BATCH:
                sketch()
    if pending:
        sketch()
    order = sorted(range(len(out.ids)), key=out.ids.__getitem__)
    out.ids = [out.ids[k] for k in order]
    out.keys = [out.keys[k] for k in order]
    out.sigs = [out.sigs[k] for k in order]
    return out


def _run(
    conn: Connection, where: Sequence[ColumnElement[bool]], options: Options, report: Report
) -> list[dict[str, Any]]:
    scan = _scan(conn, where, options.near)
    report.computed = len(scan.new_rows)
    report.checked = len(scan.ids)
    n = len(scan.ids)
    groups: dict[str, list[int]] = {}
    for k, key in enumerate(scan.keys):
        groups.setdefault(key, []).append(k)
    uf = algo.UnionFind(n)
    for members in groups.values():
        for k in members[1:]:
            uf.union(members[0], k)
    similarity: dict[int, dict[int, float]] = {}  # rep of a near cluster -> rep -> similarity
    if options.near:
        reps = sorted(members[0] for members in groups.values())
        similarity = _near(conn, scan, reps, uf, options, report)
    report.clusters = _clusters(conn, scan, uf.groups(), groups, similarity, options)
    return scan.new_rows


def _near(
    conn: Connection,
    scan: _Scan,
    reps: list[int],
    uf: algo.UnionFind,
    options: Options,
    report: Report,
) -> dict[int, dict[int, float]]:
    """Join near-duplicate exact groups in `uf` (by their representatives `reps`, indices
    into the scan). Returns, for each representative in a near cluster, the exact shingle
    similarity to every other representative of its cluster."""
    import numpy as np

    bands, rows = algo.choose_bands(options.threshold)
    report.bands, report.rows = bands, rows
    if len(reps) < 2:
        return {}
    sigs = np.frombuffer(b"".join(scan.sigs[k] for k in reps), dtype="<u4").reshape(
        len(reps), algo.NUM_PERM
    )
    active = np.flatnonzero((sigs != np.uint32(0xFFFFFFFF)).any(axis=1))
    keys = algo.band_keys(sigs, bands, rows)
    found = algo.candidates(keys, active)
    report.candidates = len(found.pairs) + sum(len(b) * (len(b) - 1) // 2 for b in found.big)
    involved = sorted({*found.pairs.ravel().tolist(), *(x for b in found.big for x in b.tolist())})
    if not involved:
        return {}
    folded = _folded(conn, [uuid.UUID(scan.ids[reps[i]]) for i in involved])
    batch = algo.fingerprint_batch([folded[uuid.UUID(scan.ids[reps[i]])] for i in involved])
    prints = {i: batch.of(k) for k, i in enumerate(involved)}
    local, edges = algo.join_similar(
        len(reps),
        found,
        lambda i, j: algo.sorted_jaccard(prints[i], prints[j]),
        options.threshold,
    )
    # Confirm each cluster on the shingle strings, then join the exact groups' members.
    by_root: dict[int, list[tuple[int, int]]] = {}
    for i, j, _ in edges:
        by_root.setdefault(local.find(i), []).append((i, j))
    out: dict[int, dict[int, float]] = {}
    for members in local.groups():
        strings = {i: algo.shingles(folded[uuid.UUID(scan.ids[reps[i]])]) for i in members}

        def exact(i: int, j: int, strings: dict[int, set[str]] = strings) -> float:
            return algo.jaccard(strings[i], strings[j])

        for part in algo.confirm(
            members, by_root[local.find(members[0])], exact, options.threshold
        ):
            for i in part[1:]:
                uf.union(reps[part[0]], reps[i])
            table = {reps[i]: strings[i] for i in part}
            for i in part:
                out[reps[i]] = {reps[j]: algo.jaccard(table[reps[i]], table[reps[j]]) for j in part}
    return out


def _folded(conn: Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    return {
        ident: algo.folded_parts(parse_payload(text, ident))
        for ident, text in trace_repo.payloads_of(conn=conn, ids=ids)
    }


def _clusters(
    conn: Connection,
    scan: _Scan,
    clusters: list[list[int]],
    groups: dict[str, list[int]],
    similarity: dict[int, dict[int, float]],
    options: Options,
) -> list[Cluster]:
    ident = {k: uuid.UUID(scan.ids[k]) for g in clusters for k in g}
    when = repo.created(conn=conn, ids=list(ident.values()))
    scores: dict[uuid.UUID, float] = {}
    if options.keep == "best-score" and options.score_name:
        scores = score_repo.whole(conn=conn, name=options.score_name, ids=list(ident.values()))
    rep_of = {k: members[0] for members in groups.values() for k in members}
    drafts: list[tuple[list[algo.Member], list[int]]] = []
    for g in clusters:
        by_id = {ident[k]: k for k in g}
        ranked = algo.ranked(
            (
                algo.Member(ident[k], when[ident[k]], scores.get(ident[k]))
                for k in g
                if ident[k] in when
            ),
            options.keep,
        )
        if len(ranked) > 1:
            drafts.append((ranked, [by_id[m.id] for m in ranked]))
    keeper_ids = [ranked[0].id for ranked, _ in drafts]
    prompts = {
        ident: str(parse_payload(text, ident).get("prompt", ""))
        for ident, text in trace_repo.payloads_of(conn=conn, ids=keeper_ids)
    }
    out: list[Cluster] = []
    for ranked, order in drafts:
        keeper_key = scan.keys[order[0]]
        keeper_rep = rep_of[order[0]]
        members = []
        for m, k in zip(ranked, order, strict=True):
            same = scan.keys[k] == keeper_key
            sim = 1.0 if same else similarity[keeper_rep][rep_of[k]]
            members.append(Member(m.id, m.created_at, sim, same, m.score))
        kind: Kind = "exact" if all(m.exact for m in members) else "near"
        out.append(Cluster(kind, members, prompts.get(ranked[0].id, "")))
    out.sort(key=lambda c: (-c.size, str(c.keeper.id)))
    return out
