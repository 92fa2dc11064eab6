"""Schema maintenance use cases behind `tunix-rt db ...`."""

from __future__ import annotations

from dataclasses import dataclass

from tunix_rt.db import migrate
from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors
from tunix_rt.db.revisions import HEAD, SchemaState, older_tool_message, read_state
from tunix_rt.errors import SchemaMismatchError, TunixRtError


@dataclass(frozen=True)
class Change:
    before: str | None
    after: str | None


def state(db: Database) -> SchemaState:
    with translate_errors(db.url), db.engine.connect() as conn:
        return read_state(conn)


def _change(db: Database, action: str, revision: str) -> Change:
    from alembic.util import CommandError

    before = state(db)
    if not before.known:
        raise SchemaMismatchError(older_tool_message(before.revision))
    try:
        with translate_errors(db.url):
            if action == "upgrade":
                migrate.upgrade(db.engine, revision)
            else:
                migrate.downgrade(db.engine, revision)
    except CommandError as exc:
        raise TunixRtError(f"cannot {action} to {revision}: {exc}") from None
    return Change(before.revision, state(db).revision)


def upgrade(db: Database, revision: str = "head") -> Change:
    return _change(db, "upgrade", revision)


def downgrade(db: Database, revision: str = "-1") -> Change:
    if state(db).revision is None:
        raise TunixRtError("database schema is already at base (empty): nothing to downgrade")
    return _change(db, "downgrade", revision)


def history(db: Database | None) -> list[migrate.RevisionInfo]:
    current = state(db).revision if db is not None else None
    return migrate.history(current)


__all__ = ["HEAD", "Change", "downgrade", "history", "state", "upgrade"]
