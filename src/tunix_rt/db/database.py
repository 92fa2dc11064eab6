"""The process's database handle: one engine, built once from settings, schema checked."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine

from tunix_rt.db.engine import is_sqlite, make_engine, sqlite_path, translate_errors
from tunix_rt.db.revisions import (
    HEAD,
    SchemaState,
    behind_message,
    describe_revision,
    older_tool_message,
    read_state,
)
from tunix_rt.errors import DatabaseUnavailableError, SchemaMismatchError
from tunix_rt.settings import Settings, default_database_path, sqlite_url

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
    """Stop with one line unless the SQLite file can be created or opened at its path."""
    path = sqlite_path(url)
    if path is None:  # pragma: no cover - settings refuse in-memory databases
        return
    try:
        if path.is_dir():
            raise DatabaseUnavailableError(
                f"{path} is a directory, not a SQLite database file: give a file in it, "
                f"e.g. {sqlite_url(path / 'traces.db')}"
            )
        if path.exists() and not path.is_file():
            raise DatabaseUnavailableError(
                f"{path} is not a regular file (a device, pipe or socket): give a file path"
            )
        if path.is_symlink() and not path.exists():
            raise DatabaseUnavailableError(
                f"{path} is a symbolic link to {os.readlink(path)}, which does not exist"
            )
        parent = path.parent
        try:  # os.stat, not Path.is_dir: a symlink loop must not read as "missing"
            is_dir: bool | None = stat.S_ISDIR(os.stat(parent).st_mode)
        except FileNotFoundError:
            is_dir = None
        if is_dir:
            return
        if is_dir is not None:
            raise DatabaseUnavailableError(
                f"cannot create SQLite database {path}: {parent} is not a directory"
            )
        if path != default_database_path():
            raise DatabaseUnavailableError(
                f"cannot create SQLite database {path}: directory {parent} does not exist"
            )
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # ENAMETOOLONG, EACCES on a parent, ELOOP...
        raise DatabaseUnavailableError(
            f"cannot use SQLite database {path}: {exc.strerror or exc}"
        ) from None


def _refuse_unless_migratable(state: SchemaState, url: str) -> None:
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


def ensure_schema(engine: Engine, url: str, note: Note) -> None:
    """Stop unless the schema is at head; bring a SQLite file there on the way.

    A SQLite file is personal, so it is created and migrated automatically (`note` is told
    when an existing file is migrated). A server database is shared by a team and is only
    migrated by `tunix-rt db upgrade`. Two processes opening a new file at once are
    serialised by the migration lock: the second finds the file at head.
    """
    with translate_errors(url), engine.connect() as conn:
        state = read_state(conn)
    if state.at_head:
        return
    _refuse_unless_migratable(state, url)
    from tunix_rt.db import migrate

    with translate_errors(url):
        before, _after = migrate.run(
            engine,
            "upgrade",
            "head",
            check=lambda s: _refuse_unless_migratable(s, url),
            on_wait=note,
        )
    if before.revision is not None and not before.at_head:
        path = sqlite_path(url)
        note(f"migrated {path} from {describe_revision(before.revision)} to {HEAD}")


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
