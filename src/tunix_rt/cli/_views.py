"""Rich renderables shared by commands. Trace text is data: always shown literally."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tunix_rt.cli._output import literal, literal_text

if TYPE_CHECKING:
    from tunix_rt.records import ScoreEntry, TraceRow


def _short(text: str) -> str:
    return literal(" ".join(text.split()))


def trace_table(rows: list[TraceRow], *, header: bool = True) -> Any:
    """One line per trace: id prefix, time, version, step count, prompt, final answer, tags."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=header, header_style="bold", expand=True, box=None, pad_edge=False)
    table.add_column("ID", no_wrap=True, style="cyan", min_width=8, max_width=8)
    table.add_column("Created (UTC)", no_wrap=True, min_width=19, max_width=19)
    table.add_column("Version", no_wrap=True, max_width=10)
    table.add_column("Steps", justify="right", no_wrap=True)
    table.add_column("Prompt", no_wrap=True, overflow="ellipsis", ratio=3)
    table.add_column("Final answer", no_wrap=True, overflow="ellipsis", ratio=2)
    table.add_column("Tags", no_wrap=True, overflow="ellipsis", ratio=1, style="green")
    for row in rows:
        payload = row.payload
        table.add_row(
            str(row.id)[:8],
            row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            Text(_short(row.trace_version)),
            str(len(payload.get("steps", []))),
            Text(_short(str(payload.get("prompt", "")))),
            Text(_short(str(payload.get("final_answer", "")))),
            Text(literal(" ".join(row.tags))),
        )
    return table


def trace_view(row: TraceRow) -> Any:
    """One trace in full: header (with its tags), prompt, numbered steps, final answer, meta."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    payload = row.payload
    steps = Table(show_header=True, header_style="bold", box=None, expand=True)
    steps.add_column("i", justify="right", no_wrap=True, style="cyan")
    steps.add_column("type", no_wrap=True, style="magenta")
    steps.add_column("content", ratio=1)
    for step in payload.get("steps", []):
        steps.add_row(
            str(step.get("i")),
            literal_text(str(step.get("type", ""))),
            literal_text(str(step.get("content", ""))),
        )
    parts: list[Any] = [
        Panel(literal_text(str(payload.get("prompt", ""))), title="Prompt", title_align="left"),
        Panel(steps, title=f"Steps ({len(payload.get('steps', []))})", title_align="left"),
        Panel(
            literal_text(str(payload.get("final_answer", ""))),
            title="Final answer",
            title_align="left",
        ),
    ]
    if payload.get("meta") is not None:
        meta = json.dumps(payload["meta"], indent=2, ensure_ascii=False)
        parts.append(Panel(literal_text(meta), title="Meta", title_align="left"))
    if row.scores:
        parts.append(
            Panel(scores_view(row.scores), title=f"Scores ({len(row.scores)})", title_align="left")
        )
    header = literal_text(
        f"trace {row.id}  created {row.created_at.isoformat()}  "
        f"version {row.trace_version}  sha256 {row.content_hash[:12]}",
        style="bold",
    )
    if row.tags:
        header.append("\ntags " + literal(" ".join(row.tags)), style="green")
    return Group(header, *parts)


def scores_view(entries: tuple[ScoreEntry, ...]) -> Any:
    """A trace's scores: name, step (blank for the whole trace), value, where from."""
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", box=None, expand=False)
    table.add_column("name", style="cyan", overflow="fold", ratio=2)
    table.add_column("step", justify="right", no_wrap=True, min_width=4)
    table.add_column("value", justify="right", no_wrap=True, min_width=12)
    table.add_column("source", overflow="fold", ratio=1)
    for e in entries:
        table.add_row(
            literal_text(e.name),
            "" if e.step is None else str(e.step),
            f"{e.value:.6g}",
            literal_text(e.source),
        )
    return table
