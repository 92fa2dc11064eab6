"""Schema maintenance use cases behind `tunix-rt db ...`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunix_rt.db import migrate
from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors
from tunix_rt.db.revisions import (
    HEAD,
    SchemaState,
    describe_revision,
    older_tool_message,
    read_state,
)
from tunix_rt.errors import SchemaMismatchError, TunixRtError

Wait = Callable[[str], None]


@dataclass(frozen=True)
class Change:
    before: str | None
    after: str | None


def state(db: Database) -> SchemaState:
    with translate_errors(db.url), db.engine.connect() as conn:
        return read_state(conn)


_UNCHECKED = "\0unchecked"  # not a revision: downgrade whatever the schema is at


def _change(
    db: Database, action: str, revision: str, on_wait: Wait | None, expected: str | None
) -> Change:
    """Run Alembic under the migration lock; `before` is read once the lock is held.

    `expected` is the revision the user agreed to change (a downgrade's confirmation): if
    another process moved the schema while this one waited for the lock, nothing is done.
    """
    from alembic.util import CommandError

    def check(before: SchemaState) -> None:
        if not before.known:
            raise SchemaMismatchError(older_tool_message(before.revision))
        if expected not in (_UNCHECKED, before.revision):
            raise TunixRtError(
                f"the database schema changed while this command waited: it is now at "
                f"{describe_revision(before.revision)}, not {describe_revision(expected)}; "
                "nothing changed: run the command again"
            )
        if action == "downgrade" and before.revision is None:
            raise TunixRtError("database schema is already at base (empty): nothing to downgrade")

    try:
        with translate_errors(db.url):
            before, after = migrate.run(db.engine, action, revision, check=check, on_wait=on_wait)
    except (CommandError, AssertionError, KeyError, ValueError) as exc:
        # Alembic answers some malformed targets ('', 'head+1', '@') with a bare assertion
        reason = str(exc) or "Alembic cannot resolve this revision"
        shown = revision if revision.strip() else repr(revision)
        raise TunixRtError(
            f"cannot {action} to {shown}: {reason} (see `tunix-rt db history`)"
        ) from None
    return Change(before.revision, after.revision)


def upgrade(db: Database, revision: str = "head", *, on_wait: Wait | None = None) -> Change:
    return _change(db, "upgrade", revision, on_wait, _UNCHECKED)


def downgrade(
    db: Database,
    revision: str = "-1",
    *,
    on_wait: Wait | None = None,
    expected: str | None = _UNCHECKED,
) -> Change:
    """Downgrade; with `expected`, only if the schema is still at that revision."""
    return _change(db, "downgrade", revision, on_wait, expected)


def history(db: Database | None) -> list[migrate.RevisionInfo]:
    current = state(db).revision if db is not None else None
    return migrate.history(current)


__all__ = ["HEAD", "Change", "downgrade", "history", "state", "upgrade"]
