"""`tunix-rt trace dupes [filter] [--near [--threshold T]]`: clusters of duplicate traces.

A table (one row per cluster: its size, the keeper and the others) or `--json` (every
member); the summary on stderr. `--tag-as TAG` tags every member but the keeper, so
`dataset build --no-tag TAG` or `trace delete --tag TAG` act on the duplicates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tunix_rt.cli._options import JsonFlag, tag_name, with_filter
from tunix_rt.cli._output import (
    count_traces,
    data_out,
    fail,
    handle_errors,
    literal_text,
    note,
    say,
    stdout,
    write_json,
)
from tunix_rt.cli._state import state

if TYPE_CHECKING:
    from tunix_rt.filters import TraceFilter
    from tunix_rt.services.dupes import Cluster, Report

SHORT_ID = 8
OTHERS_SHOWN = 3
# The S-curve of the default threshold's bands (21 x 6 of 128 permutations), written out
# so that --help needs no computation; tests/unit/test_dupes.py checks it against the formula.
CURVE_HELP = "0.50: 0.282, 0.60: 0.633, 0.70: 0.928, 0.75: 0.984, 0.80: 0.998, 0.90: 1.000"


def _keep(value: str) -> str:
    name = value.partition(":")[2] if value.startswith("best-score:") else None
    if value in ("oldest", "newest") or name:
        return value
    raise typer.BadParameter(
        f"{value!r}: use oldest, newest or best-score:NAME (the score named NAME)"
    )


def report_record(report: Report) -> dict[str, Any]:
    """The JSON shape of a report."""
    options = report.options
    keep = options.keep + (f":{options.score_name}" if options.keep == "best-score" else "")
    return {
        "selection": report.selection,
        "checked": report.checked,
        "near": options.near,
        "threshold": options.threshold if options.near else None,
        "keep": keep,
        "lsh": (
            {
                "num_perm": 128,
                "bands": report.bands,
                "rows": report.rows,
                "recall_at_threshold": round(report.recall_at_threshold, 6),
                "candidate_pairs": report.candidates,
            }
            if options.near
            else None
        ),
        "sketched": report.computed,
        "clusters": [_cluster_record(c) for c in report.clusters],
        "in_clusters": report.in_clusters,
        "duplicates": report.duplicates,
        "tag": options.tag,
        "tagged": report.tagged,
    }


def _cluster_record(cluster: Cluster) -> dict[str, Any]:
    return {
        "kind": cluster.kind,
        "size": cluster.size,
        "keeper": str(cluster.keeper.id),
        "prompt": cluster.prompt,
        "members": [
            {
                "id": str(m.id),
                "created_at": m.created_at.isoformat(),
                "similarity": round(m.similarity, 6),
                "exact": m.exact,
                "keep": n == 0,
            }
            for n, m in enumerate(cluster.members)
        ],
    }


def _render(report: Report) -> None:
    from rich.table import Table

    table = Table(header_style="bold", expand=True)
    table.add_column("#", justify="right", no_wrap=True, min_width=len(str(len(report.clusters))))
    table.add_column("size", justify="right", no_wrap=True, min_width=4)
    table.add_column("kind", no_wrap=True, min_width=5)
    table.add_column("similarity", no_wrap=True, min_width=10)
    table.add_column("keep", no_wrap=True, min_width=SHORT_ID)
    table.add_column("others", no_wrap=True, overflow="ellipsis", min_width=SHORT_ID, ratio=1)
    table.add_column("prompt (of the keeper)", no_wrap=True, overflow="ellipsis", ratio=2)
    for n, c in enumerate(report.clusters, start=1):
        others = [str(m.id)[:SHORT_ID] for m in c.members[1 : 1 + OTHERS_SHOWN]]
        if c.size - 1 > OTHERS_SHOWN:
            others.append(f"+{c.size - 1 - OTHERS_SHOWN} more")
        low = min(m.similarity for m in c.members)
        table.add_row(
            str(n),
            str(c.size),
            c.kind,
            "1.00" if low >= 1.0 else f"{low:.2f}..1.00",
            str(c.keeper.id)[:SHORT_ID],
            ", ".join(others),
            literal_text(" ".join(c.prompt.split())),
        )
    stdout().print(table)


def _summary(report: Report) -> str:
    options = report.options
    if not report.clusters:
        return f"no duplicates in {count_traces(report.checked)}"
    groups = len(report.clusters)
    if options.near:
        exact = sum(1 for c in report.clusters if c.kind == "exact")
        what = (
            f"{groups:,} cluster{'' if groups == 1 else 's'} ({exact:,} exact, "
            f"{groups - exact:,} near at similarity >= {options.threshold:g})"
        )
    else:
        what = f"{groups:,} group{'' if groups == 1 else 's'} of exact duplicates"
    keep = options.keep + (f":{options.score_name}" if options.keep == "best-score" else "")
    return (
        f"{what} in {count_traces(report.checked)}: {count_traces(report.in_clusters)}, "
        f"{report.duplicates:,} beyond the keepers (keep {keep})"
    )


@with_filter
@handle_errors
def dupes(
    ctx: typer.Context,
    near: Annotated[
        bool,
        typer.Option(
            "--near",
            help="Also group near-duplicates: traces whose word 3-gram shingles (character "
            "3-grams for CJK and other scripts without spaces) have a Jaccard similarity of "
            "at least --threshold, found by MinHash (128 permutations) and LSH, each pair "
            "checked on its exact shingle sets before it is reported.",
        ),
    ] = False,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.5,
            max=1.0,
            metavar="S",
            help="With --near: the similarity (0.5..1.0, default 0.8) from which two traces "
            "are near-duplicates. LSH bands are chosen so that a pair at S is "
            "checked with probability >= 0.99; at 0.8 (21 bands x 6 rows) the probability "
            f"by similarity is {CURVE_HELP}.",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        str,
        typer.Option(
            "--keep",
            metavar="oldest|newest|best-score:NAME",
            callback=_keep,
            help="Which trace of each cluster is kept (not tagged); ties go to the smallest "
            "id. best-score:NAME keeps the highest score NAME.",
        ),
    ] = "oldest",
    tag_as: Annotated[
        str | None,
        typer.Option(
            "--tag-as",
            metavar="TAG",
            callback=tag_name,
            help="Give TAG to every member of a cluster but its keeper (then `trace list "
            "--tag TAG`, `dataset build --no-tag TAG`, `trace delete --tag TAG`).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Group duplicate traces (same prompt, steps and final answer up to case and
    whitespace; numbers count) and, with --near, near-duplicates; keep one of each."""
    from tunix_rt.dupes import DEFAULT_THRESHOLD
    from tunix_rt.services import dupes as service

    if threshold is not None and not near:
        raise fail("--threshold needs --near", code=2)
    rule, _, score_name = keep.partition(":")
    options = service.Options(
        near=near,
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        keep=rule,  # type: ignore[arg-type]
        score_name=score_name or None,
        tag=tag_as,
    )
    data_out()
    with state(ctx).database() as db:
        report = service.find(db, selection=selection, options=options)
    if as_json:
        write_json(report_record(report))
    elif report.clusters:
        _render(report)
    if not report.checked:
        say(f"no traces match: {report.selection}" if not selection.is_empty else "no traces yet")
        return
    say(_summary(report))
    if near:
        say(
            f"LSH: {report.bands} bands x {report.rows} rows of 128 permutations: a pair at "
            f"similarity {options.threshold:g} becomes a candidate with probability "
            f"{report.recall_at_threshold:.3f}; {report.candidates:,} candidate pairs checked"
        )
    if not report.stored:
        note("could not store the sketches (read-only database?): the next run computes them again")
    if report.tagged:
        say(f"tagged {count_traces(report.tagged)} with {tag_as}")
