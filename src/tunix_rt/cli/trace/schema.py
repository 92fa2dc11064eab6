"""`tunix-rt trace schema`: the JSON Schema (draft 2020-12) of trace schema v1.

Generated from the definition the validator uses (`tunix_rt.schema.trace_json_schema`), so an
editor or a generator can check traces before they are uploaded.
"""

from __future__ import annotations

from tunix_rt.cli._output import handle_errors
from tunix_rt.cli.trace.example import write_utf8


@handle_errors
def schema() -> None:
    """Print the trace format as a JSON Schema: tunix-rt trace schema > trace.schema.json"""
    import json

    from tunix_rt.schema import trace_json_schema

    text = json.dumps(trace_json_schema(), ensure_ascii=False, indent=2)
    write_utf8(text.encode("utf-8") + b"\n")
