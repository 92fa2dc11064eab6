"""The fixed traces of the export snapshot tests and where their expected outputs live.

`tests/data/golden/traces.jsonl` holds stored records (fixed ids and times, tags) chosen for
the edges: the formats.md snapshot cases, non-ASCII text, empty and absent meta, unsorted and
non-contiguous step indices, chat control tokens (nested ones too), a trace_version with a
quote, backslash and tab, two traces with the same created_at, a time given with an offset,
and a final answer that breaks Tunix's reward regex. `golden/<format>/<variant>.jsonl` is the
expected export of all of them, newest first. Set TUNIX_RT_UPDATE_GOLDEN=1 to rewrite the
files from the renderers (then read the diff before committing it).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from tunix_rt.formats import RAW, Options
from tunix_rt.records import RawRow
from tunix_rt.schema import canonical_json, validate_trace

GOLDEN = Path(__file__).parent / "data" / "golden"
INPUT = GOLDEN / "traces.jsonl"
SYSTEM = "You are a calculator."
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "system": ["--system", SYSTEM],
    "sanitize": ["--sanitize"],
}
UPDATE = os.environ.get("TUNIX_RT_UPDATE_GOLDEN") == "1"


def variants(fmt: str) -> list[str]:
    return ["default"] if fmt in RAW else list(VARIANTS)


def options(variant: str) -> Options:
    return Options(system=SYSTEM if variant == "system" else None, sanitize=variant == "sanitize")


def golden_path(fmt: str, variant: str) -> Path:
    return GOLDEN / fmt / f"{variant}.jsonl"


def raw_rows() -> list[RawRow]:
    """The fixed traces as the database hands them over, newest first (ties: id descending)."""
    rows: list[RawRow] = []
    for line in INPUT.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        payload = canonical_json(validate_trace(record["payload"]))
        created = datetime.fromisoformat(record["created_at"]).astimezone(UTC).isoformat()
        rows.append(
            RawRow(
                record["id"],
                created,
                hashlib.sha256(payload).hexdigest(),
                payload,
                tuple(sorted(record.get("tags", []))),
            )
        )
    rows.sort(key=lambda r: (datetime.fromisoformat(r.created_at), r.id), reverse=True)
    return rows
