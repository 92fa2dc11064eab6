"""`tunix-rt completion SHELL`: print the shell completion script.

Completion is Click's (via Typer): the script calls `tunix-rt` back with `_TUNIX_RT_COMPLETE`
set, and `main` registers the shells only then, so ordinary start-up pays nothing for it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

PROG = "tunix-rt"
COMPLETE_VAR = "_TUNIX_RT_COMPLETE"


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


_INSTALL = {
    Shell.bash: 'eval "$(tunix-rt completion bash)"   # in ~/.bashrc',
    Shell.zsh: 'eval "$(tunix-rt completion zsh)"    # in ~/.zshrc, after compinit',
    Shell.fish: "tunix-rt completion fish > ~/.config/fish/completions/tunix-rt.fish",
}


def completion(
    shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.", show_default=False)],
) -> None:
    """Print the completion script for SHELL.

    bash: eval "$(tunix-rt completion bash)" in ~/.bashrc;
    zsh: eval "$(tunix-rt completion zsh)" in ~/.zshrc (after compinit);
    fish: tunix-rt completion fish > ~/.config/fish/completions/tunix-rt.fish
    """
    from typer._completion_classes import completion_init
    from typer._completion_shared import get_completion_script

    from tunix_rt.cli._output import handle_errors, write_line

    completion_init()
    script = get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell.value)
    handle_errors(write_line)(script.rstrip("\n"))
