"""SQLModel tables.

`traces` holds one row per distinct trace. `created_at` is stored in UTC; SQLite has no
timezone-aware type, so `UTCDateTime` attaches UTC on the way out and converts on the way in,
which keeps ordering and cursors identical on both databases. The single composite index
`ix_traces_created_at` on (created_at, id) serves both "newest first" and keyset pagination;
a separate one-column index would be a strict prefix of it and only slow every insert down.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware datetime that is always UTC, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class PayloadText(sa.TypeDecorator[str]):
    """The payload as TEXT holding its canonical JSON, byte for byte, on every database.

    Canonical JSON (sorted keys, no whitespace, UTF-8, as orjson writes it) is what the
    content hash is computed on, so storing exactly those bytes makes a stored trace read back
    and re-hash identically whatever numbers it holds: JSONB would rewrite `-0.0` as `0` and
    `1e+16` as `10000000000000000`. Readers parse the text with orjson (see
    `records.parse_payload`); JSON functions still work on it (`json_extract(payload, ...)`
    on SQLite, `payload::jsonb` on PostgreSQL).

    The bulk path writes the canonical bytes itself; a dict bound through SQLAlchemy (the
    doctor's write probe) is serialised canonically here.
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


class Trace(SQLModel, table=True):
    """A stored reasoning trace."""

    __tablename__ = "traces"
    __table_args__ = (sa.Index("ix_traces_created_at", "created_at", "id"),)

    id: uuid.UUID = Field(primary_key=True)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    trace_version: str = Field(max_length=64, nullable=False)
    content_hash: str = Field(max_length=64, nullable=False, unique=True)
    payload: str = Field(sa_type=PayloadText, nullable=False)


class TraceTag(SQLModel, table=True):
    """A curation label on a trace: mutable, never part of its content or hash.

    Deleting a trace deletes its tags (ON DELETE CASCADE; SQLite enforces it because every
    connection turns `foreign_keys` on). `ix_trace_tags_tag` serves `--tag T` and `trace tags`.
    """

    __tablename__ = "trace_tags"
    __table_args__ = (sa.Index("ix_trace_tags_tag", "tag", "trace_id"),)

    trace_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid(),
            sa.ForeignKey("traces.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    tag: str = Field(max_length=64, primary_key=True)


class TraceSearch(SQLModel, table=True):
    """The searchable text of a trace, kept by `repositories/search.py`.

    `body` is the prompt, the step contents (ascending `i`) and the final answer, each folded
    (`filters.fold`) and joined by U+001F. Rows are added lazily, before each search, never
    by an upload. `doc_id` is an INTEGER PRIMARY KEY so that on SQLite it is the rowid the
    FTS5 index (`trace_search_fts`, external content) is keyed on, and stays put under
    VACUUM. Deleting a trace deletes its row (ON DELETE CASCADE) and, on SQLite, a trigger
    takes it out of the FTS5 index.
    """

    __tablename__ = "trace_search"

    doc_id: int | None = Field(default=None, primary_key=True)
    trace_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid(),
            sa.ForeignKey("traces.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        )
    )
    body: str = Field(sa_type=sa.Text, nullable=False)


# Objects of the search index that the models do not describe, created by its migration:
# SQLite's FTS5 table `trace_search_fts` (a virtual table, and its shadow tables
# `trace_search_fts_*`), the catch-up watermark `trace_search_state` (SQLite), and
# PostgreSQL's trigram index `ix_trace_search_body_trgm` (GIN, gin_trgm_ops).
SEARCH_INDEX_OBJECTS = ("trace_search_fts", "trace_search_state", "ix_trace_search_body_trgm")


def include_in_comparison(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's `include_name` hook: leave the search index's own objects out of
    model-vs-database comparisons (`alembic check`, autogenerate, `db doctor`)."""
    if name is None or type_ not in ("table", "index"):
        return True
    return not any(name == obj or name.startswith(obj + "_") for obj in SEARCH_INDEX_OBJECTS)


class TraceSketch(SQLModel, table=True):
    """What `trace dupes` computed for a trace, so a store it checked is not checked again.

    Keyed by trace id and valid for the `content_hash` and `scheme` it was computed with
    (`tunix_rt.dupes.SCHEME`); a row that matches neither is computed again and replaced.
    `exact_key` is the SHA-256 of the normalised content (exact duplicates share it);
    `signature` the MinHash (128 little-endian uint32), NULL until `--near` first needs it.
    Deleting a trace deletes its row (ON DELETE CASCADE).
    """

    __tablename__ = "trace_sketches"

    trace_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid(),
            sa.ForeignKey("traces.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    content_hash: str = Field(max_length=64, nullable=False)
    scheme: str = Field(max_length=32, nullable=False)
    exact_key: str = Field(max_length=64, nullable=False)
    signature: bytes | None = Field(default=None, sa_type=sa.LargeBinary, nullable=True)


class Dataset(SQLModel, table=True):
    """A frozen dataset: which traces (by id and content hash) are in which split.

    One row per (name, version); `dataset build` never replaces one (see `dataset/`).
    `filter` is the selection in words, `ratios` the splits as `train=0.9,test=0.1` (the
    order assignment uses), `pick` `latest` or `random`.
    """

    __tablename__ = "datasets"
    __table_args__ = (sa.UniqueConstraint("name", "version", name="uq_datasets_name_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, nullable=False)
    version: int = Field(nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    filter: str = Field(sa_type=sa.Text, nullable=False)
    seed: int = Field(sa_type=sa.BigInteger, nullable=False)
    pick: str = Field(max_length=16, nullable=False)
    limit: int | None = Field(default=None, nullable=True)
    ratios: str = Field(max_length=512, nullable=False)
    tool_version: str = Field(max_length=64, nullable=False)
    # Exact duplicates (as `trace dupes`) the build dropped; NULL: kept (--keep-duplicates)
    duplicates_dropped: int | None = Field(default=None, nullable=True)


class DatasetTrace(SQLModel, table=True):
    """A trace in a frozen dataset: its content hash at build time and its split.

    Deleting the dataset deletes its rows. Deleting a trace that a dataset holds is refused by
    `trace delete` unless `--force` (`services.delete.held_by_datasets`). `trace_id` has no
    foreign key on purpose: a forced delete leaves the row, so the dataset still says what
    it held and `dataset export` refuses, naming the missing traces, instead of silently
    exporting fewer.
    """

    __tablename__ = "dataset_traces"
    __table_args__ = (sa.Index("ix_dataset_traces_trace_id", "trace_id"),)

    dataset_id: int = Field(
        sa_column=sa.Column(
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    trace_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid(), primary_key=True))
    content_hash: str = Field(max_length=64, nullable=False)
    split: str = Field(max_length=64, nullable=False)


class TraceScore(SQLModel, table=True):
    """A named score on a trace (`trace score`): a number, its details and where it came from.

    One row per (trace, name, step); `step` is -1 for a score of the whole trace, else the
    step's number (its `i`). Scoring again under the same name replaces the row. `details` is
    canonical JSON text or NULL; `source` says which function or person gave it
    (`baseline`, `module:function`, `human`). Deleting a trace deletes its scores
    (ON DELETE CASCADE). `ix_trace_scores_name` serves `--score NAME>=X`.
    """

    __tablename__ = "trace_scores"
    __table_args__ = (sa.Index("ix_trace_scores_name", "name", "value", "trace_id"),)

    trace_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid(),
            sa.ForeignKey("traces.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    name: str = Field(max_length=64, primary_key=True)
    step: int = Field(primary_key=True)
    value: float = Field(sa_type=sa.Float, nullable=False)
    details: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    source: str = Field(max_length=512, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
