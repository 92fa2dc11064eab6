"""store payload as canonical JSON text

Revision ID: bfd47cbe5af2
Revises: 81321f8ddcd5
Create Date: 2026-11-26 05:42:46.000792

`traces.payload` becomes TEXT holding exactly the canonical JSON its content_hash was computed
on (sorted keys, no whitespace, UTF-8, as orjson writes it), on SQLite and PostgreSQL. JSONB
rewrote numbers (`-0.0` became `0`, `1e+16` became `10000000000000000`), so a stored trace no
longer re-hashed to its content_hash and copying a database failed.

Upgrade: the column changes type (PostgreSQL: `payload::text`; SQLite: batch mode copies the
table), then every payload is parsed and written back canonically. When the canonical form
of what JSONB kept no longer matches the content_hash, the numbers JSONB is known to rewrite
are restored (integers of 1e16 and more back to floats, 0.0 back to -0.0) if that gives the
hash back; otherwise the row keeps the canonical form of what JSONB kept and
`tunix-rt db doctor --deep` reports it. Downgrade: back to JSONB (`payload::jsonb`) / JSON.
"""

import hashlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = 'bfd47cbe5af2'
down_revision: str | None = '81321f8ddcd5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
_BATCH = 1000


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _map_numbers(value: Any, big_ints: bool, zeros: bool) -> Any:
    if isinstance(value, dict):
        return {k: _map_numbers(v, big_ints, zeros) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_numbers(v, big_ints, zeros) for v in value]
    if big_ints and isinstance(value, int) and not isinstance(value, bool):
        return float(value) if abs(value) >= 10**16 else value
    if zeros and isinstance(value, float) and value == 0.0:
        return -0.0
    return value


def _restored(stored: str, digest: str) -> tuple[str, bool]:
    """The canonical text of a stored payload, and whether it hashes to `digest`."""
    try:
        value = orjson.loads(stored)
    except orjson.JSONDecodeError:  # damaged outside tunix-rt (SQLite): left as it is
        return stored, False
    first = _canonical(value)
    if hashlib.sha256(first).hexdigest() == digest:
        return first.decode(), True
    for big_ints, zeros in ((True, False), (False, True), (True, True)):
        candidate = _canonical(_map_numbers(value, big_ints, zeros))
        if hashlib.sha256(candidate).hexdigest() == digest:
            return candidate.decode(), True
    return first.decode(), False


def _rows(conn: sa.Connection) -> Iterator[list[tuple[Any, str, str]]]:
    traces = sa.table("traces", sa.column("id"), sa.column("content_hash"), sa.column("payload"))
    last = None
    while True:
        query = sa.select(traces.c.id, traces.c.content_hash, traces.c.payload)
        if last is not None:
            query = query.where(traces.c.id > last)
        rows = conn.execute(query.order_by(traces.c.id).limit(_BATCH)).all()
        if not rows:
            return
        last = rows[-1][0]
        yield [(r[0], r[1], r[2]) for r in rows]


def _canonicalise(conn: sa.Connection) -> None:
    update = sa.text("UPDATE traces SET payload = :payload WHERE id = :id")
    unmatched = 0
    for rows in _rows(conn):
        changed = []
        for ident, digest, stored in rows:
            text, matches = _restored(stored, digest)
            unmatched += not matches
            if text != stored:
                changed.append({"id": ident, "payload": text})
        if changed:
            conn.execute(update, changed)
    if unmatched:
        log.warning(
            "%d stored payloads do not hash to their content_hash (JSONB rewrote them beyond "
            "repair): `tunix-rt db doctor --deep` lists them",
            unmatched,
        )


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.alter_column('traces', 'payload',
               existing_type=postgresql.JSONB(astext_type=sa.Text()),
               type_=sa.Text(),
               existing_nullable=False,
               postgresql_using='payload::text')
    else:
        with op.batch_alter_table('traces', schema=None) as batch_op:
            batch_op.alter_column('payload',
                   existing_type=sa.JSON(),
                   type_=sa.Text(),
                   existing_nullable=False)
    _canonicalise(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.alter_column('traces', 'payload',
               existing_type=sa.Text(),
               type_=postgresql.JSONB(astext_type=sa.Text()),
               existing_nullable=False,
               postgresql_using='payload::jsonb')
    else:
        with op.batch_alter_table('traces', schema=None) as batch_op:
            batch_op.alter_column('payload',
                   existing_type=sa.Text(),
                   type_=sa.JSON(),
                   existing_nullable=False)
