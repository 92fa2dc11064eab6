"""The process's database handle: one engine, built once from settings, schema checked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine

from tunix_rt.db.engine import is_sqlite, make_engine, sqlite_path, translate_errors
from tunix_rt.db.revisions import (
    HEAD,
    behind_message,
    describe_revision,
    older_tool_message,
    read_state,
)
from tunix_rt.errors import DatabaseUnavailableError, SchemaMismatchError
from tunix_rt.settings import Settings, default_database_path

Note = Callable[[str], None]


@dataclass
class Database:
    settings: Settings
    engine: Engine
    note: Note = lambda _message: None  # tells the user something worth knowing (a wait)

    @property
    def url(self) -> str:
        return self.settings.database_url


def _prepare_sqlite_file(url: str) -> None:
    path = sqlite_path(url)
    if path is None:
        return
    if path.parent.is_dir():
        return
    if path == default_database_path():
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        raise DatabaseUnavailableError(
            f"cannot create SQLite database {path}: directory {path.parent} does not exist"
        )


def ensure_schema(engine: Engine, url: str, note: Note) -> None:
    """Stop unless the schema is at head; bring a SQLite file there on the way.

    A SQLite file is personal, so it is created and migrated automatically (`note` is told
    when an existing file is migrated). A server database is shared by a team and is only
    migrated by `tunix-rt db upgrade`.
    """
    with translate_errors(url), engine.connect() as conn:
        state = read_state(conn)
    if state.at_head:
        return
    if state.revision is None and state.has_traces_table:
        raise SchemaMismatchError(
            "database has a traces table but no schema version (alembic_version): "
            "run `tunix-rt db doctor`"
        )
    if not state.known:
        raise SchemaMismatchError(older_tool_message(state.revision))
    if not is_sqlite(url):
        raise SchemaMismatchError(behind_message(state.revision))
    from tunix_rt.db import migrate

    with translate_errors(url):
        migrate.upgrade(engine, "head")
    if state.revision is not None or state.has_traces_table:
        path = sqlite_path(url)
        note(f"migrated {path} from {describe_revision(state.revision)} to {HEAD}")


@contextmanager
def open_database(
    settings: Settings, *, note: Note, check_schema: bool = True
) -> Iterator[Database]:
    """The engine for one command; the schema is brought to (or checked at) head first."""
    url = settings.database_url
    if is_sqlite(url):
        _prepare_sqlite_file(url)
    engine = make_engine(settings)
    try:
        if check_schema:
            ensure_schema(engine, url, note)
        yield Database(settings, engine, note)
    finally:
        engine.dispose()
