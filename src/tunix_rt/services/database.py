"""The process's database handle: one engine, built once from settings, schema checked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine

from tunix_rt.db.engine import is_sqlite, make_engine, sqlite_path
from tunix_rt.db.revisions import ensure_schema
from tunix_rt.errors import DatabaseUnavailableError
from tunix_rt.settings import Settings, default_database_path

Note = Callable[[str], None]


@dataclass
class Database:
    settings: Settings
    engine: Engine

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
        yield Database(settings, engine)
    finally:
        engine.dispose()
