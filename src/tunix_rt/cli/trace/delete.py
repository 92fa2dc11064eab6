"""`tunix-rt trace delete [ID]... [filter] [--older-than AGE]`: delete traces, after asking.

Safety, in order: a bad option value is a usage error before the database is opened; no ids
and no filter is refused unless `--all`; without `--yes` it asks on a terminal (stdin and
stderr both TTYs) and refuses anywhere else before touching anything; what it shows is what
it deletes (one transaction, see `services/delete.py`).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from tunix_rt.cli._options import JsonFlag, TraceIds, target, with_filter
from tunix_rt.cli._output import count_traces, fail, handle_errors, note, say, write_json
from tunix_rt.cli._state import state
from tunix_rt.filters import TraceFilter

if TYPE_CHECKING:
    from tunix_rt.services.delete import DeleteResult, Plan


def _with_tags(n: int) -> str:
    return f" (and {n:,} tag{'' if n == 1 else 's'})" if n else ""


def _size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _on_a_terminal() -> bool:
    return bool(
        sys.stdin is not None
        and sys.stdin.isatty()
        and sys.stderr is not None
        and sys.stderr.isatty()
    )


def _show(plan: Plan, verb: str, *, force: bool = False) -> None:
    """The count and the first few traces, on stderr."""
    from tunix_rt.cli._output import stderr
    from tunix_rt.cli._views import trace_table

    say(f"{verb} {count_traces(plan.selected)}{_with_tags(plan.tags)}: {plan.description}")
    stderr().print(trace_table(plan.first))
    if plan.selected > len(plan.first):
        say(f"... and {plan.selected - len(plan.first):,} more")
    if plan.held and force:
        note(f"a frozen dataset holds {plan.held:,} of them; --force deletes them too")
    elif plan.held:
        note(f"a frozen dataset holds {plan.held:,} of them (deleting needs --force)")


def _ask(plan: Plan, *, force: bool = False) -> bool:
    """Show the plan and ask on the terminal: only `y` or `yes` deletes.

    Asked on stderr and read from stdin by hand: Click's prompt writes a space to stdout,
    which carries data. End of input (Ctrl-D) and Ctrl-C are a no; SIGTERM still ends the
    command (143).
    """
    from tunix_rt.cli._output import Terminated

    _show(plan, "about to delete", force=force)
    sys.stderr.write(f"Delete {count_traces(plan.selected)}{_with_tags(plan.tags)}? [y/N]: ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except Terminated:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return False
    return answer.strip().lower() in ("y", "yes")


def _report(result: DeleteResult, *, vacuum: bool, force: bool = False) -> None:
    plan = result.plan
    if not plan.selected:
        say(f"no traces match: {plan.description}: nothing deleted")
    elif result.dry_run:
        _show(plan, "would delete", force=force)
        say("nothing deleted (--dry-run)")
    else:
        say(f"deleted {count_traces(result.deleted)}{_with_tags(plan.tags)}")
    if result.vacuum_error:
        raise fail(
            f"the traces are deleted, but VACUUM failed ({result.vacuum_error}): the free "
            "space stays inside the file and is reused by new traces"
        )
    if result.file_bytes is not None:
        before, after = result.file_bytes
        say(f"vacuumed: the database file went from {_size(before)} to {_size(after)}")
    elif result.reclaimable_bytes and result.committed:
        note(
            f"{_size(result.reclaimable_bytes)} of the database file is free space now "
            "(reused by new traces); --vacuum gives it back to the disk"
        )
    if vacuum and not result.sqlite:
        note("--vacuum is for SQLite files: PostgreSQL reuses the space itself (autovacuum)")


@with_filter
@handle_errors
def delete(
    ctx: typer.Context,
    ids: TraceIds = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Created more than AGE ago (30d, 12h, 2w): retention.",
            show_default=False,
        ),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every trace (needed when no id or filter is given).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be deleted.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also delete traces that a frozen dataset holds.")
    ] = False,
    vacuum: Annotated[
        bool,
        typer.Option("--vacuum", help="SQLite: give the freed space back to the disk (VACUUM)."),
    ] = False,
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Delete traces (and their tags) chosen by ids, a filter, --older-than, or --all.

    Shows the count and the first few traces, then asks; --yes skips the question.
    Without a terminal it needs --yes; --dry-run only shows. What it shows is what it deletes.
    """
    from tunix_rt.filters import FilterValueError, parse_age

    if older_than is not None:
        try:
            cutoff = parse_age(older_than)
        except FilterValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--older-than'") from None
        until = cutoff if selection.until is None else min(selection.until, cutoff)
        selection = replace(selection, until=until)
    chosen = target(selection, ids, all_=all_)
    if not (yes or dry_run or _on_a_terminal()):
        raise fail(
            "not deleting without confirmation: stdin or stderr is not a terminal; pass "
            "--yes to delete, or --dry-run to see what would be deleted"
        )
    from tunix_rt.services import delete as service

    with state(ctx).database() as db:
        result = service.delete(
            db,
            chosen,
            confirm=None if yes else functools.partial(_ask, force=force),
            dry_run=dry_run,
            force=force,
            vacuum=vacuum,
        )
    plan = result.plan
    if plan.selected and not result.dry_run and not result.confirmed:
        raise fail("aborted: nothing deleted")
    if as_json:
        write_json(
            {
                "selected": plan.selected,
                "tags": plan.tags,
                "held": plan.held,
                "deleted": result.deleted,
                "dry_run": result.dry_run,
                "reclaimable_bytes": result.reclaimable_bytes,
                "file_bytes": None
                if result.file_bytes is None
                else {"before": result.file_bytes[0], "after": result.file_bytes[1]},
            }
        )
    _report(result, vacuum=vacuum, force=force)
