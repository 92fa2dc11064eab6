"""Options that several commands share, defined once (Annotated aliases for Typer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from tunix_rt.filters import TraceFilter

R = TypeVar("R")

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


# --- the filter options, shared by every command that selects traces ----------------------

_FILTER_PANEL = "Select traces"
_FILTER_OPTIONS: dict[str, tuple[Any, Any]] = {
    "since": (
        Annotated[
            str | None,
            typer.Option(
                "--since",
                metavar="TIME",
                help="Created at or after TIME: an ISO date/time (UTC unless it has an offset) "
                "or an age such as 7d, 12h.",
                show_default=False,
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
        None,
    ),
    "until": (
        Annotated[
            str | None,
            typer.Option(
                "--until",
                metavar="TIME",
                help="Created before TIME (exclusive); same forms as --since.",
                show_default=False,
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
        None,
    ),
    "version": (
        Annotated[
            list[str] | None,
            typer.Option(
                "--version",
                metavar="V",
                help="trace_version is V (repeat: any of them).",
                show_default=False,
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
        None,
    ),
    "meta": (
        Annotated[
            list[str] | None,
            typer.Option(
                "--meta",
                metavar="KEY=VALUE",
                help="meta KEY (dotted for nested) equals VALUE, or is a list containing it; "
                'numbers match by value (2 finds 2 and "2"). Repeat: all must hold.',
                show_default=False,
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
        None,
    ),
    "tag": (
        Annotated[
            list[str] | None,
            typer.Option(
                "--tag",
                metavar="TAG",
                help="Has tag TAG (repeat: all of them).",
                show_default=False,
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
        None,
    ),
    "no_tag": (
        Annotated[
            list[str] | None,
            typer.Option(
                "--no-tag",
                metavar="TAG",
                help="Does not have tag TAG (repeat: none of them).",
                show_default=False,
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
        None,
    ),
    "score": (
        Annotated[
            list[str] | None,
            typer.Option(
                "--score",
                metavar="NAME>=X",
                help="The trace's score NAME (`trace score`) is >= X (also <= and =); "
                "repeat: all must hold.",
                show_default=False,
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
        None,
    ),
    "steps": (
        Annotated[
            str | None,
            typer.Option(
                "--steps",
                metavar="RANGE",
                help="Number of steps in RANGE: 3..8 (inclusive), 3.., ..8 or 5.",
                show_default=False,
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
        None,
    ),
    "search": (
        Annotated[
            str | None,
            typer.Option(
                "--search",
                "-q",
                metavar="TEXT",
                help='Prompt, steps or final answer contain every word of TEXT ("quoted '
                'phrase" for a phrase); case-insensitive, accent-sensitive, any language.',
                show_default=False,
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
        None,
    ),
    "ids_from": (
        Annotated[
            str | None,
            typer.Option(
                "--ids-from",
                metavar="FILE|-",
                help="Only these ids (or unique prefixes), one per line, as other commands "
                "print them; JSON lines with an id work too. - reads stdin.",
                show_default=False,
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
        None,
    ),
}


def _bad(option: str, exc: Exception) -> typer.BadParameter:
    return typer.BadParameter(str(exc), param_hint=f"'{option}'")


MAX_ID_LINE = 1 << 20  # a `trace list --jsonl` record fits; /dev/zero does not


def _bounded_lines(handle: Any, source: str) -> Iterator[str]:
    """Lines of at most MAX_ID_LINE characters (a file with no newline cannot eat memory)."""
    from tunix_rt.cli._output import literal

    number = 0
    while True:
        line = handle.readline(MAX_ID_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_ID_LINE:
            raise typer.BadParameter(
                f"{literal(source)}:{number}: line longer than {MAX_ID_LINE} characters: "
                "expected one id per line",
                param_hint="'--ids-from'",
            )
        yield line


def _read_id_lines(source: str) -> list[str]:
    import sys

    from tunix_rt.cli._output import literal
    from tunix_rt.filters import parse_id_lines

    if source == "-":
        if sys.stdin is None:
            raise typer.BadParameter("stdin is closed", param_hint="'--ids-from'")
        return parse_id_lines(_bounded_lines(sys.stdin, "<stdin>"), "<stdin>")
    try:
        with open(source, encoding="utf-8", errors="strict") as handle:
            return parse_id_lines(_bounded_lines(handle, source), source)
    except UnicodeDecodeError:
        raise typer.BadParameter(
            f"{literal(source)} is not UTF-8 text", param_hint="'--ids-from'"
        ) from None
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {literal(source)}: {exc.strerror or exc}", param_hint="'--ids-from'"
        ) from None


def build_filter(values: dict[str, Any]) -> TraceFilter:
    """A TraceFilter from the filter options' raw values; a bad value is a usage error."""
    from tunix_rt import filters as fl

    parts: dict[str, Any] = {}
    try:
        option = "--since"
        if values.get("since") is not None:
            parts["since"] = fl.parse_time(values["since"])
        option = "--until"
        if values.get("until") is not None:
            parts["until"] = fl.parse_time(values["until"])
        option = "--version"
        parts["versions"] = tuple(fl.parse_version(v) for v in values.get("version") or ())
        option = "--meta"
        parts["meta"] = tuple(fl.parse_meta(v) for v in values.get("meta") or ())
        option = "--tag"
        parts["tags"] = tuple(dict.fromkeys(fl.parse_tag(v) for v in values.get("tag") or ()))
        option = "--no-tag"
        parts["no_tags"] = tuple(dict.fromkeys(fl.parse_tag(v) for v in values.get("no_tag") or ()))
        option = "--steps"
        if values.get("steps") is not None:
            parts["steps"] = fl.parse_steps(values["steps"])
        option = "--search"
        if values.get("search") is not None:
            parts["search"] = fl.parse_search(values["search"])
        option = "--score"
        parts["scores"] = tuple(fl.parse_score(v) for v in values.get("score") or ())
        option = "--ids-from"
        selection = fl.TraceFilter(**parts)
        if values.get("ids_from") is not None:
            selection = selection.with_ids(_read_id_lines(values["ids_from"]))
    except fl.FilterValueError as exc:
        raise _bad(option, exc) from None
    return selection


def with_filter(fn: Callable[..., R]) -> Callable[..., R]:
    """Give a command the filter options; it receives them as `selection: TraceFilter`.

    The command declares `selection: TraceFilter` (no default) as its last parameter; Typer
    sees the filter options in its place, defined once here.
    """
    import functools
    import inspect

    # Evaluate the command's own annotations only: `selection: TraceFilter` may be imported
    # under TYPE_CHECKING (so `--help` does not pay for importing the filter module).
    raw = inspect.signature(fn)
    names = inspect.unwrap(fn).__globals__  # the command module's names, not a decorator's
    own = [
        p.replace(annotation=eval(p.annotation, names)) if isinstance(p.annotation, str) else p
        for p in raw.parameters.values()
        if p.name != "selection"
    ]
    sig = raw.replace(return_annotation=None)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=default)
        for name, (ann, default) in _FILTER_OPTIONS.items()
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        values = {name: kwargs.pop(name, None) for name in _FILTER_OPTIONS}
        return fn(*args, selection=build_filter(values), **kwargs)

    wrapper.__signature__ = sig.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{p.name: p.annotation for p in own},
        **{name: ann for name, (ann, _) in _FILTER_OPTIONS.items()},
        "return": sig.return_annotation,
    }
    return wrapper


def tag_name(value: str | None) -> str | None:
    """Typer callback for an option or argument that names a tag (`--tag-as`, `TAG`)."""
    from tunix_rt.filters import FilterValueError, parse_tag

    if value is None:
        return None
    try:
        return parse_tag(value)
    except FilterValueError as exc:
        raise typer.BadParameter(str(exc)) from None


# --- positional ids with a filter: which traces a changing command (tag, delete) works on ---

TraceIds = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="ID",
        help="Trace ids or unique prefixes. With filter options: those of these ids that "
        "the filter selects.",
        show_default=False,
    ),
]
_HEX = frozenset("0123456789abcdef")


def target(selection: TraceFilter, ids: list[str] | None, *, all_: bool) -> TraceFilter:
    """The traces a changing command works on: the given ids (positional and --ids-from
    together) AND the filter options. Nothing at all is a usage error (it would mean every
    trace): `--all` says so explicitly, and only alone."""
    from tunix_rt.cli._output import fail, literal

    for ident in ids or ():
        digits = ident.strip().lower().replace("-", "")
        if not digits or len(digits) > 32 or not set(digits) <= _HEX:
            raise typer.BadParameter(
                f"{literal(ident)!r} is not a trace id or prefix (hexadecimal, as `trace "
                "list` prints them); to select by tag use --tag",
                param_hint="'ID'",
            )
    chosen = selection.with_ids(ids) if ids else selection
    if all_ and not chosen.is_empty:
        raise fail("--all means every trace: give it alone, without ids or filter options", code=2)
    if not all_ and chosen.is_empty:
        raise fail(
            "say which traces: give ids, filter options (--tag, --since, --meta, ...; see "
            "--help) or both, or --all for every trace",
            code=2,
        )
    return chosen
