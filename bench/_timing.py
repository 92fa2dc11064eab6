"""Whole-process timing helpers shared by the benchmarks.

The machines are noisy, so a comparison runs its two commands interleaved (A, B, A, B, ...):
drift in the machine's load then hits both sides alike, and the ratio of the medians is stable
where the absolute times are not.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Sequence


def _once(cmd: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def compare(
    ours: Sequence[str],
    baseline: Sequence[str],
    *,
    runs: int = 10,
    warmup: int = 2,
    env: dict[str, str] | None = None,
) -> tuple[float, float]:
    """Median wall time of each command over `runs` interleaved runs, after warm-ups."""
    full_env = {**os.environ, **(env or {})}
    a: list[float] = []
    b: list[float] = []
    for n in range(warmup + runs):
        ta, tb = _once(ours, full_env), _once(baseline, full_env)
        if n >= warmup:
            a.append(ta)
            b.append(tb)
    return statistics.median(a), statistics.median(b)
