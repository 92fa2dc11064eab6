"""Space in a SQLite file: what deleting left free, VACUUM to give it back, the page cache.

These run on the driver connection outside any transaction (VACUUM cannot run inside one,
and SQLAlchemy would begin one for a statement it sends).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from sqlalchemy import Connection


def _driver(conn: Connection) -> Any:
    return conn.connection.dbapi_connection


def set_cache(*, conn: Connection, kib: int) -> None:
    """Let this connection's page cache grow to `kib` KiB (a bound, not an allocation)."""
    _driver(conn).execute(f"PRAGMA cache_size = -{int(kib)}")


def free_bytes(*, conn: Connection) -> int:
    """Bytes of the file held by free pages (reused by new data; VACUUM returns them)."""
    raw = _driver(conn)
    free = raw.execute("PRAGMA freelist_count").fetchone()[0]
    page = raw.execute("PRAGMA page_size").fetchone()[0]
    return int(free) * int(page)


def vacuum(*, conn: Connection) -> None:
    """Rebuild the file without its free pages, then fold the write-ahead log back into it
    (in WAL mode the smaller file only appears after a checkpoint)."""
    raw = _driver(conn)
    raw.execute("VACUUM")
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def file_bytes(path: Path | None) -> int:
    """The size of the database file and its write-ahead log (0 for an in-memory one)."""
    if path is None:
        return 0
    total = 0
    for candidate in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += candidate.stat().st_size
    return total
