"""`tunix-rt db ...`: maintain the database schema with Alembic."""

from __future__ import annotations

from typing import Annotated

import typer

from tunix_rt.cli._options import JsonFlag
from tunix_rt.cli._output import (
    fail,
    handle_errors,
    note,
    say,
    stderr,
    stdout,
    write_json,
    write_line,
)
from tunix_rt.cli._state import state

app = typer.Typer(help="Maintain the database: migrations and diagnostics.", no_args_is_help=True)


def _rev(revision: str | None) -> str:
    return revision if revision is not None else "base (empty)"


@app.command()
@handle_errors
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from tunix_rt.services import migrations

    with state(ctx).database(check_schema=False) as db:
        change = migrations.upgrade(db, revision, on_wait=note)
    if change.before == change.after:
        say(f"already at {_rev(change.after)}: nothing to do")
    else:
        say(f"upgraded {_rev(change.before)} -> {_rev(change.after)}")


@app.command()
@handle_errors
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision (default: one step).")] = "-1",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Revert migrations down to REVISION (default: one step). May drop data."""
    from tunix_rt.services import migrations

    with state(ctx).database(check_schema=False) as db:
        current = migrations.state(db).revision
        if not yes and not typer.confirm(
            f"Downgrade the database from {_rev(current)} to {revision}? "
            "Data in dropped tables is lost.",
            err=True,
        ):
            raise fail("aborted: nothing changed")
        change = migrations.downgrade(db, revision, on_wait=note, expected=current)
    say(f"downgraded {_rev(change.before)} -> {_rev(change.after)}")


@app.command()
@handle_errors
def current(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show the database's schema revision and whether it is at head."""
    from tunix_rt.services import migrations

    with state(ctx).database(check_schema=False) as db:
        schema = migrations.state(db)
    if as_json:
        write_json(
            {"revision": schema.revision, "head": migrations.HEAD, "at_head": schema.at_head}
        )
        return
    if schema.at_head:
        write_line(f"{schema.revision} (head)")
    elif not schema.known:
        write_line(f"{schema.revision} (unknown: newer than this tunix-rt)")
    else:
        write_line(f"{_rev(schema.revision)} (behind head {migrations.HEAD})")


@app.command()
@handle_errors
def history(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List every migration, newest first, marking head and the database's current one."""
    from rich.table import Table

    from tunix_rt.services import migrations

    with state(ctx).database(check_schema=False) as db:
        revisions = migrations.history(db)
    if as_json:
        write_json(
            [
                {
                    "revision": r.revision,
                    "down_revision": r.down_revision,
                    "message": r.message,
                    "head": r.is_head,
                    "current": r.is_current,
                }
                for r in revisions
            ]
        )
        return
    table = Table(box=None, header_style="bold")
    for name in ("revision", "down", "message", ""):
        table.add_column(name)
    for r in revisions:
        marks = ", ".join(m for m, on in (("head", r.is_head), ("current", r.is_current)) if on)
        table.add_row(r.revision, r.down_revision or "-", r.message, marks)
    stdout().print(table)


_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red", "skipped": "dim"}


@app.command()
@handle_errors
def doctor(
    ctx: typer.Context,
    deep: Annotated[
        bool, typer.Option("--deep", help="Re-validate every stored trace, not a sample.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Diagnose the setup: settings, connection, server, migrations, schema, access, data.

    Exit code 0 when nothing failed (warnings allowed), 1 otherwise.
    """
    import sys

    from tunix_rt.cli._output import literal_text
    from tunix_rt.services import doctor as service

    flag = state(ctx).db_flag
    show_progress = deep and sys.stderr.isatty() and not as_json
    if show_progress:
        from rich.progress import Progress

        with Progress(console=stderr(), transient=True) as bar:
            task = bar.add_task("re-validating traces", total=None)
            checks = service.run(
                flag,
                deep=deep,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    else:
        checks = service.run(flag, deep=deep)
    ok = not any(c.status == "fail" for c in checks)
    if as_json:
        write_json({"ok": ok, "checks": [c.as_dict() for c in checks]})
    else:
        from rich.table import Table

        table = Table(header_style="bold", expand=True)
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("detail", ratio=3, overflow="fold")
        table.add_column("fix", ratio=2, overflow="fold")
        for c in checks:
            table.add_row(
                c.name,
                literal_text(c.status, style=_STYLES[c.status]),
                literal_text(c.detail),
                literal_text(c.fix or ""),
            )
        stdout().print(table)
        failed = sum(c.status == "fail" for c in checks)
        warned = sum(c.status == "warn" for c in checks)
        say("healthy" if ok and not warned else f"{failed} failed, {warned} warnings")
    if not ok:
        raise typer.Exit(1)
