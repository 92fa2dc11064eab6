"""`tunix-rt config`: the effective settings and where each one came from."""

from __future__ import annotations

from typing import Annotated

import typer

from tunix_rt.cli._output import handle_errors, literal_text, stdout, write_json
from tunix_rt.cli._state import state


@handle_errors
def config(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the effective settings, their sources and the default SQLite file."""
    from tunix_rt.settings import ENV_PREFIX, default_database_path, mask_url, setting_sources

    cli_state = state(ctx)
    settings = cli_state.settings()
    sources = setting_sources(cli_state.db_flag)
    values = settings.model_dump()
    values["database_url"] = mask_url(settings.database_url)
    rows = [
        {"name": ENV_PREFIX + name.upper(), "value": values[name], "source": sources[name]}
        for name in values
    ]
    if as_json:
        write_json({"settings": rows, "default_sqlite_path": str(default_database_path())})
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("setting", "value", "source"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], literal_text(str(row["value"])), row["source"])
    stdout().print(table)
    stdout().print(literal_text(f"default SQLite file: {default_database_path()}"))
