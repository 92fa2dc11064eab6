"""`tunix-rt dataset ...`: frozen datasets with reproducible, leak-proof splits.

`build` freezes ids, content hashes and splits in the database; `export` writes one file
per split plus `manifest.json` and a Hugging Face `README.md` card; `verify` checks a folder
against its manifest. Names: `NAME` is version 1 when built and the newest version
elsewhere; `NAME@v2` is an explicit version (never replaced).

Command docstrings are Rich help: each paragraph is one line (Rich wraps it to the terminal).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tunix_rt.cli._options import JsonFlag, with_filter
from tunix_rt.cli._output import count_traces, fail, handle_errors, say, write_json, write_line
from tunix_rt.cli._state import state
from tunix_rt.cli.trace.export import _check_options, _complete_format

if TYPE_CHECKING:
    from tunix_rt.filters import TraceFilter
    from tunix_rt.services.datasets import Info

app = typer.Typer(
    help="Frozen datasets: build, list, show, diff, export, verify, delete.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(metavar="NAME", help="NAME (newest version) or NAME@vN.")]

# Integer options stored in a column accept what the column holds on both databases:
# `datasets.limit` is INTEGER (32-bit on PostgreSQL), `datasets.seed` BIGINT.
MAX_LIMIT = 2**31 - 1
MAX_SEED = 2**63 - 1


def _bounded(option: str, low: int, high: int, shown: str) -> Callable[[int | None], int | None]:
    """A callback refusing values outside [low, high] in one line, the range as `shown`."""

    def check(value: int | None) -> int | None:
        if value is not None and not low <= value <= high:
            raise typer.BadParameter(f"{value} is out of range ({shown})", param_hint=option)
        return value

    return check


def _counts(info: Info) -> str:
    return ", ".join(f"{s} {n:,}" for s, n in info.counts.items())


def _as_json(info: Info) -> dict[str, object]:
    return {
        "name": info.name,
        "version": info.version,
        "label": info.label,
        "created_at": info.created_at.isoformat(),
        "filter": info.filter,
        "pick": info.pick,
        "seed": info.seed,
        "limit": info.limit,
        "split_ratios": info.ratios.as_dict(),
        "duplicates_dropped": info.duplicates_dropped,
        "splits": info.counts,
        "trace_count": info.total,
        "tool_version": info.tool_version,
    }


@app.command("build")
@with_filter
@handle_errors
def build(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="NAME (version 1) or NAME@vN (a new version).")
    ],
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            metavar="N",
            help="At most N traces (1 to 2,147,483,647).",
            show_default=False,
            callback=_bounded("--limit", 1, MAX_LIMIT, "1 to 2,147,483,647"),
        ),
    ] = None,
    pick: Annotated[
        str,
        typer.Option("--pick", metavar="latest|random", help="Which N traces --limit keeps."),
    ] = "latest",
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            metavar="S",
            help="Seed of the split assignment and random pick (0 to 2^63-1).",
            callback=_bounded("--seed", 0, MAX_SEED, "0 to 2^63-1"),
        ),
    ] = 0,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            metavar="NAME=SHARE,...",
            help="Splits and their shares (decimals or fractions such as 1/3), adding up to 1, "
            "e.g. train=0.9,validation=0.1. Names: letters, digits, '_', parts joined by '.'.",
        ),
    ] = "train=1",
    keep_duplicates: Annotated[
        bool,
        typer.Option(
            "--keep-duplicates",
            help="Keep every exact duplicate (they still share a split).",
        ),
    ] = False,
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Freeze the selected traces as dataset NAME: ids, content hashes and splits.

    Exact duplicates (the same normalised prompt, steps and final answer, as `trace dupes`) are held once: the oldest of each group, chosen over the whole selection before --pick and --limit.

    A trace's split comes from a hash of its normalised prompt (case and whitespace folded) and the seed: identical prompts never straddle splits, and a trace keeps its split when a new version is built over more data. A name that exists is refused: build NAME@v2.
    """  # noqa: E501
    from tunix_rt.dataset import DatasetNameError, parse_ratios
    from tunix_rt.services import datasets as service

    if pick not in service.PICKS:
        raise fail(f"--pick {pick}: choose latest or random", code=2)
    try:
        ratios = parse_ratios(split)
    except DatasetNameError as exc:
        raise fail(f"--split: {exc}", code=2) from None
    with state(ctx).database() as db:
        info = service.build(
            db,
            name,
            selection,
            ratios=ratios,
            seed=seed,
            pick=pick,
            limit=limit,
            keep_duplicates=keep_duplicates,
        )
    if as_json:
        write_json(_as_json(info))
    say(f"built dataset {info.label}: {count_traces(info.total)} ({_counts(info)}); {_dupes(info)}")


def _dupes(info: Info) -> str:
    if info.duplicates_dropped is None:
        return "exact duplicates kept"
    return f"{info.duplicates_dropped:,} exact duplicates dropped (the oldest of each group kept)"


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every dataset: name@version, traces, splits, when built."""
    from rich.table import Table

    from tunix_rt.cli._output import stdout
    from tunix_rt.services import datasets as service

    with state(ctx).database() as db:
        found = service.listing(db)
    if as_json:
        write_json([_as_json(info) for info in found])
        return
    if not found:
        say("no datasets yet: `tunix-rt dataset build NAME`")
        return
    table = Table("dataset", "traces", "splits", "seed", "built (UTC)", "selection")
    for info in found:
        table.add_row(
            info.label,
            f"{info.total:,}",
            str(info.ratios),
            str(info.seed),
            info.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            info.filter,
        )
    stdout().print(table)


@app.command("show")
@handle_errors
def show(ctx: typer.Context, name: Name, as_json: JsonFlag = False) -> None:
    """A dataset's selection, seed, ratios, per-split counts and stats."""
    from tunix_rt.services import datasets as service

    with state(ctx).database() as db:
        info, stats = service.show(db, name)
    if as_json:
        write_json({**_as_json(info), "stats": stats})
        return
    write_line(f"dataset      {info.label}")
    write_line(f"built        {info.created_at.isoformat()} by tunix-rt {info.tool_version}")
    write_line(f"selection    {info.filter}")
    limit = "" if info.limit is None else f", limit {info.limit:,}"
    write_line(f"pick         {info.pick}, seed {info.seed}{limit}")
    write_line(f"ratios       {info.ratios}")
    write_line(f"duplicates   {_dupes(info)}")
    write_line(f"traces       {info.total:,}")
    for split, count in info.counts.items():
        write_line(f"  {split:<10} {count:,}")
    if "avg_step_count" in stats:
        write_line(
            f"steps        {stats['min_step_count']}..{stats['max_step_count']}, "
            f"{stats['avg_step_count']:g} on average"
        )
        write_line(f"text         {stats['avg_total_chars']:g} characters on average")


def _on_a_terminal() -> bool:
    import sys

    return bool(
        sys.stdin is not None
        and sys.stdin.isatty()
        and sys.stderr is not None
        and sys.stderr.isatty()
    )


@app.command("delete")
@handle_errors
def delete(
    ctx: typer.Context,
    name: Name,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be deleted; change nothing.")
    ] = False,
) -> None:
    """Delete a dataset (its traces stay). Asks on a terminal; elsewhere needs --yes."""
    import sys

    from tunix_rt.services import datasets as service

    with state(ctx).database() as db:
        found = service.find(db, name)  # a missing dataset is named before anything else
        what = f"dataset {found.label} ({count_traces(found.total)}; the traces themselves stay)"
        if dry_run:
            say(f"would delete {what}; nothing deleted (--dry-run)")
            return
        if not (yes or _on_a_terminal()):
            raise fail(
                f"not deleting {what} without confirmation: stdin or stderr is not a "
                "terminal; pass --yes"
            )

        def ask(info: Info) -> bool:
            sys.stderr.write(f"Delete dataset {info.label} ({count_traces(info.total)})? [y/N]: ")
            sys.stderr.flush()
            try:
                answer = sys.stdin.readline()
            except KeyboardInterrupt:
                return False
            return answer.strip().lower() in ("y", "yes")

        info = service.delete(db, name, confirm=None if yes else ask)
    if info is None:
        raise fail("aborted: nothing deleted")
    say(f"deleted dataset {info.label} ({count_traces(info.total)}; the traces themselves stay)")


@app.command("export")
@handle_errors
def export(
    ctx: typer.Context,
    name: Name,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="FORMAT",
            help="Output format (as `trace export --to`).",
            autocompletion=_complete_format,
        ),
    ],
    out_text: Annotated[
        str, typer.Option("--out", "-o", metavar="DIR", help="Folder to write into.")
    ],
    system: Annotated[
        str | None,
        typer.Option("--system", metavar="TEXT", help="A system instruction.", show_default=False),
    ] = None,
    sanitize: Annotated[
        bool, typer.Option("--sanitize", help="Strip chat control tokens.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace an earlier export there, or write beside other files."
        ),
    ] = False,
) -> None:
    """Write DIR/<split>.jsonl per split, manifest.json and a Hugging Face README.md card.

    Every file is written atomically, the manifest last; the same dataset over the same data gives byte-identical files.

    DIR must be new, empty (hidden files such as .git do not count) or hold an earlier export, which --force replaces whole (its split files this export does not write are removed). A folder of other files is refused unless --force, which writes beside them and leaves them; `dataset verify` then reports them as extra.

    With SOURCE_DATE_EPOCH set (whole seconds since 1970, digits only: the reproducible-builds convention) it is the manifest's created_at and trace times after it are written as it, so the same files export to the same bytes from any database, uploaded at any moments after it.
    """  # noqa: E501
    import os

    from tunix_rt.dataset import source_date_epoch
    from tunix_rt.formats import Options
    from tunix_rt.services import datasets as service

    if not out_text:
        raise fail("--out is empty: name the folder to write into (e.g. --out out/)", code=2)
    out = Path(out_text)
    epoch = source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH"))

    fmt, system = _check_options(to, system=system, sanitize=sanitize, labels=None, threshold=None)
    with state(ctx).database() as db:
        result = service.export(
            db,
            name,
            to=fmt,
            out=out,
            options=Options(system=system, sanitize=sanitize),
            force=force,
            epoch=epoch,
        )
    for split, report in result.reports.items():
        say(f"{split}: {count_traces(report.count)} -> {out / (split + '.jsonl')}")
    say(f"exported dataset {result.info.label} as {fmt} to {out} (manifest.json, README.md)")


@app.command("verify")
@handle_errors
def verify(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="An exported dataset folder.")],
) -> None:
    """Check DIR against its manifest.json: every file's SHA-256, and the manifest's per-split counts and ids against the split files.

    Exits 1 naming each changed, missing or extra file and each inconsistency. In the jsonl format each record's payload is also re-hashed against its content hash in the manifest. Hidden files and folders (.git, ...) are ignored.
    """  # noqa: E501
    from tunix_rt.dataset.card import BadManifestError
    from tunix_rt.dataset.card import verify as check

    try:
        verdict, checked = check(directory)
    except BadManifestError as exc:
        raise fail(str(exc)) from None
    for path in verdict.changed:
        say(f"changed: {path}")
    for path in verdict.missing:
        say(f"missing: {path}")
    for path in verdict.extra:
        say(f"extra: {path}")
    for problem in verdict.inconsistent:
        say(f"inconsistent: {problem}")
    if not verdict.ok:
        raise fail(f"{directory} does not match its manifest")
    say(f"ok: {checked} files match {directory / 'manifest.json'}")


@app.command("diff")
@handle_errors
def diff(ctx: typer.Context, a: Name, b: Name, as_json: JsonFlag = False) -> None:
    """Traces added, removed and moved between splits from dataset A to dataset B."""
    from tunix_rt.services import datasets as service

    with state(ctx).database() as db:
        d = service.diff(db, a, b)
    if as_json:
        write_json(
            {
                "a": d.a.label,
                "b": d.b.label,
                "added": [{"id": i, "split": s} for i, s in d.added],
                "removed": [{"id": i, "split": s} for i, s in d.removed],
                "moved": [{"id": i, "from": x, "to": y} for i, x, y in d.moved],
                "unchanged": d.same,
            }
        )
        return
    for ident, split in d.added:
        write_line(f"+ {ident} {split}")
    for ident, split in d.removed:
        write_line(f"- {ident} {split}")
    for ident, old, new in d.moved:
        write_line(f"~ {ident} {old} -> {new}")
    say(
        f"{d.a.label} -> {d.b.label}: {len(d.added):,} added, {len(d.removed):,} removed, "
        f"{len(d.moved):,} moved between splits, {d.same:,} unchanged"
    )
