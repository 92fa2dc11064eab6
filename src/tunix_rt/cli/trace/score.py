"""`tunix-rt trace score [ID]... [filter] --with baseline`: score traces, store the scores.

Scores live in their own table (`trace_scores`), several names per trace; scoring again under a
name replaces that name's score on the traces scored.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tunix_rt.cli._options import JsonFlag, TraceIds, target, with_filter
from tunix_rt.cli._output import handle_errors, say, write_json
from tunix_rt.cli._state import state
from tunix_rt.filters import TraceFilter

With = Annotated[
    str,
    typer.Option("--with", help="The scorer: baseline (the original formula).", show_default=True),
]


@with_filter
@handle_errors
def score(
    ctx: typer.Context,
    ids: TraceIds = None,
    scorer: With = "baseline",
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Score the traces chosen by ids, a filter, or both (all without either); store the scores."""
    from tunix_rt.services import scores as service

    if ids:
        selection = target(selection, ids, all_=False)
    if scorer != "baseline":
        raise typer.BadParameter(f"unknown scorer {scorer!r}: use baseline", param_hint="--with")
    with state(ctx).database() as db:
        run = service.score_baseline(db, selection)
    if as_json:
        write_json({"name": run.name, "scored": run.scored})
    if not run.scored:
        say(f"no traces match: {selection.describe()}: nothing scored")
    else:
        say(f"scored {run.scored:,} trace{'' if run.scored == 1 else 's'} as {run.name}")
