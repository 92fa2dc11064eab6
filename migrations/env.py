"""Alembic environment for tunix-rt.

tunix-rt passes an open connection in `config.attributes["connection"]`. When Alembic is run
by hand from a checkout (`alembic upgrade head`, `alembic check`), the URL comes from
tunix-rt's own settings, so both paths see the same database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import tunix_rt.models  # registers the tables on SQLModel.metadata

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        include_name=tunix_rt.models.include_in_comparison,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=True,
        include_name=tunix_rt.models.include_in_comparison,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from tunix_rt.db.engine import make_engine, writing
    from tunix_rt.settings import load_settings

    engine = make_engine(load_settings(config.get_main_option("sqlalchemy.url")))
    with engine.connect() as conn:
        _configure(writing(conn))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
