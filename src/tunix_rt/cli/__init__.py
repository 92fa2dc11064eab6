"""The `tunix-rt` command line: one Typer sub-app per noun.

Heavy modules (SQLAlchemy, the services, Alembic) are imported inside the commands that need
them, so `tunix-rt --help` only pays for Typer.
"""

from __future__ import annotations

import os
import sys

# pydantic scans every installed distribution's entry points for observability plugins the
# first time a model class is built (~10 ms per command). tunix-rt uses none; a user who
# wants one can still set PYDANTIC_DISABLE_PLUGINS explicitly.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
from typing import Annotated

import typer

from tunix_rt import __version__
from tunix_rt.cli import db as db_cli
from tunix_rt.cli import trace as trace_cli
from tunix_rt.cli._state import CliState
from tunix_rt.cli.config import config as config_command

app = typer.Typer(
    name="tunix-rt",
    help="Collect, validate and curate LLM reasoning traces for Tunix fine-tuning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(trace_cli.app, name="trace")
app.add_typer(db_cli.app, name="db")
app.command("config")(config_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tunix-rt {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="Database URL (overrides TUNIX_RT_DATABASE_URL), e.g. sqlite:///traces.db "
            "or postgresql://user@host/dbname.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Collect, validate and curate LLM reasoning traces for Tunix fine-tuning."""
    ctx.obj = CliState(db_flag=db)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:
        # The reader went away (`tunix-rt trace list --jsonl | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
