"""Quality-gate benchmark: speed and what gets caught, on generated traces with planted cases.

One data set is generated and stored once (`Bench`), then each section runs on it and prints
its numbers against the goals of issue 10:

- `lint`: every rule planted in its own traces; recall per rule and findings on clean traces
  (goal: all planted found, none on clean); speed of the rules alone (in process) and of the
  whole `trace lint` process on the stored traces and on the file. Goal >= 20,000 traces/s per
  core: `trace lint` is one single-threaded process, so traces per second of its own CPU time
  (user + system) is the per-core rate; wall time is printed beside it.
- `contamination`: copies of the eval set's items planted into clean prompts (verbatim, with
  case and spacing changed, inside longer prompts, truncated, one word in ten changed); recall
  per kind and matches on clean prompts (goal: 100% and none); speed of the matcher alone and
  of the whole `trace contamination` process. Goal >= 40,000 traces/s per core.


Sections are functions taking the `Bench`; `SECTIONS` lists them and `main` runs them all (or
those named with --only). More sections (dupes, scores) go beside these two.

Run: .venv/bin/python bench/quality.py [--traces N] [--only lint,contamination]
PostgreSQL runs too when TUNIX_RT_BENCH_POSTGRES_URL or TUNIX_RT_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TUNIX = str(Path(sys.executable).parent / "tunix-rt")
EVALSET = ROOT / "tests" / "data" / "shared" / "evalset_v2.jsonl"

VOCAB = [
    "the",
    "a",
    "we",
    "then",
    "so",
    "first",
    "next",
    "check",
    "value",
    "total",
    "number",
    "result",
    "sum",
    "product",
    "difference",
    "each",
    "both",
    "add",
    "subtract",
    "multiply",
    "divide",
    "carry",
    "digit",
    "column",
    "row",
    "term",
    "step",
    "part",
    "unit",
    "because",
    "since",
    "therefore",
    "hence",
    "note",
    "that",
    "this",
    "gives",
    "us",
    "keep",
    "track",
    "write",
    "down",
    "compute",
    "compare",
    "verify",
    "remaining",
    "previous",
    "current",
    "partial",
    "known",
    "unknown",
    "equation",
    "side",
    "left",
    "right",
    "move",
    "over",
    "both",
    "sides",
    "simplify",
    "expand",
    "factor",
    "group",
    "collect",
    "like",
    "terms",
    "rate",
    "time",
    "distance",
    "speed",
    "price",
    "cost",
    "count",
    "items",
    "per",
    "hour",
    "minute",
    "second",
    "day",
    "week",
    "apples",
    "books",
    "pencils",
    "boxes",
    "students",
    "teacher",
    "store",
]
NAMES = ["Ana", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
COUNTRIES = ["Spain", "Peru", "Kenya", "Norway", "Chile", "Japan", "Egypt", "Canada", "Ghana"]
UNITS = [("hours", "days"), ("minutes", "hours"), ("days", "weeks"), ("grams", "kilograms")]
OPS = ["+", "-", "\u00d7", "\u00f7"]


# --- the data set ---------------------------------------------------------------------------


def _sentence(rng: random.Random, low: int = 8, high: int = 16) -> str:
    words = [rng.choice(VOCAB) for _ in range(rng.randint(low, high))]
    words.insert(rng.randrange(len(words)), str(rng.randint(2, 9999)))
    return " ".join(words).capitalize() + "."


def clean_prompt(rng: random.Random) -> str:
    """A prompt near the eval set's topics that no rule may match: operands of 101..998,
    speeds other than 60, names other than John and Mary, counts from 4 up, no France."""
    kind = rng.randrange(6)
    if kind == 0:
        a, b = rng.randint(101, 998), rng.randint(101, 998)
        return f"What is {a} {rng.choice(OPS)} {b}?"
    if kind == 1:
        speed, hours = rng.randint(61, 150), rng.randint(3, 9)
        return f"A train travels at {speed} km/h for {hours} hours. How far does it travel?"
    if kind == 2:
        a, b = rng.randint(11, 99), rng.randint(11, 99)
        x, y = rng.sample(NAMES, 2)
        return f"If {x} has {a + b} apples and gives {b} to {y}, how many are left?"
    if kind == 3:
        return f"What is the capital of {rng.choice(COUNTRIES)}?"
    if kind == 4:
        small, big = rng.choice(UNITS)
        return f"How many {small} are in {rng.randint(4, 99)} {big}?"
    return f"Question {rng.randint(1, 10**6)}: " + _sentence(rng, 6, 14)


def clean_trace(rng: random.Random, prompt: str) -> dict[str, Any]:
    answer = str(rng.randint(0, 10_000))
    count = rng.randint(2, 10)
    steps = [
        {"i": i, "type": rng.choice(("plan", "calc", "check")), "content": _sentence(rng)}
        for i in range(count - 1)
    ]
    steps.append({"i": count - 1, "type": "answer", "content": f"So the answer is {answer}."})
    return {
        "trace_version": "1.0",
        "prompt": prompt,
        "final_answer": answer,
        "steps": steps,
        "meta": {"bench": "quality"},
    }


def _renumber(steps: list[dict[str, Any]]) -> None:
    for n, step in enumerate(steps):
        step["i"] = n


def plant_lint(rule: str, t: dict[str, Any], rng: random.Random) -> None:
    """Make `t` (a clean trace) break `rule`."""
    steps = t["steps"]
    if len(steps) < 4:
        steps[:-1] = [{"i": 0, "type": "calc", "content": _sentence(rng)} for _ in range(3)]
        _renumber(steps)
    k = rng.randrange(len(steps) - 1)
    if rule == "control-token":
        token = rng.choice(["<start_of_turn>", "<eos>", "<|im_start|>", "<|eot_id|>"])
        steps[k]["content"] += f" {token}"
    elif rule == "unbalanced-tag":
        steps[0]["content"] = "<think> " + steps[0]["content"]
    elif rule == "stray-tag":
        t["prompt"] += " Answer inside <answer></answer>."
    elif rule == "empty-text":
        t["prompt"] = " \n "
    elif rule == "empty-step":
        steps[k]["content"] = "   "
    elif rule == "duplicate-step":
        steps.insert(k + 1, dict(steps[k]))
        _renumber(steps)
    elif rule == "repeated-step":
        steps.insert(2, {**steps[0], "type": "recall"})
        _renumber(steps)
    elif rule == "answer-mismatch":
        steps[-1]["content"] += f" <answer>{int(t['final_answer']) + 1}</answer>"
    elif rule == "answer-missing":
        steps[-1]["content"] = "That settles it."
    elif rule == "repetition":
        steps[k]["content"] = "Let me check this value again. " * 8
    elif rule == "too-long":
        steps[k]["content"] = "x" * 17_000
        steps.insert(k, {"i": 0, "type": "calc", "content": "y" * 17_000})
        _renumber(steps)
    elif rule == "step-order":
        steps[0], steps[1] = steps[1], steps[0]
    elif rule == "step-gap":
        for step in steps[k + 1 :]:
            step["i"] += 1
    else:  # pragma: no cover
        raise ValueError(rule)


def _word_spans(text: str) -> list[tuple[int, int]]:
    from tunix_rt.contamination import _WORDS

    return [m.span() for m in _WORDS.finditer(text)]


def one_in_ten(prompt: str, rng: random.Random, *, random_place: bool) -> str:
    """Change one word in ten: the 10th, 20th, ... word, or (random_place) a random word of
    each block of ten. Words as the contamination rules count them."""
    spans = _word_spans(prompt)
    chosen = [
        start + (rng.randrange(min(10, len(spans) - start)) if random_place else 9)
        for start in range(0, len(spans), 10)
    ]
    out = prompt
    for n in sorted((c for c in chosen if c < len(spans)), reverse=True):
        a, b = spans[n]
        out = out[:a] + "quux" + out[b:]
    return out


def truncated(prompt: str) -> str:
    """The first two thirds of the words (at least 8), cut mid-sentence."""
    spans = _word_spans(prompt)
    keep = max(8, -(-len(spans) * 2 // 3))
    return prompt[: spans[keep - 1][1]]


@dataclass
class Bench:
    """The generated data: traces, what was planted where, and the stores holding them."""

    tmp: Path
    traces: list[dict[str, Any]]
    lint_planted: dict[int, str]  # trace index -> rule
    eval_planted: dict[int, tuple[str, str]]  # trace index -> (kind of copy, eval item id)
    file: Path
    stores: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # label -> (url, ids)


LINT_RULES = [
    "control-token",
    "unbalanced-tag",
    "stray-tag",
    "empty-text",
    "empty-step",
    "duplicate-step",
    "repeated-step",
    "answer-mismatch",
    "answer-missing",
    "repetition",
    "too-long",
    "step-order",
    "step-gap",
]
COPY_KINDS = ["verbatim", "case-and-spacing", "inside-longer", "truncated", "one-in-ten"]
INFO_KINDS = ["one-in-ten-random"]  # printed, not part of the goal


def generate(count: int, tmp: Path, seed: int = 11) -> Bench:
    rng = random.Random(seed)
    evals = [json.loads(line) for line in EVALSET.read_text(encoding="utf-8").splitlines()]
    traces = [clean_trace(rng, clean_prompt(rng)) for _ in range(count)]
    slots = iter(rng.sample(range(count), count))
    lint_planted: dict[int, str] = {}
    per_rule = max(1, count // 400)
    for rule in LINT_RULES:
        for _ in range(per_rule):
            n = next(slots)
            plant_lint(rule, traces[n], rng)
            lint_planted[n] = rule
    eval_planted: dict[int, tuple[str, str]] = {}
    for item in evals:
        prompt, words = item["prompt"], len(_word_spans(item["prompt"]))
        copies = {
            "verbatim": prompt,
            "case-and-spacing": "  ".join(prompt.upper().split()),
            "inside-longer": f"{_sentence(rng, 3, 6)} {prompt} {_sentence(rng, 3, 6)}",
        }
        if words >= 8:  # shorter items have no part that is still a copy of the whole
            copies["truncated"] = truncated(prompt)
        if words >= 10:  # shorter items have no tenth word
            copies["one-in-ten"] = one_in_ten(prompt, rng, random_place=False)
            copies["one-in-ten-random"] = one_in_ten(prompt, rng, random_place=True)
        for kind, text in copies.items():
            n = next(slots)
            lint_planted.pop(n, None)
            traces[n].update(clean_trace(rng, text))
            eval_planted[n] = (kind, item["id"])
    file = tmp / "quality.jsonl"
    with file.open("wb") as out:
        for t in traces:
            out.write(orjson.dumps(t) + b"\n")
    return Bench(tmp, traces, lint_planted, eval_planted, file)


def store(bench: Bench, label: str, url: str) -> None:
    subprocess.run([TUNIX, "--db", url, "db", "upgrade"], check=True, capture_output=True)
    done = subprocess.run(
        [TUNIX, "--db", url, "trace", "upload", str(bench.file), "-q"],
        check=True,
        capture_output=True,
        text=True,
    )
    ids = done.stdout.split()
    assert len(ids) == len(bench.traces), "every generated trace is distinct"
    bench.stores[label] = (url, ids)


# --- measuring ------------------------------------------------------------------------------


def run_process(cmd: list[str]) -> tuple[float, float, bytes]:
    """Wall seconds, CPU seconds (user + system) of the child, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {done.returncode}")
    return wall, cpu, done.stdout


def best_of(runs: int, fn: Callable[[], tuple[float, float, bytes]]) -> tuple[float, float, bytes]:
    """The run with the least CPU time (the machine's noise only ever adds time)."""
    results = [fn() for _ in range(runs)]
    return min(results, key=lambda r: r[1])


def rate_line(label: str, count: int, wall: float, cpu: float, goal: int) -> str:
    per_core = count / cpu
    verdict = "meets" if per_core >= goal else "MISSES"
    return (
        f"  {label:<44} {count / wall:>9,.0f} traces/s wall, {per_core:>9,.0f} per CPU second "
        f"({verdict} goal >= {goal:,})"
    )


# --- sections -------------------------------------------------------------------------------


def lint_section(bench: Bench) -> None:
    from tunix_rt.lint import lint

    print(f"\n== lint: {len(bench.traces):,} traces, {len(bench.lint_planted):,} planted ==")
    start = time.process_time()
    for t in bench.traces:
        lint(t)
    cpu = time.process_time() - start
    print(
        f"  {'rules alone (in process, parsed payloads)':<44} "
        f"{len(bench.traces) / cpu:>9,.0f} traces per CPU second"
    )

    for label, (url, ids) in bench.stores.items():
        index = {ident: n for n, ident in enumerate(ids)}
        wall, cpu, out = best_of(
            3, lambda u=url: run_process([TUNIX, "--db", u, "trace", "lint", "--json"])
        )
        print(rate_line(f"trace lint, stored ({label})", len(ids), wall, cpu, 20_000))
        findings = orjson.loads(out)["findings"]
        report_lint_recall(bench, [(index[f["trace"]], f["rule"]) for f in findings], label)

    wall, cpu, out = best_of(
        3, lambda: run_process([TUNIX, "trace", "lint", "--json", str(bench.file)])
    )
    print(
        rate_line("trace lint FILE (validates, then lints)", len(bench.traces), wall, cpu, 20_000)
    )
    findings = orjson.loads(out)["findings"]
    report_lint_recall(bench, [(f["line"] - 1, f["rule"]) for f in findings], "file")


def report_lint_recall(bench: Bench, found: list[tuple[int, str]], label: str) -> None:
    by_trace: dict[int, set[str]] = defaultdict(set)
    for n, rule in found:
        by_trace[n].add(rule)
    missed = Counter(
        rule for n, rule in bench.lint_planted.items() if rule not in by_trace.get(n, set())
    )
    on_clean = sum(1 for n in by_trace if n not in bench.lint_planted)
    total = len(bench.lint_planted)
    caught = total - sum(missed.values())
    print(
        f"  {label}: planted cases found {caught:,}/{total:,} ({caught / total:.0%}); "
        f"clean traces with findings: {on_clean:,}"
        + (f"; missed: {dict(missed)}" if missed else "")
    )


def contamination_section(bench: Bench) -> None:
    from tunix_rt.contamination import Matcher, parse_items
    from tunix_rt.ingest.readers import read_records

    items = parse_items(read_records(str(EVALSET)))
    planted = len(bench.eval_planted)
    print(
        f"\n== contamination: {len(bench.traces):,} traces, {len(items)} eval items, "
        f"{planted:,} planted copies =="
    )
    matcher = Matcher(items)
    prompts = [t["prompt"] for t in bench.traces]
    start = time.process_time()
    hits = {n for n, p in enumerate(prompts) if matcher.match(p)}
    cpu = time.process_time() - start
    print(
        f"  {'matcher alone (in process, prompts)':<44} {len(prompts) / cpu:>9,.0f} "
        "prompts per CPU second"
    )
    report_eval_recall(bench, hits, "matcher")

    for label, (url, ids) in bench.stores.items():
        index = {ident: n for n, ident in enumerate(ids)}
        cmd = [TUNIX, "--db", url, "trace", "contamination", "--evalset", str(EVALSET), "--json"]
        wall, cpu, out = best_of(3, lambda c=cmd: run_process(c))
        print(rate_line(f"trace contamination ({label})", len(ids), wall, cpu, 40_000))
        report = orjson.loads(out)
        found = {index[m["trace"]] for item in report["items"] for m in item["matches"]}
        report_eval_recall(bench, found, label)


def report_eval_recall(bench: Bench, found: set[int], label: str) -> None:
    by_kind: dict[str, list[int]] = defaultdict(list)
    for n, (kind, _) in bench.eval_planted.items():
        by_kind[kind].append(n)
    parts = []
    for kind in COPY_KINDS + INFO_KINDS:
        ns = by_kind[kind]
        got = sum(1 for n in ns if n in found)
        note = " (not a goal)" if kind in INFO_KINDS else ""
        parts.append(f"{kind} {got}/{len(ns)}{note}")
    false = sum(1 for n in found if n not in bench.eval_planted)
    goal = all(n in found for kind in COPY_KINDS for n in by_kind[kind])
    print(
        f"  {label}: recall {', '.join(parts)}; matches on clean traces: {false:,} "
        f"({'meets' if goal and not false else 'MISSES'} goal: 100% and none)"
    )


SECTIONS: dict[str, Callable[[Bench], None]] = {
    "lint": lint_section,
    "contamination": contamination_section,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; known: {', '.join(SECTIONS)}")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bench = generate(args.traces, tmp)
        store(bench, "SQLite", f"sqlite:///{tmp / 'quality.db'}")
        admin = os.environ.get("TUNIX_RT_BENCH_POSTGRES_URL") or os.environ.get(
            "TUNIX_RT_TEST_POSTGRES_URL"
        )
        pg_name = None
        if admin:
            import psycopg

            pg_name = f"tunix_rt_quality_{uuid.uuid4().hex[:8]}"
            libpq = admin.replace("postgresql+psycopg://", "postgresql://", 1)
            with psycopg.connect(libpq, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{pg_name}"')  # type: ignore[arg-type]
            store(bench, "PostgreSQL", re.sub(r"/[^/]*$", f"/{pg_name}", libpq))
        try:
            for name in chosen:
                SECTIONS[name](bench)
        finally:
            if admin and pg_name:
                import psycopg

                libpq = admin.replace("postgresql+psycopg://", "postgresql://", 1)
                with psycopg.connect(libpq, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
