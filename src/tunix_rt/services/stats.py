"""`trace stats`: summaries of the selected traces, overall and by a grouping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson

from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors
from tunix_rt.filters import TraceFilter
from tunix_rt.repositories import stats as repo
from tunix_rt.services import selection as select
from tunix_rt.stats import NONE_GROUP, Accumulator, Summary

GroupKind = Literal["version", "tag", "meta"]


@dataclass(frozen=True)
class GroupBy:
    kind: GroupKind
    meta_key: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"meta.{'.'.join(self.meta_key)}" if self.kind == "meta" else self.kind


@dataclass(frozen=True)
class StatsResult:
    selection: str
    summary: Summary
    tags: list[tuple[str, int]]
    tagged: int
    meta_key: tuple[str, ...] | None
    by: GroupBy | None
    groups: list[tuple[str, Summary]]


def _group_keys(by: GroupBy, payload: dict[str, object], tags: list[str] | None) -> list[str]:
    if by.kind == "version":
        return [str(payload.get("trace_version", ""))]
    if by.kind == "tag":
        return sorted(tags) if tags else [NONE_GROUP]
    value: object = payload.get("meta")
    for key in by.meta_key:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return [NONE_GROUP]
    values = value if isinstance(value, list) else [value]
    return [v if isinstance(v, str) else orjson.dumps(v).decode() for v in values] or [NONE_GROUP]


def compute(
    db: Database,
    *,
    selection: TraceFilter,
    meta_key: tuple[str, ...] | None = None,
    by: GroupBy | None = None,
) -> StatsResult:
    overall = Accumulator(meta_key=meta_key)
    groups: dict[str, Accumulator] = {}
    with translate_errors(db.url), db.engine.connect() as conn:
        where = select.conditions(conn=conn, selection=selection)
        if by is None:
            add = overall.add
            for text in repo.payload_texts(conn=conn, where=where):
                add(orjson.loads(text))
        else:
            tags_of = repo.tags_by_trace(conn=conn, where=where) if by.kind == "tag" else {}
            for trace_id, text in repo.ids_and_payload_texts(conn=conn, where=where):
                payload = orjson.loads(text)
                overall.add(payload)
                for key in _group_keys(by, payload, tags_of.get(trace_id)):
                    groups.setdefault(key, Accumulator()).add(payload)
        tags = repo.tag_counts(conn=conn, where=where)
        tagged = repo.tagged_count(conn=conn, where=where) if tags else 0
    ranked = sorted(groups.items(), key=lambda item: (-item[1].count, item[0]))
    return StatsResult(
        selection=selection.describe(),
        summary=overall.summary(),
        tags=tags,
        tagged=tagged,
        meta_key=meta_key,
        by=by,
        groups=[(key, acc.summary()) for key, acc in ranked],
    )
