"""Per-invocation state: the global options, settings loaded once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

from tunix_rt.cli._output import note

if TYPE_CHECKING:
    from tunix_rt.db.database import Database
    from tunix_rt.settings import Settings


@dataclass
class CliState:
    db_flag: str | None = None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            from tunix_rt.settings import load_settings

            self._settings = load_settings(self.db_flag)
        return self._settings

    @contextmanager
    def database(self, *, check_schema: bool = True) -> Iterator[Database]:
        from tunix_rt.db.database import open_database

        with open_database(self.settings(), note=note, check_schema=check_schema) as db:
            yield db


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj
