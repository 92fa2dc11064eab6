"""Scores: run a scorer over the selected traces and store its results under a name.

- `score_baseline`: one transaction; the selected traces are written down first
  (`repositories.selected`), scored newest first, and their rows replace what they had under
  that name (step -1: the whole trace).
- `score_reward`: a user's reward function (`tunix_rt.rewards`). The traces are read and
  scored first, in a read transaction, with nothing stored; only when every batch has
  succeeded are the scores written, in one short write transaction (a slow function never
  holds the database's write lock). A failing function stores nothing. Traces deleted while
  it ran are left out.
- `set_scores`: a human label, one value for the given traces (or one step of each).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from tunix_rt import rewards, scoring
from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors, writing
from tunix_rt.errors import InvalidInputError
from tunix_rt.filters import TraceFilter
from tunix_rt.formats._text import Options, parse
from tunix_rt.records import parse_payload
from tunix_rt.repositories import raw as raw_repo
from tunix_rt.repositories import scores as repo
from tunix_rt.repositories import selected as chosen
from tunix_rt.repositories import traces as trace_repo
from tunix_rt.services import selection as select

BATCH = 1000
MAX_STEP = 2**31 - 1  # the step column is a 32-bit integer on PostgreSQL
HUMAN = "human"


@dataclass(frozen=True)
class ScoreRun:
    """What a scoring run did: `scored` traces got a score named `name` (`values` scores in
    all: more than `scored` per step); `vanished` traces were deleted while it ran."""

    name: str
    scored: int
    values: int = 0
    vanished: int = 0
    stats: dict[str, float] | None = None  # mean, min and max of the stored values


def score_baseline(db: Database, selection: TraceFilter, *, name: str = "baseline") -> ScoreRun:
    """Give every selected trace the original baseline score (`scoring.baseline`)."""
    at = datetime.now(UTC)
    scored = 0
    with translate_errors(db.url), db.engine.connect() as plain:
        conn = writing(plain)
        with conn.begin():
            where = select.conditions(conn=conn, selection=selection)
            if chosen.remember(conn=conn, where=where):
                mine = [chosen.condition(conn=conn)]
                rows: list[repo.NewScore] = []
                found, make = raw_repo.sources(conn=conn, where=mine)
                with closing(found):
                    for source in found:
                        row = make(source)
                        ident = uuid.UUID(row.id)
                        steps = parse_payload(row.payload, ident)["steps"]
                        result = scoring.baseline([s["content"] for s in steps])
                        details = orjson.dumps(result.details, option=orjson.OPT_SORT_KEYS)
                        rows.append(repo.NewScore(ident, result.value, details.decode()))
                repo.replace(conn=conn, name=name, source="baseline", at=at, rows=rows)
                scored = len(rows)
            chosen.forget(conn=conn)
    return ScoreRun(name, scored, scored)


def score_reward(
    db: Database,
    selection: TraceFilter,
    reward: rewards.Reward,
    *,
    name: str,
    batch_size: int = rewards.DEFAULT_BATCH,
    per_step: bool = False,
) -> ScoreRun:
    """Score the selected traces with `reward` (whole traces, or each step with `per_step`)
    and store the scores under `name`; nothing is stored when any call fails."""
    found: list[tuple[str, int, float]] = []  # (trace id, step or -1, value)
    traces = 0

    def run(batch: rewards.Batch) -> None:
        values = rewards.call(reward, batch)
        found.extend((ident, step, v) for (ident, step), v in zip(batch.items, values, strict=True))

    with translate_errors(db.url), db.engine.connect() as conn:
        raw_repo.snapshot(conn)
        with conn.begin():
            where = select.conditions(conn=conn, selection=selection)
            rows, make = raw_repo.sources(conn=conn, where=where)
            with closing(rows):
                batch = rewards.Batch()
                for source in rows:
                    t = parse(make(source), Options())
                    if per_step:
                        _check_steps(t.id, [s["i"] for s in t.steps])
                    batch.add(t, per_step=per_step)
                    traces += 1
                    if len(batch) >= batch_size:
                        run(batch)
                        batch = rewards.Batch()
                if len(batch):
                    run(batch)
    return _store(db, found, name=name, source=reward.spec, traces=traces)


def _check_steps(ident: str, numbers: Sequence[int]) -> None:
    for i in numbers:
        if i > MAX_STEP:
            raise InvalidInputError(
                f"trace {ident} has step {i}: per-step scores need step numbers <= {MAX_STEP}"
            )


def _store(
    db: Database, found: list[tuple[str, int, float]], *, name: str, source: str, traces: int
) -> ScoreRun:
    at = datetime.now(UTC)
    by_step: dict[int, list[repo.NewScore]] = {}
    for ident, step, value in found:
        by_step.setdefault(step, []).append(repo.NewScore(uuid.UUID(ident), value, None))
    vanished: set[uuid.UUID] = set()
    with translate_errors(db.url), db.engine.connect() as plain:
        conn = writing(plain)
        with conn.begin():
            ids = list(dict.fromkeys(uuid.UUID(ident) for ident, _, _ in found))
            vanished.update(trace_repo.missing_ids(conn=conn, ids=ids))
            for step, rows in sorted(by_step.items()):
                keep = [r for r in rows if r.trace_id not in vanished] if vanished else rows
                for start in range(0, len(keep), BATCH):
                    repo.replace(
                        conn=conn,
                        name=name,
                        source=source,
                        at=at,
                        rows=keep[start : start + BATCH],
                        step=step,
                    )
    kept = [v for ident, _, v in found if not vanished or uuid.UUID(ident) not in vanished]
    stats = None
    if kept:
        count = len(kept)  # each value / count first: a sum of huge values would overflow
        mean = math.fsum(v / count for v in kept)
        stats = {"mean": mean, "min": min(kept), "max": max(kept)}
    return ScoreRun(name, traces - len(vanished), len(kept), len(vanished), stats)


def set_scores(
    db: Database, given: Sequence[str], *, name: str, value: float, step: int | None = None
) -> ScoreRun:
    """Record `value` under `name` for the traces `given` (ids or unique prefixes), for the
    whole trace, or for its step numbered `step`; every id must exist (and have that step)."""
    at = datetime.now(UTC)
    with translate_errors(db.url), db.engine.connect() as plain:
        conn = writing(plain)
        with conn.begin():
            ids = select.resolve_ids(conn=conn, given=given)
            if step is not None:
                for ident, payload in trace_repo.payloads_of(conn=conn, ids=ids):
                    numbers = {s["i"] for s in orjson.loads(payload)["steps"]}
                    if step not in numbers:
                        raise InvalidInputError(
                            f"trace {ident} has no step {step} (its steps: "
                            f"{_ranges(sorted(numbers))})"
                        )
            rows = [repo.NewScore(i, value, None) for i in ids]
            repo.replace(
                conn=conn,
                name=name,
                source=HUMAN,
                at=at,
                rows=rows,
                step=repo.WHOLE_TRACE if step is None else step,
            )
    return ScoreRun(name, len(ids), len(ids))


def _ranges(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
