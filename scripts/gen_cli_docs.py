"""Write docs/cli.md: every tunix-rt command's `--help`, as plain text.

    .venv/bin/python scripts/gen_cli_docs.py            # regenerate docs/cli.md
    .venv/bin/python scripts/gen_cli_docs.py --check    # exit 1 if docs/cli.md is stale

The help is rendered in-process by Click's plain formatter (Typer's Rich boxes and colours
are switched off on a private copy of the command tree) at a fixed width of 100 columns, so
the text depends neither on the terminal, nor on TERM / COLUMNS / NO_COLOR, nor on the locale.
`tests/test_docs.py` regenerates it and fails when docs/cli.md differs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
import typer.main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "cli.md"
PROG = "tunix-rt"
WIDTH = 100
REGENERATE = ".venv/bin/python scripts/gen_cli_docs.py"


def command_tree(app: typer.Typer) -> Any:
    """The Click command tree of `app`, a private copy, with Rich help turned off."""
    root = typer.main.get_command(app)
    for _path, command in walk(root):
        command.rich_markup_mode = None  # Click's plain formatter: no boxes, no colour
    return root


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, command) for `command` and every sub-command, depth first, in help order."""
    yield path, command
    commands: dict[str, Any] = getattr(command, "commands", {})
    for name in command.list_commands(None) if commands else ():
        sub = commands[name]
        if not sub.hidden:
            yield from walk(sub, (*path, name))


def _context(root: Any, path: tuple[str, ...]) -> tuple[Any, Any]:
    """The command at `path` and a context for it, as `tunix-rt PATH --help` would make."""
    ctx = root.make_context(
        PROG, [], resilient_parsing=True, terminal_width=WIDTH, max_content_width=WIDTH
    )
    command = root
    for name in path:
        command = command.commands[name]
        ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
    return command, ctx


def help_text(root: Any, path: tuple[str, ...]) -> str:
    """What `tunix-rt PATH --help` prints, in plain text."""
    command, ctx = _context(root, path)
    lines = [line.rstrip() for line in command.get_help(ctx).splitlines()]
    return "\n".join(lines).strip("\n")


def title(path: tuple[str, ...]) -> str:
    return " ".join((PROG, *path))


def anchor(path: tuple[str, ...]) -> str:
    """GitHub's anchor for the heading `title(path)`."""
    return title(path).replace(" ", "-")


def render(app: typer.Typer) -> str:
    """The whole of docs/cli.md for `app`."""
    root = command_tree(app)
    paths = [path for path, _ in walk(root)]
    out = [
        "# tunix-rt command reference",
        "",
        "<!-- Generated from the commands' --help by scripts/gen_cli_docs.py: do not edit by",
        f"     hand. Regenerate with `{REGENERATE}`; tests/test_docs.py checks it. -->",
        "",
        "Every command's `--help` (`-h` works as well), in plain text. Options that several "
        "commands share",
        "(the trace filters `--since`, `--tag`, `--meta`, ...) mean the same everywhere. Exit "
        "codes: 0 success,",
        "1 error, 2 usage error.",
        "",
    ]
    for path in paths:
        command, _ = _context(root, path)
        summary = command.get_short_help_str(limit=WIDTH)
        indent = "  " * max(len(path) - 1, 0)
        out.append(f"{indent}- [`{title(path)}`](#{anchor(path)}): {summary}")
    for path in paths:
        out += ["", f"## {title(path)}", "", "```text", help_text(root, path), "```"]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    from tunix_rt.cli import app

    text = render(app)
    if argv == ["--check"]:
        if DOC.exists() and DOC.read_text(encoding="utf-8") == text:
            return 0
        print(f"docs/cli.md is out of date: run `{REGENERATE}`", file=sys.stderr)
        return 1
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)} ({len(text.splitlines())} lines)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
