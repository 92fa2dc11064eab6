"""`tunix-rt trace compare A B`: two traces side by side with a step diff."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tunix_rt.cli._options import JsonFlag
from tunix_rt.cli._output import handle_errors
from tunix_rt.cli._state import state

if TYPE_CHECKING:
    from rich.text import Text

    from tunix_rt.diff import StepDiff, WordChange
    from tunix_rt.records import TraceRow

_OP_STYLE = {"equal": "", "replace": "yellow", "insert": "green", "delete": "red"}


def _scores(rows: list[TraceRow]) -> dict[str, dict[str, float]]:
    """Stored scores per trace id (`name`, or `name@i` for step i), as `trace show` reads them."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        mine = out.setdefault(str(row.id), {})
        for e in row.scores or ():
            mine[e.name if e.step is None else f"{e.name}@{e.step}"] = e.value
    return out


def _words(changes: tuple[WordChange, ...], side: str, style: str) -> Text:
    from rich.text import Text

    from tunix_rt.cli._output import literal

    out = Text()
    for change in changes:
        words = change.a if side == "a" else change.b
        if not words:
            continue
        if out:
            out.append(" ")
        out.append(literal(words), style="" if change.op == "equal" else style)
    return out


def _view(a: TraceRow, b: TraceRow, result: StepDiff, scores: dict[str, dict[str, float]]) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from tunix_rt.cli._output import literal_text

    steps_a, steps_b = a.payload.get("steps") or [], b.payload.get("steps") or []

    def content(steps: list[Any], i: int | None) -> str:
        if i is None:
            return ""
        step = steps[i]
        return str(step.get("content", "")) if isinstance(step, dict) else str(step)

    table = Table(show_header=True, header_style="bold", expand=True, show_lines=True)
    table.add_column("", no_wrap=True, style="cyan")
    table.add_column(f"A {str(a.id)[:8]}", ratio=1)
    table.add_column(f"B {str(b.id)[:8]}", ratio=1)
    table.add_row(
        "prompt",
        literal_text(str(a.payload.get("prompt", ""))),
        literal_text(str(b.payload.get("prompt", ""))),
    )
    for n, pair in enumerate(result.pairs):
        style = _OP_STYLE[pair.op]
        label = f"{'-' if pair.a is None else pair.a}:{'-' if pair.b is None else pair.b}"
        mark = " *" if n == result.first_divergence else ""
        if pair.op == "replace":
            left = _words(pair.words, "a", "bold red")
            right = _words(pair.words, "b", "bold green")
        else:
            left = literal_text(content(steps_a, pair.a), style=style)
            right = literal_text(content(steps_b, pair.b), style=style)
        table.add_row(Text(f"{label} {pair.op}{mark}", style=style or "cyan"), left, right)
    agree = "green" if result.answers_agree else "red"
    table.add_row(
        Text("answer", style=agree),
        literal_text(str(a.payload.get("final_answer", ""))),
        literal_text(str(b.payload.get("final_answer", ""))),
    )
    if any(scores.values()):

        def fmt(trace_id: str) -> Text:
            items = sorted(scores.get(trace_id, {}).items())
            return literal_text("  ".join(f"{k}={v:g}" for k, v in items))

        table.add_row("scores", fmt(str(a.id)), fmt(str(b.id)))
    same = sum(1 for p in result.pairs if p.op == "equal")
    if result.first_divergence is None:
        where = "no divergent step"
    else:
        first = result.pairs[result.first_divergence]
        where = (
            f"first divergence at aligned pair {result.first_divergence} "
            f"(A step {first.a if first.a is not None else '-'}, "
            f"B step {first.b if first.b is not None else '-'}: {first.op})"
        )
    answers = "final answers agree" if result.answers_agree else "final answers differ"
    summary = Text(f"{same}/{len(result.pairs)} steps equal; {where}; ")
    summary.append(answers, style=agree)
    return Group(
        literal_text(f"A {a.id}\nB {b.id}", style="bold"),
        table,
        summary,
    )


@handle_errors
def compare(
    ctx: typer.Context,
    first: Annotated[str, typer.Argument(metavar="A", help="A trace id or a unique prefix.")],
    second: Annotated[str, typer.Argument(metavar="B", help="Another (or the same) trace id.")],
    as_json: JsonFlag = False,
) -> None:
    """Compare two traces: side by side, with steps aligned by content, the first divergent
    step, changed words highlighted, stored scores, and whether the final answers agree."""
    from tunix_rt import diff
    from tunix_rt.cli._output import data_out, stdout, write_json
    from tunix_rt.records import to_record
    from tunix_rt.services import traces as service

    with state(ctx).database() as db:
        row_a = service.show(db, first)
        row_b = service.show(db, second)
        scores = _scores([row_a, row_b])
    result = diff.compare(row_a.payload, row_b.payload)
    if as_json:
        write_json(
            {
                "a": to_record(row_a),
                "b": to_record(row_b),
                "scores": {"a": scores.get(str(row_a.id), {}), "b": scores.get(str(row_b.id), {})},
                **result.to_json(),
            }
        )
    else:
        data_out()
        stdout().print(_view(row_a, row_b, result, scores))
