"""Scores: run a scorer over the selected traces and store its results under a name.

One transaction: the selected traces are written down first (`repositories.selected`), scored
newest first, and their rows replace what they had under that name (step -1: the whole trace).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from tunix_rt import scoring
from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors, writing
from tunix_rt.filters import TraceFilter
from tunix_rt.repositories import scores as repo
from tunix_rt.repositories import selected as chosen
from tunix_rt.repositories import traces as trace_repo
from tunix_rt.services import selection as select

BATCH = 1000


@dataclass(frozen=True)
class ScoreRun:
    """What `score_baseline` did: `scored` traces got a score named `name`."""

    name: str
    scored: int


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
                for trace in trace_repo.page(conn=conn, limit=None, after=None, where=mine):
                    result = scoring.baseline([s["content"] for s in trace.payload["steps"]])
                    details = orjson.dumps(result.details, option=orjson.OPT_SORT_KEYS).decode()
                    rows.append(repo.NewScore(trace.id, result.value, details))
                for start in range(0, len(rows), BATCH):
                    batch = rows[start : start + BATCH]
                    repo.replace(conn=conn, name=name, source="baseline", at=at, rows=batch)
                scored = len(rows)
            chosen.forget(conn=conn)
    return ScoreRun(name, scored)
