"""Schema maintenance use cases behind `tunix-rt db ...`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunix_rt.db import migrate
from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors
from tunix_rt.db.revisions import HEAD, SchemaState, older_tool_message, read_state
from tunix_rt.errors import SchemaMismatchError, TunixRtError

Wait = Callable[[], None]


@dataclass(frozen=True)
class Change:
    before: str | None
    after: str | None


def state(db: Database) -> SchemaState:
    with translate_errors(db.url), db.engine.connect() as conn:
        return read_state(conn)


def _change(db: Database, action: str, revision: str, on_wait: Wait | None) -> Change:
    """Run Alembic under the migration lock; `before` is read once the lock is held."""
    from alembic.util import CommandError

    def check(before: SchemaState) -> None:
        if not before.known:
            raise SchemaMismatchError(older_tool_message(before.revision))
        if action == "downgrade" and before.revision is None:
            raise TunixRtError("database schema is already at base (empty): nothing to downgrade")

    try:
        with translate_errors(db.url):
            before, after = migrate.run(db.engine, action, revision, check=check, on_wait=on_wait)
    except CommandError as exc:
        raise TunixRtError(f"cannot {action} to {revision}: {exc}") from None
    return Change(before.revision, after.revision)


def upgrade(db: Database, revision: str = "head", *, on_wait: Wait | None = None) -> Change:
    return _change(db, "upgrade", revision, on_wait)


def downgrade(db: Database, revision: str = "-1", *, on_wait: Wait | None = None) -> Change:
    return _change(db, "downgrade", revision, on_wait)


def history(db: Database | None) -> list[migrate.RevisionInfo]:
    current = state(db).revision if db is not None else None
    return migrate.history(current)


__all__ = ["HEAD", "Change", "downgrade", "history", "state", "upgrade"]
