"""`tunix-rt trace score [filter] --with baseline`: score the selected traces, store the scores.

Scores live in their own table (`trace_scores`), several names per trace; scoring again under a
name replaces that name's score on the traces scored.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tunix_rt.cli._options import JsonFlag, with_filter
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
    scorer: With = "baseline",
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Score the traces a filter selects (all without one) and store the scores by name."""
    from tunix_rt.services import scores as service

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
