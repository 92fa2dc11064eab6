"""`tunix-rt trace export --to FORMAT`: the selected traces as training data, one line each.

Parses the options, checks the target before touching the database, makes one service call
inside an atomic file (or onto stdout) and reports on stderr what the format found.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from tunix_rt.cli._options import with_filter
from tunix_rt.cli._output import data_out, fail, handle_errors, note, say
from tunix_rt.cli._state import state

if TYPE_CHECKING:
    from tunix_rt.filters import TraceFilter
    from tunix_rt.services.export import ExportReport

STEPWISE = "trl-stepwise"
_STDOUT_NAMES = ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")  # -o these: same as -o -
DEFAULT_THRESHOLD = 0.5


def _format_names() -> list[str]:
    from tunix_rt.formats import FORMATS

    return list(FORMATS)


def _complete_format(incomplete: str) -> list[str]:
    from tunix_rt.formats import ALIASES

    return [n for n in [*_format_names(), *ALIASES] if n.startswith(incomplete)]


def _usage(message: str, option: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{option}'")


def _check_options(
    to: str,
    *,
    system: str | None,
    sanitize: bool,
    labels: str | None,
    threshold: float | None,
) -> tuple[str, str | None]:
    """The format's name and the system text to use; a bad combination is a usage error."""
    from tunix_rt.formats import RAW, canonical_name, has_control_tokens, strip_control_tokens

    name = canonical_name(to)
    if name is None:
        raise _usage(f"{to!r} is not a format: use one of {', '.join(_format_names())}", "--to")
    if name in RAW and (system is not None or sanitize):
        raise _usage(
            f"--to {name} writes the stored record as it is: --system and --sanitize do not apply",
            "--system" if system is not None else "--sanitize",
        )
    if (labels is not None or threshold is not None) and name != STEPWISE:
        raise _usage(f"only --to {STEPWISE} has step labels", "--labels")
    if threshold is not None and labels is None:
        raise _usage("--label-threshold needs --labels SCORE_NAME", "--label-threshold")
    if labels is not None:
        from tunix_rt.filters import FilterValueError, parse_score_name

        try:
            parse_score_name(labels)
        except FilterValueError as exc:
            raise _usage(str(exc), "--labels") from None
    if threshold is not None and not math.isfinite(threshold):
        raise _usage(f"{threshold} is not a finite number", "--label-threshold")
    if system is not None:
        if not system.strip():
            raise _usage("the system instruction is empty", "--system")
        if has_control_tokens(system):
            if not sanitize:
                raise _usage(
                    "the system instruction contains chat control tokens: remove them or add "
                    "--sanitize",
                    "--system",
                )
            system = strip_control_tokens(system)
    return name, system


def _shown_ids(ids: list[str], total: int) -> str:
    more = f" and {total - len(ids)} more" if total > len(ids) else ""
    return ", ".join(ids) + more


def _size(count: int) -> str:
    if count < 10_000:
        return f"{count:,} bytes"
    return f"{count / 1e3:,.1f} kB" if count < 10_000_000 else f"{count / 1e6:,.1f} MB"


def _report(report: ExportReport, where: str, *, quiet: bool) -> None:
    from tunix_rt.formats import CONTROL_TOKENS_LEFT, REWARD_MISMATCH, SANITIZED

    flagged, examples = report.flagged, report.examples
    if flagged[CONTROL_TOKENS_LEFT]:
        n = flagged[CONTROL_TOKENS_LEFT]
        say(
            f"warning: {n} trace{'s' if n != 1 else ''} contain chat control tokens "
            "(<start_of_turn>, <bos>, <|im_start|>, ...) in the text exported: "
            f"{_shown_ids(examples[CONTROL_TOKENS_LEFT], n)}; --sanitize strips them as "
            "Tunix does"
        )
    if flagged[SANITIZED]:
        n = flagged[SANITIZED]
        note(f"stripped chat control tokens from {n} trace{'s' if n != 1 else ''} (--sanitize)")
    if report.format == "tunix-grpo" and report.count:
        bad = flagged[REWARD_MISMATCH]
        text = (
            f"{report.count - bad} of {report.count} completions match Tunix's format reward "
            "(check_format, answer extracted intact)"
        )
        if bad:
            say(f"warning: {text}; not: {_shown_ids(examples[REWARD_MISMATCH], bad)}")
        elif not quiet:
            note(text)
    if not quiet:
        size = _size(report.bytes)
        plural = "s" if report.count != 1 else ""
        say(f"exported {report.count:,} trace{plural} as {report.format} to {where} ({size})")


@with_filter
@handle_errors
def export(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="FORMAT",
            help="jsonl (the stored record), trace, training_example, tunix-sft, tunix-grpo, "
            "trl-messages, trl-prompt-completion, trl-stepwise or atif (see the README's "
            "'Training data').",
            autocompletion=_complete_format,
            show_default=False,
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE|-",
            help="Write to FILE (atomically: complete or not at all); - or none: stdout.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            metavar="TEXT",
            help="Add a system instruction, the way each format does (Gemma: inside the "
            "user turn; chat formats: a system message).",
            show_default=False,
        ),
    ] = None,
    sanitize: Annotated[
        bool,
        typer.Option(
            "--sanitize",
            help="Strip chat control tokens (<start_of_turn>, <bos>, <|im_start|>, ...) "
            "from the exported text, as Tunix does.",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Fail (exit 1, no file) if any trace is reported: control tokens left in, "
            "or a tunix-grpo completion that Tunix's format reward would not match.",
        ),
    ] = False,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            metavar="SCORE_NAME",
            help="trl-stepwise: label each step by its per-step score SCORE_NAME (needs "
            "stored step scores; without it every step is labelled true).",
            show_default=False,
        ),
    ] = None,
    label_threshold: Annotated[
        float | None,
        typer.Option(
            "--label-threshold",
            metavar="X",
            help="With --labels: a step is labelled true when its score is >= X (default 0.5).",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No summary line; warnings and errors only.")
    ] = False,
    *,
    selection: TraceFilter,
) -> None:
    """Export traces as JSON Lines for Tunix, TRL, ATIF or the original service.

    One line per trace, newest first; the same selection of the same data gives the same bytes.
    """
    from tunix_rt.formats import Options
    from tunix_rt.services import export as service

    name, system = _check_options(
        to, system=system, sanitize=sanitize, labels=labels, threshold=label_threshold
    )
    options = Options(system=system, sanitize=sanitize)
    to_file = output not in (None, "-", *_STDOUT_NAMES)

    def run(out: BinaryIO) -> ExportReport:
        with state(ctx).database() as db:
            report = service.export(
                db,
                to=name,
                out=out,
                selection=selection,
                options=options,
                labels=labels,
                threshold=DEFAULT_THRESHOLD if label_threshold is None else label_threshold,
            )
        if strict and report.problems:
            _report(report, output or "stdout", quiet=True)
            nothing = "nothing was written" if to_file else "the output has them"
            raise fail(f"--strict: {report.problems} reported trace(s); {nothing}")
        return report

    if to_file:
        assert output is not None
        from tunix_rt.atomic import atomic_output, check_target

        _refuse_database(ctx, output)
        check_target(output, force=force)
        with atomic_output(output, force=force) as out:
            report = run(out)
        where = output
    else:
        stdout = data_out()
        stdout.flush()
        report = run(stdout.buffer)
        stdout.buffer.flush()
        where = "stdout"
    if not report.count and not quiet:
        note(f"nothing to export: {selection.describe()} selects no trace")
    _report(report, where, quiet=quiet)


def _refuse_database(ctx: typer.Context, output: str) -> None:
    """`-o` must never replace the SQLite database (or its -wal/-shm/-journal) being read."""
    import os

    from tunix_rt.db.engine import sqlite_path
    from tunix_rt.errors import OutputError

    database = sqlite_path(state(ctx).settings().database_url)
    if database is None:
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            same = os.path.samefile(output, f"{database}{suffix}")
        except OSError:
            same = os.path.realpath(output) == os.path.realpath(f"{database}{suffix}")
        if same:
            raise OutputError(f"cannot write {output}: it is the database being exported")
