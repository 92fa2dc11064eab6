"""`tunix-rt trace show ID`: one trace in full."""

from __future__ import annotations

from typing import Annotated

import typer

from tunix_rt.cli._options import JsonFlag
from tunix_rt.cli._output import emit_one, handle_errors
from tunix_rt.cli._state import state


@handle_errors
def show(
    ctx: typer.Context,
    trace_id: Annotated[
        str, typer.Argument(metavar="ID", help="A trace id or a unique prefix of one, e.g. 9a41.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Show one trace: prompt, numbered steps, final answer and meta."""
    from tunix_rt.cli._views import trace_view
    from tunix_rt.records import to_record
    from tunix_rt.services import traces as service

    with state(ctx).database() as db:
        row = service.show(db, trace_id)
    emit_one(row, as_json=as_json, record=to_record, view=trace_view)
