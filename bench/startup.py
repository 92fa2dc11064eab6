"""Start-up benchmark: how fast does tunix-rt answer?

Times whole processes (median of 10 after 2 warm-up runs), all in this one run, and prints:
- `tunix-rt --help` against `sqlite-utils --version` (goal: ratio <= 1.2);
- `tunix-rt trace list` on a 10,000-trace SQLite file against
  `python -c "import sqlmodel, typer, rich"` (goal: ratio <= 1.2).

Run: .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import compare

BIN = Path(sys.executable).parent


def make_traces(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for n in range(count):
            steps = [
                {
                    "i": i,
                    "type": rng.choice(["parse", "compute", "check"]),
                    "content": f"step {i} " * rng.randint(5, 60),
                }
                for i in range(rng.randint(2, 12))
            ]
            trace = {
                "trace_version": "1.0",
                "prompt": f"Question {n}: " + "why " * rng.randint(5, 50),
                "final_answer": str(n),
                "steps": steps,
                "meta": {"seed": seed, "n": n},
            }
            fh.write(json.dumps(trace) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "traces.jsonl"
        make_traces(data, 10_000)
        db = f"sqlite:///{work / 'bench.db'}"
        tunix = str(BIN / "tunix-rt")
        env = {"HOME": tmp, "XDG_DATA_HOME": str(work / "data")}
        subprocess.run(
            [tunix, "--db", db, "trace", "upload", str(data)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pairs = [
            (
                "tunix-rt --help",
                [tunix, "--help"],
                "sqlite-utils --version",
                [str(BIN / "sqlite-utils"), "--version"],
            ),
            (
                "tunix-rt trace list (10,000 traces)",
                [tunix, "--db", db, "trace", "list"],
                'python -c "import sqlmodel, typer, rich"',
                [sys.executable, "-c", "import sqlmodel, typer, rich"],
            ),
        ]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {platform.platform()}")
        print("whole processes, median of 10 interleaved runs after 2 warm-ups")
        for name, cmd, base_name, base in pairs:
            ours, theirs = compare(cmd, base, env=env)
            print(
                f"{name:36s} {ours * 1000:6.1f} ms | {base_name:41s} {theirs * 1000:6.1f} ms"
                f" | ratio {ours / theirs:.2f} (goal <= 1.20)"
            )


if __name__ == "__main__":
    main()
