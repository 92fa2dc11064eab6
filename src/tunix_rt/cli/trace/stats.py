"""`tunix-rt trace stats`: counts, lengths, histograms and charts for a selection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tunix_rt.cli._options import JsonFlag, with_filter
from tunix_rt.cli._output import handle_errors, say, stdout, write_json
from tunix_rt.cli._state import state

if TYPE_CHECKING:
    from tunix_rt.filters import TraceFilter
    from tunix_rt.services.stats import GroupBy, StatsResult
    from tunix_rt.stats import Lengths, Summary

TOP_ROWS = 10


def _parse_by(value: str | None) -> GroupBy | None:
    from tunix_rt.filters import FilterValueError, parse_meta
    from tunix_rt.services.stats import GroupBy

    if value is None:
        return None
    if value in ("version", "tag"):
        return GroupBy(value)  # type: ignore[arg-type]
    if value.startswith("meta."):
        try:
            return GroupBy("meta", parse_meta(value + "=").path)
        except FilterValueError:
            pass
    raise typer.BadParameter(
        f"{value!r}: use version, tag or meta.KEY (a dotted meta key)", param_hint="'--by'"
    )


def _parse_key(value: str | None) -> tuple[str, ...] | None:
    from tunix_rt.filters import FilterValueError, parse_meta

    if value is None:
        return None
    try:
        return parse_meta(value + "=").path
    except FilterValueError:
        raise typer.BadParameter(
            f"{value!r} is not a meta key (letters, digits, _ and -; dotted for nested)",
            param_hint="'--meta-values'",
        ) from None


@with_filter
@handle_errors
def stats(
    ctx: typer.Context,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="version|tag|meta.KEY",
            help="Also break the numbers down by version, by tag or by the values of a meta key.",
            show_default=False,
        ),
    ] = None,
    meta_values: Annotated[
        str | None,
        typer.Option(
            "--meta-values",
            metavar="KEY",
            help="Show the most common values of meta KEY (dotted for nested).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Count, steps per trace, lengths, step types, tags, meta values and duplicate prompts."""
    from tunix_rt.services import stats as service

    group = _parse_by(by)
    key = _parse_key(meta_values)
    with state(ctx).database() as db:
        result = service.compute(db, selection=selection, meta_key=key, by=group)
    if as_json:
        write_json(_as_json(result))
        return
    if result.summary.count == 0:
        say(f"no traces match: {result.selection}" if not selection.is_empty else "no traces yet")
        return
    _render(result)


def _lengths_json(lengths: Lengths) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(lengths)


def _summary_json(s: Summary) -> dict[str, Any]:
    return {
        "count": s.count,
        "steps_per_trace": _lengths_json(s.steps),
        "steps_histogram": {str(k): v for k, v in s.steps_histogram.items()},
        "chars": {
            "prompt": _lengths_json(s.prompt_chars),
            "step": _lengths_json(s.step_chars),
            "final_answer": _lengths_json(s.answer_chars),
        },
        "step_types": dict(s.step_types),
        "versions": dict(s.versions),
        "duplicate_prompts": {
            "groups": s.duplicate_groups,
            "traces": s.duplicate_traces,
            "top": [{"prompt": p, "traces": n} for p, n in s.duplicate_prompts],
        },
    }


def _as_json(result: StatsResult) -> dict[str, Any]:
    out: dict[str, Any] = {"selection": result.selection, **_summary_json(result.summary)}
    out["tags"] = dict(result.tags)
    out["untagged"] = result.summary.count - result.tagged
    if result.meta_key is not None:
        out["meta_values"] = {
            "key": ".".join(result.meta_key),
            "top": dict(result.summary.meta_values),
        }
    if result.by is not None:
        out["by"] = result.by.label
        out["groups"] = [{"key": k, **_summary_json(s)} for k, s in result.groups]
    return out


def _render(result: StatsResult) -> None:
    from rich.table import Table
    from rich.text import Text

    from tunix_rt.cli._output import literal_text
    from tunix_rt.stats import bar

    console = stdout()
    s = result.summary
    width = max(10, min(50, console.width - 45))
    console.print(
        literal_text(f"{s.count:,} traces ({result.selection})", style="bold"), soft_wrap=True
    )

    lengths = Table(title="Lengths (characters)", title_justify="left", header_style="bold")
    lengths.add_column("")
    for name in ("min", "p50", "p90", "p99", "max", "mean"):
        lengths.add_column(name, justify="right")
    rows = [
        ("steps per trace", s.steps),
        ("prompt", s.prompt_chars),
        ("step", s.step_chars),
        ("final answer", s.answer_chars),
    ]
    for label, lg in rows:
        lengths.add_row(
            label,
            *(f"{v:,}" for v in (lg.min, lg.p50, lg.p90, lg.p99, lg.max)),
            f"{lg.mean:,.1f}",
        )
    console.print(lengths)

    def chart(title: str, items: list[tuple[str, int]], unit: str = "traces") -> None:
        table = Table(
            title=f"{title} ({unit})" if title else None,
            title_justify="left",
            show_header=False,
            box=None,
        )
        table.add_column("", no_wrap=True, max_width=32, overflow="ellipsis")
        table.add_column("", justify="right")
        table.add_column("", no_wrap=True)
        largest = max((n for _, n in items), default=0)
        for label, n in items[:TOP_ROWS]:
            table.add_row(literal_text(label), f"{n:,}", Text(bar(n, largest, width), "cyan"))
        if len(items) > TOP_ROWS:
            table.add_row(Text(f"... {len(items) - TOP_ROWS} more", "dim"), "", "")
        console.print(table)

    chart(
        "Steps per trace",
        [(f"{k} step{'s' if k != 1 else ''}", n) for k, n in s.steps_histogram.items()],
    )
    chart("Step types", s.step_types, unit="steps")
    if len(s.versions) > 1:
        chart("Versions", s.versions)
    if result.tags:
        chart("Tags", [*result.tags, ("(untagged)", s.count - result.tagged)])
    if result.meta_key is not None:
        chart(f"meta.{'.'.join(result.meta_key)} (most common)", s.meta_values)
    if s.duplicate_groups:
        console.print(
            Text(
                f"Duplicate prompts: {s.duplicate_groups:,} prompts are shared by "
                f"{s.duplicate_traces:,} traces",
                style="bold",
            )
        )
        chart("", [(" ".join(p.split()), n) for p, n in s.duplicate_prompts])
    else:
        console.print(Text("Duplicate prompts: none", style="bold"))
    if result.by is not None:
        table = Table(title=f"By {result.by.label}", title_justify="left", header_style="bold")
        table.add_column(result.by.label, max_width=30, overflow="ellipsis", no_wrap=True)
        table.add_column("traces", justify="right")
        table.add_column("steps p50", justify="right")
        table.add_column("prompt p50", justify="right")
        table.add_column("answer p50", justify="right")
        table.add_column("", no_wrap=True)
        largest = max((g.count for _, g in result.groups), default=0)
        for key, g in result.groups:
            table.add_row(
                literal_text(key),
                f"{g.count:,}",
                f"{g.steps.p50:,}",
                f"{g.prompt_chars.p50:,}",
                f"{g.answer_chars.p50:,}",
                Text(bar(g.count, largest, max(10, width - 30)), "cyan"),
            )
        console.print(table)
