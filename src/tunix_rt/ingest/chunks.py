"""What an upload's validation worker process runs: kept light, so a worker boots fast.

A spawned worker imports the module of every function it is sent. `services.upload` pulls
in SQLAlchemy and the database layer (0.38 s of imports, measured with `-X importtime`);
this module needs only the readers and the validator (0.14 s), so the workers are ready
sooner and spend their CPU on traces.

Pure code: no database, no terminal.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tunix_rt.ingest.readers import parse_line
from tunix_rt.ingest.validate import check_value, new_row


def validate_chunk(
    source: str, lines: list[tuple[int, bytes]], max_bytes: int, first_micros: int
) -> list[tuple[Any, ...]]:
    """Parse and validate JSON Lines records; compact, picklable results in input order.

    A valid record comes back as `(line, *NewRow)`, its id and `created_at` made here: the
    writing process reserved `first_micros` and the microseconds after it for this chunk
    (one per line), so timestamps still follow the input order. An invalid one comes back
    as `(line, [(field, message), ...], raw)`.
    """
    out: list[tuple[Any, ...]] = []
    for offset, (line_no, raw) in enumerate(lines):
        value, error = parse_line(raw)
        outcome = check_value(source, line_no, raw, value, error, max_bytes)
        if isinstance(outcome, list):
            out.append((line_no, [(e.field, e.message) for e in outcome], raw))
        else:
            out.append((line_no, *new_row(*outcome, at=first_micros + offset)))
    return out


def die_with_parent(parent: int) -> None:  # pragma: no cover - runs in the worker process
    """Worker initializer: if this upload is killed (even with -9), its workers go too.

    Ctrl-C and SIGTERM are left to the parent (which rolls back and stops the workers): a
    worker that took them too would print a traceback, or break the pool, on its own.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # SIGTERM to the process group: same
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
