"""The `tunix-rt` command line: one Typer sub-app per noun.

Heavy modules (SQLAlchemy, the services, Alembic) are imported inside the commands that need
them, so `tunix-rt --help` only pays for Typer.
"""

from __future__ import annotations

import os
import sys

# pydantic scans every installed distribution's entry points for observability plugins the
# first time a model class is built (~10 ms per command). tunix-rt uses none; a user who
# wants one can still set PYDANTIC_DISABLE_PLUGINS explicitly.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
from typing import Annotated, Any

import typer

from tunix_rt import __version__
from tunix_rt.cli import dataset as dataset_cli
from tunix_rt.cli import db as db_cli
from tunix_rt.cli import trace as trace_cli
from tunix_rt.cli._state import CliState
from tunix_rt.cli.completion import COMPLETE_VAR, completion
from tunix_rt.cli.config import config as config_command

# `-h` and `--help` on every command and group (sub-commands inherit the root's setting).
HELP_OPTION_NAMES = ["-h", "--help"]


def _readable_help_types() -> None:
    """No value placeholder after a flag in `--help` (`--json`, not `--json <bool>`).

    Typer 0.29's Rich help formatter (`rich_utils._print_options_panel`) prints
    `display_type_rich()` for every option, and `TyperOption.display_type_rich` returns the
    type label (`<bool>`) for flags too; only the plain formatter (`get_help_record`) leaves
    flags and counters out. Overriding the method makes every command's Rich help agree with
    it. Likewise an argument with its own metavar (`ID`) is not followed by the Python type
    (`<list[str]>`); one without keeps Typer's label (`<bash|zsh|fish>`).
    """
    from typer.core import TyperArgument, TyperOption

    option_type = TyperOption.display_type_rich
    argument_type = TyperArgument.display_type_rich

    def option_display(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag or self.count else option_type(self, ctx)

    def argument_display(self: TyperArgument, ctx: Any) -> str | None:
        return None if self.metavar is not None else argument_type(self, ctx)

    TyperOption.display_type_rich = option_display  # type: ignore[method-assign]
    TyperArgument.display_type_rich = argument_display  # type: ignore[method-assign,assignment]


_readable_help_types()


class _OneLineErrors(typer.core.TyperGroup):
    """The root group: a usage error (a mistyped option, a value out of range) is one line,
    `error: MESSAGE (see: COMMAND --help)`, exit 2, as every other error of tunix-rt; not
    Typer's usage text and framed panel.

    The command line runs in Click's non-standalone mode, so the errors come back here; what
    standalone mode would do with the rest (exit codes, Ctrl-C, EOF) is done the same way.
    """

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # Typer 0.29 carries its own copy of Click: its exceptions are the ones raised.
        from typer._click import exceptions as click
        from typer.exceptions import Abort

        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.NoArgsIsHelpError as exc:  # help was printed
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            _one_line_error(exc)
            sys.exit(exc.exit_code)
        except Abort:
            sys.stderr.write("aborted\n")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def _one_line_error(exc: Any) -> None:
    """`error: MESSAGE (see: tunix-rt trace list --help)` on stderr, control characters
    escaped (a mistyped value is echoed back)."""
    from tunix_rt.cli._output import literal

    message = " ".join(str(exc.format_message()).split())
    ctx = getattr(exc, "ctx", None)
    hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    if sys.stderr is not None:
        sys.stderr.write(f"error: {literal(message)}{hint}\n")


app = typer.Typer(
    cls=_OneLineErrors,
    name="tunix-rt",
    help="Collect, validate and curate LLM reasoning traces for Tunix fine-tuning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTION_NAMES},
)
app.add_typer(trace_cli.app, name="trace")
app.add_typer(db_cli.app, name="db")
app.add_typer(dataset_cli.app, name="dataset")
app.command("config")(config_command)
app.command("completion")(completion)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tunix-rt {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="Database URL (overrides TUNIX_RT_DATABASE_URL), e.g. sqlite:///traces.db "
            "or postgresql://user@host/dbname.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Collect, validate and curate LLM reasoning traces for Tunix fine-tuning."""
    ctx.obj = CliState(db_flag=db)


def _guard_standard_streams() -> None:
    """Put /dev/null behind stdin, stdout or stderr if tunix-rt was started with one closed.

    Otherwise the next file opened (the SQLite database, say) would get descriptor 1 and
    `print` would write into it. `sys.stdin` / `sys.stdout` stay None, so commands can tell
    (reading `-` or writing results to a closed stream is an error, see `data_out`).
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # pragma: no cover - lower descriptors are never free here
                os.dup2(opened, fd)
                os.close(opened)


def _on_sigterm(_signum: int, _frame: object) -> None:
    from tunix_rt.cli._output import Terminated

    raise Terminated


def main() -> None:
    """Console-script entry point."""
    import signal

    _guard_standard_streams()
    # SIGTERM is handled like Ctrl-C: the exception unwinds through every transaction.
    signal.signal(signal.SIGTERM, _on_sigterm)
    if os.environ.get(COMPLETE_VAR):
        from typer._completion_classes import completion_init

        completion_init()
    try:
        app(prog_name="tunix-rt", complete_var=COMPLETE_VAR)
    except BrokenPipeError:
        # The reader went away while Click was printing (help, a usage error): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        sys.exit(0)
    except OSError as exc:
        # Click printing help or a usage error onto a full disk: one line, not a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        if sys.stderr is not None:
            sys.stderr.write(f"error: {exc.strerror or exc}\n")
        sys.exit(1)
