"""Options that several commands share, defined once (Annotated aliases for Typer)."""

from __future__ import annotations

from typing import Annotated

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
JsonlFlag = Annotated[bool, typer.Option("--jsonl", help="One JSON record per line.")]
MAX_LIMIT = 1_000_000
Limit = Annotated[
    int,
    typer.Option("--limit", "-n", min=1, max=MAX_LIMIT, help="Traces per page."),
]
Cursor = Annotated[
    str | None,
    typer.Option(
        metavar="TOKEN",
        help="Continue after the page that printed this token.",
        show_default=False,
    ),
]
