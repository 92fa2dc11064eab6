"""`tunix-rt trace example [--jsonl N]`: a valid trace to start from, or N of them to load.

The single example is the original web service's "Load Example" trace, printed as indented
JSON; `--jsonl N` prints N varied, distinct traces (none equal to the single example), one per
line. Both are written as UTF-8 whatever the locale, so they pipe into `trace upload -`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tunix_rt.cli._output import data_out, handle_errors

MAX_EXAMPLES = 1_000_000  # tunix_rt.examples.MAX_EXAMPLES, without importing it for --help
CHUNK = 1000


def write_utf8(data: bytes) -> None:
    """Bytes on stdout (data), as they are: JSON is UTF-8 whatever the terminal's locale."""
    out = data_out()
    out.flush()
    buffer = getattr(out, "buffer", None)
    if buffer is None:  # pragma: no cover - a text-only stdout (embedding)
        out.write(data.decode("utf-8"))
    else:
        buffer.write(data)


@handle_errors
def example(
    jsonl: Annotated[
        int | None,
        typer.Option(
            "--jsonl",
            metavar="N",
            min=1,
            max=MAX_EXAMPLES,
            help="Print N varied, valid, distinct traces as JSON Lines instead (always the same "
            "ones), e.g. --jsonl 100 | tunix-rt trace upload -",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print an example trace to start from: tunix-rt trace example | tunix-rt trace upload -"""
    import json

    from tunix_rt import examples

    if jsonl is None:
        text = json.dumps(examples.example_trace(), ensure_ascii=False, indent=2)
        write_utf8(text.encode("utf-8") + b"\n")
        return
    import orjson

    chunk: list[bytes] = []
    for trace in examples.example_traces(jsonl):
        chunk.append(orjson.dumps(trace))
        if len(chunk) == CHUNK:
            write_utf8(b"\n".join(chunk) + b"\n")
            chunk = []
    if chunk:
        write_utf8(b"\n".join(chunk) + b"\n")
