"""Full-text search over prompt, steps and final answer (placeholder until the index lands)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection

from tunix_rt.errors import TunixRtError
from tunix_rt.filters import SearchQuery


def condition(*, conn: Connection, query: SearchQuery) -> ColumnElement[bool]:
    raise TunixRtError("search (-q) is not available in this build yet")
