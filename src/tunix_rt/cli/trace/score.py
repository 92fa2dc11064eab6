"""`tunix-rt trace score`: score traces and store the scores.

- `trace score [ID]... [filter] [--with baseline | --with MODULE:FUNCTION] [--name NAME]`:
  the original baseline formula, or a reward function with Tunix's signature
  (`tunix_rt.rewards`), over the chosen traces (all without ids or filter);
- `trace score set NAME VALUE ID... [--step I]`: a human label.

Scores live in their own table (`trace_scores`), several names per trace; scoring again under
a name replaces that name's score on the traces scored.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from tunix_rt.cli._options import JsonFlag, TraceIds, target, with_filter
from tunix_rt.cli._output import handle_errors, say, write_json
from tunix_rt.cli._state import state

if TYPE_CHECKING:
    from tunix_rt.filters import TraceFilter
    from tunix_rt.services.scores import ScoreRun

BASELINE = "baseline"
SET = "set"

With = Annotated[
    str | None,
    typer.Option(
        "--with",
        metavar="baseline|MODULE:FUNCTION",
        help="The scorer: baseline (the original formula; the default), or a reward function "
        "fn(prompts, completions, answer, **kwargs) -> list[float]: package.module:fn "
        "importable from the current directory or PYTHONPATH, or path/to/rewards.py:fn.",
        show_default=False,
    ),
]
Name = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Store the scores under NAME (default: baseline, or the function's name in "
        "lower case).",
        show_default=False,
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        min=1,
        max=100_000,
        help="With a reward function: traces (or steps) per call (default 64).",
        show_default=False,
    ),
]
PerStep = Annotated[
    bool,
    typer.Option(
        "--per-step",
        help="With a reward function: score every step (one item per step; stored per step, "
        "for `trace export --to trl-stepwise --labels NAME`).",
    ),
]
Step = Annotated[
    int | None,
    typer.Option(
        "--step",
        min=0,
        max=2**31 - 1,
        metavar="I",
        help="With `score set`: label the step numbered I (its `i`) instead of the whole trace.",
        show_default=False,
    ),
]


def _name(text: str, option: str) -> str:
    from tunix_rt.filters import FilterValueError, parse_score_name

    try:
        return parse_score_name(text)
    except FilterValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _value(text: str) -> float:
    """VALUE of `score set`: a decimal number written in ASCII (`0.75`, `-1`, `1e-3`) whose
    value a float holds: not `nan`, `inf`, `1_000`, full-width digits, nor one that
    overflows (`1e309`) or underflows to zero (`1e-400`)."""
    if not _NUMBER.fullmatch(text):
        raise typer.BadParameter(
            f"{text!r} is not a number (a negative one goes after --: "
            "trace score set NAME -- -1 ID...)",
            param_hint="'VALUE'",
        )
    number = float(text)
    mantissa = text.lower().partition("e")[0]
    if not math.isfinite(number) or (number == 0 and mantissa.strip("+-0.") != ""):
        raise typer.BadParameter(
            f"{text!r} is out of range (a score is a 64-bit float)", param_hint="'VALUE'"
        )
    return number + 0.0  # -0.0 is 0.0: SQLite would store it so, PostgreSQL would not


def _report(run: ScoreRun, as_json: bool, source: str) -> None:
    stats = run.stats
    if as_json:
        out: dict[str, object] = {
            "name": run.name,
            "source": source,
            "scored": run.scored,
            "scores": run.values,
        }
        if run.vanished:
            out["deleted_meanwhile"] = run.vanished
        if stats:
            out.update(stats)
        write_json(out)
    if not run.scored:
        say("no traces match: nothing scored")
        return
    plural = "" if run.scored == 1 else "s"
    line = f"scored {run.scored:,} trace{plural} as {run.name}"
    if run.values != run.scored:
        line += f" ({run.values:,} step scores)"
    if stats:
        line += f": mean {stats['mean']:.4g}, min {stats['min']:.4g}, max {stats['max']:.4g}"
    say(line)
    if run.vanished:
        were = "trace was" if run.vanished == 1 else "traces were"
        say(f"note: {run.vanished:,} {were} deleted while scoring; they were left out")


def _set(
    ctx: typer.Context, args: list[str], listed: tuple[str, ...], step: int | None, as_json: bool
) -> None:
    from tunix_rt.services import scores as service

    if len(args) < 2 or len(args) + len(listed) < 3:
        raise typer.BadParameter(
            "use: trace score set NAME VALUE ID... (a negative VALUE after --)",
            param_hint="'set'",
        )
    name = _name(args[0], "'NAME'")
    value = _value(args[1])
    ids = target_ids([*args[2:], *listed])
    with state(ctx).database() as db:
        run = service.set_scores(db, ids, name=name, value=value, step=step)
    _report(run, as_json, "human")


def target_ids(ids: list[str]) -> list[str]:
    from tunix_rt.filters import TraceFilter

    chosen = target(TraceFilter(), ids, all_=False)
    return list(chosen.ids or ())


@with_filter
@handle_errors
def score(
    ctx: typer.Context,
    ids: TraceIds = None,
    scorer: With = None,
    name: Name = None,
    batch_size: BatchSize = None,
    per_step: PerStep = False,
    step: Step = None,
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Score the traces chosen by ids, a filter, or both (all without either); store the scores.

    `trace score set NAME VALUE ID... [--step I]` records a human label instead.
    """
    from tunix_rt.services import scores as service

    if ids and ids[0] == SET:
        others = replace(selection, ids=(), ids_given=False)
        if not others.is_empty or scorer is not None or per_step or name is not None:
            raise typer.BadParameter(
                "`trace score set NAME VALUE ID...` takes ids (and --ids-from) only: no "
                "filter, --with, --name or --per-step",
                param_hint="'set'",
            )
        _set(ctx, ids[1:], selection.ids, step, as_json)
        return
    if step is not None:
        raise typer.BadParameter(
            "--step labels one step with `trace score set NAME VALUE ID... --step I`; "
            "to score every step with a function use --per-step",
            param_hint="--step",
        )
    if ids:
        selection = target(selection, ids, all_=False)
    if scorer is not None and not scorer.strip():
        raise typer.BadParameter(
            "empty: use baseline, MODULE:FUNCTION or path/to/rewards.py:FUNCTION",
            param_hint="--with",
        )
    spec = scorer or BASELINE
    if spec == BASELINE:
        if per_step:
            raise typer.BadParameter("the baseline scores whole traces", param_hint="--per-step")
        if batch_size is not None:
            raise typer.BadParameter(
                "only a reward function is called in batches", param_hint="--batch-size"
            )
        score_name = _name(name, "--name") if name is not None else BASELINE
        with state(ctx).database() as db:
            run = service.score_baseline(db, selection, name=score_name)
        _report(run, as_json, BASELINE)
        return
    if ":" not in spec.strip(":"):
        raise typer.BadParameter(
            f"{spec!r}: use baseline, MODULE:FUNCTION or path/to/rewards.py:FUNCTION",
            param_hint="--with",
        )
    from tunix_rt import rewards

    reward = rewards.load(spec)
    if name is not None:
        score_name = _name(name, "--name")
    else:
        try:
            score_name = _name(reward.name.lower(), "--name")
        except typer.BadParameter:
            raise typer.BadParameter(
                f"the function's name {reward.name!r} cannot name a score: give one with --name",
                param_hint="--with",
            ) from None
    with state(ctx).database() as db:
        run = service.score_reward(
            db,
            selection,
            reward,
            name=score_name,
            batch_size=batch_size or rewards.DEFAULT_BATCH,
            per_step=per_step,
        )
    _report(run, as_json, spec)
