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

- `dupes`: near-duplicate pairs planted over clean traces (1-2% word edits, truncated and
  reordered steps, CJK with a character or two changed, short traces differing in case and
  punctuation, case-and-spacing copies, pairs at similarity 0.80..0.85); recall per kind and
  members reported below the threshold (goal: recall >= 0.95, precision 1.0) of `trace dupes
  --near` and of a reference built on datasketch (MinHash, MinHashLSH with the same 21 x 6
  bands, the same shingles, each candidate checked on its shingle sets); speed against that
  reference, both whole pipelines from the SQLite file to clusters (goal >= 1.4x); the same
  store again once checked, and after 10,000 more traces (only those are sketched).

- `score`: the baseline formula alone (in process) and the whole `trace score --with baseline`
  process, which reads, scores and stores every trace (goal >= 20,000 traces/s per core); then
  `trace score --with rewards.py:exact_answer`, a one-line reward function with Tunix's
  signature over the same traces in batches of 64 (no goal: it shows what the plumbing around a
  user's function costs), and a check that every stored baseline equals the formula's value.

Sections are functions taking the `Bench`; `SECTIONS` lists them and `main` runs them all (or
those named with --only).

Run: .venv/bin/python bench/quality.py [--traces N] [--only lint,contamination,dupes,score]
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
from collections.abc import Callable, Iterator
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
    dupes_planted: list[tuple[int, int, str]] = field(default_factory=list)  # (source, copy, kind)


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
    dupes_planted = plant_dupes(traces, slots, rng)
    file = tmp / "quality.jsonl"
    with file.open("wb") as out:
        for t in traces:
            out.write(orjson.dumps(t) + b"\n")
    return Bench(tmp, traces, lint_planted, eval_planted, file, dupes_planted=dupes_planted)


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


# --- dupes ----------------------------------------------------------------------------------

DUPE_KINDS = [
    "word-edit",
    "truncated",
    "reordered",
    "cjk",
    "short",
    "exact-case-space",
    "at-threshold",  # words replaced until the exact similarity is 0.80..0.85
]
CJK_CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下"
    "过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两"
    "体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线"
)
CJK_STOPS = "\uff0c\u3002"  # fullwidth comma, ideographic full stop


def _cjk_sentence(rng: random.Random, low: int = 18, high: int = 40) -> str:
    text = "".join(rng.choice(CJK_CHARS) for _ in range(rng.randint(low, high)))
    cut = rng.randrange(5, len(text) - 5)
    return text[:cut] + CJK_STOPS[0] + text[cut:] + CJK_STOPS[1]


def _words(t: dict[str, Any]) -> int:
    return sum(len(s["content"].split()) for s in t["steps"]) + len(t["prompt"].split())


def _dupe_source(kind: str, rng: random.Random) -> dict[str, Any]:
    """A clean trace to copy: long enough that a 1-2% edit is a word or two."""
    if kind == "cjk":
        answer = str(rng.randint(0, 10_000))
        steps = [_cjk_sentence(rng) for _ in range(rng.randint(2, 5))]
        steps.append(f"\u6240\u4ee5\u7b54\u6848\u662f {answer}\u3002")  # "so the answer is"
        return {
            "trace_version": "1.0",
            "prompt": _cjk_sentence(rng, 20, 50),
            "final_answer": answer,
            "steps": [{"i": i, "type": "calc", "content": c} for i, c in enumerate(steps)],
            "meta": {"bench": "quality"},
        }
    if kind == "short":
        answer = str(rng.randint(0, 99))
        words = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(1, 3)))
        words += f" {rng.randint(100, 99_999)}"  # distinct from the other short traces
        return {
            "trace_version": "1.0",
            "prompt": words.capitalize() + "?",
            "final_answer": answer,
            "steps": [{"i": 0, "type": "answer", "content": f"It is {answer}."}],
            "meta": {"bench": "quality"},
        }
    while True:
        t = clean_trace(rng, clean_prompt(rng))
        if _words(t) >= 60 and len(t["steps"]) >= 4:
            return t


def _dupe_copy(kind: str, src: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A near-duplicate of `src`; the last step (with the answer) stays last."""
    t = json.loads(json.dumps(src))
    steps = t["steps"]
    if kind == "word-edit":  # 1-2% of the words of the steps replaced
        places = [
            (n, k) for n, s in enumerate(steps[:-1]) for k in range(len(s["content"].split()))
        ]
        for n, k in rng.sample(places, max(1, round(_words(t) * rng.uniform(0.01, 0.02)))):
            words = steps[n]["content"].split()
            words[k] = rng.choice(["quux", "zorp", "blat"])
            steps[n]["content"] = " ".join(words)
    elif kind == "truncated":  # the end of the longest middle step cut (5-8% of the words)
        n = max(range(len(steps) - 1), key=lambda j: len(steps[j]["content"].split()))
        words = steps[n]["content"].split()
        cut = max(1, min(len(words) - 2, round(_words(t) * rng.uniform(0.05, 0.08))))
        steps[n]["content"] = " ".join(words[:-cut])
    elif kind == "reordered":  # the steps before the answer in another order
        body = steps[:-1]
        while body == steps[:-1]:
            body = rng.sample(steps[:-1], len(body))
        t["steps"] = [*body, steps[-1]]
        _renumber(t["steps"])
    elif kind == "cjk":  # one or two characters of a step replaced
        n = rng.randrange(len(steps) - 1)
        chars = list(steps[n]["content"])
        for k in rng.sample(range(len(chars) - 1), rng.randint(1, 2)):
            chars[k] = rng.choice(CJK_CHARS.replace(chars[k], ""))
        steps[n]["content"] = "".join(chars)
    elif kind == "at-threshold":
        from tunix_rt.dupes import folded_parts, jaccard, shingles

        base = shingles(folded_parts(src))
        while True:
            trial = json.loads(json.dumps(t))
            while (sim := jaccard(base, shingles(folded_parts(trial)))) >= 0.85:
                step = trial["steps"][rng.randrange(len(trial["steps"]) - 1)]
                words = step["content"].split()
                words[rng.randrange(len(words))] = rng.choice(["quux", "zorp", "blat"])
                step["content"] = " ".join(words)
            if sim >= 0.8:
                return trial
    elif kind == "short":  # punctuation, case and spacing
        t["prompt"] = " ".join(t["prompt"].rstrip("?").lower().split()) + " ?!"
        steps[0]["content"] = steps[0]["content"].upper().rstrip(".")
    else:  # exact-case-space
        t["prompt"] = "  ".join(t["prompt"].upper().split())
    return t


def plant_dupes(
    traces: list[dict[str, Any]], slots: Iterator[int], rng: random.Random
) -> list[tuple[int, int, str]]:
    """Near-duplicate pairs (source index, copy index, kind) written over clean traces."""
    planted = []
    per_kind = max(2, len(traces) // 1000)
    for kind in DUPE_KINDS:
        for _ in range(per_kind):
            src, dst = next(slots), next(slots)
            traces[src] = _dupe_source(kind, rng)
            traces[dst] = _dupe_copy(kind, traces[src], rng)
            planted.append((src, dst, kind))
    return planted


def _reference_dupes(db: Path, threshold: float, params: tuple[int, int] | None) -> Any:
    """The reference: datasketch MinHash (128 permutations, its default SHA-1 hash) over the
    same shingles, MinHashLSH, each candidate pair checked on its shingle sets, union-find.
    Returns (clusters as sets of ids, candidate pairs, LSH bands x rows)."""
    import sqlite3

    from datasketch import MinHash, MinHashLSH

    from tunix_rt.dupes import UnionFind, folded_parts, jaccard, shingles

    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT id, payload FROM traces ORDER BY id").fetchall()
    conn.close()
    lsh = MinHashLSH(threshold=threshold, num_perm=128, params=params)
    texts: list[str] = []
    hashes = []
    with lsh.insertion_session() as session:
        for n, (_, payload) in enumerate(rows):
            texts.append(payload)
            m = MinHash(num_perm=128)
            m.update_batch(
                [s.encode("utf-8") for s in shingles(folded_parts(orjson.loads(payload)))]
            )
            hashes.append(m)
            session.insert(n, m, check_duplication=False)
    cache: dict[int, set[str]] = {}

    def sh(n: int) -> set[str]:
        if n not in cache:
            cache[n] = shingles(folded_parts(orjson.loads(texts[n])))
        return cache[n]

    uf = UnionFind(len(rows))
    checked = 0
    for n, m in enumerate(hashes):
        for other in lsh.query(m):
            if other > n and uf.find(n) != uf.find(other):
                checked += 1
                if jaccard(sh(n), sh(other)) >= threshold:
                    uf.union(n, other)
    clusters = [{rows[k][0] for k in g} for g in uf.groups()]
    return clusters, checked, (lsh.b, lsh.r)


def _id_text(ident: Any) -> str:
    return str(uuid.UUID(str(ident)))


def dupes_section(bench: Bench) -> None:
    import shutil
    import sqlite3

    from tunix_rt.dupes import folded_parts, jaccard, shingles

    threshold = 0.8
    planted = bench.dupes_planted
    print(
        f"\n== dupes --near: {len(bench.traces):,} traces, {len(planted):,} planted pairs "
        f"({len(planted) // len(DUPE_KINDS)} of each of {', '.join(DUPE_KINDS)}) =="
    )
    sims = {
        (a, b): jaccard(*(shingles(folded_parts(bench.traces[k])) for k in (a, b)))
        for a, b, _ in planted
    }
    below = [(a, b) for (a, b), s in sims.items() if s < threshold]
    print(
        f"  planted pairs by exact similarity: min {min(sims.values()):.3f}, "
        f"median {sorted(sims.values())[len(sims) // 2]:.3f}; below {threshold}: {len(below)}"
    )

    def recall_line(label: str, clusters: list[set[str]], ids: list[str]) -> bool:
        where = {i: n for n, c in enumerate(clusters) for i in c}
        by_kind: dict[str, list[bool]] = defaultdict(list)
        for a, b, kind in planted:
            ia, ib = ids[a], ids[b]
            by_kind[kind].append(ia in where and where.get(ia) == where.get(ib))
        found = sum(sum(v) for v in by_kind.values())
        pair_sets = {frozenset((ids[a], ids[b])) for a, b, _ in planted}
        index = {ident: n for n, ident in enumerate(ids)}
        strays = 0  # clusters that are not one planted pair
        false = 0  # members with no member of their cluster at >= threshold
        for c in clusters:
            if frozenset(c) not in pair_sets:
                strays += 1
            shs = {i: shingles(folded_parts(bench.traces[index[i]])) for i in c}
            false += sum(
                1 for i in c if max(jaccard(shs[i], shs[j]) for j in c if j != i) < threshold
            )
        recall = found / len(planted)
        precision_ok = false == 0
        parts = ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in by_kind.items())
        verdict = "meets" if recall >= 0.95 and precision_ok else "MISSES"
        print(
            f"  {label}: recall {found}/{len(planted)} = {recall:.3f} ({parts}); members "
            f"below the threshold: {false} (precision {'1.0' if precision_ok else '< 1'}); "
            f"other clusters: {strays} ({verdict} goal: recall >= 0.95, precision 1.0)"
        )
        return recall >= 0.95 and precision_ok

    url, ids = bench.stores["SQLite"]
    db = Path(url.removeprefix("sqlite:///"))
    ids = [_id_text(i) for i in ids]

    def ours(u: str) -> tuple[float, float, dict[str, Any]]:
        wall, cpu, out = run_process([TUNIX, "--db", u, "trace", "dupes", "--near", "--json"])
        return wall, cpu, orjson.loads(out)

    def forget(path: Path) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute("DELETE FROM trace_sketches")

    results = []
    for _ in range(3):  # cold runs: every signature computed (and stored)
        forget(db)
        results.append(ours(url))
    wall, cpu, report = min(results, key=lambda r: r[1])
    clusters = [{m["id"] for m in c["members"]} for c in report["clusters"]]
    print(
        f"  {'trace dupes --near, nothing stored (SQLite)':<48} {wall:6.2f} s wall, "
        f"{cpu:6.2f} s CPU ({report['sketched']:,} sketched, "
        f"{report['lsh']['candidate_pairs']:,} candidate pairs; best of 3)"
    )
    recall_line("trace dupes --near", clusters, ids)

    start, cpu0 = time.perf_counter(), time.process_time()
    ref_clusters, ref_checked, (b, r) = _reference_dupes(db, threshold, (21, 6))
    ref_wall, ref_cpu = time.perf_counter() - start, time.process_time() - cpu0
    print(
        f"  {'datasketch reference, 21 x 6 bands':<48} {ref_wall:6.2f} s wall, "
        f"{ref_cpu:6.2f} s CPU ({ref_checked:,} candidate pairs)"
    )
    recall_line("reference 21 x 6", [{_id_text(i) for i in c} for c in ref_clusters], ids)
    ratio_wall, ratio_cpu = ref_wall / wall, ref_cpu / cpu
    verdict = "meets" if min(ratio_wall, ratio_cpu) >= 1.4 else "MISSES"
    print(
        f"  speed vs the datasketch reference: {ratio_wall:.2f}x wall, {ratio_cpu:.2f}x CPU "
        f"({verdict} goal >= 1.4x)"
    )
    ref_default, _, (b, r) = _reference_dupes(db, threshold, None)
    recall_line(
        f"reference MinHashLSH(threshold=0.8) = {b} x {r} bands (not a goal)",
        [{_id_text(i) for i in c} for c in ref_default],
        ids,
    )

    warm = min((ours(url) for _ in range(3)), key=lambda r: r[1])
    print(
        f"  {'trace dupes --near, all stored (SQLite)':<48} {warm[0]:6.2f} s wall, "
        f"{warm[1]:6.2f} s CPU ({warm[2]['sketched']:,} sketched; best of 3)"
    )
    # 10,000 more traces in a copy of the checked store: only they are sketched.
    grown = bench.tmp / "dupes-grown.db"
    shutil.copy(db, grown)
    rng = random.Random(99)
    more = bench.tmp / "more.jsonl"
    with more.open("wb") as out:
        for _ in range(10_000):
            out.write(orjson.dumps(clean_trace(rng, clean_prompt(rng))) + b"\n")
    subprocess.run(
        [TUNIX, "--db", f"sqlite:///{grown}", "trace", "upload", str(more), "-q"],
        check=True,
        capture_output=True,
    )
    wall2, cpu2, after = ours(f"sqlite:///{grown}")
    print(
        f"  {'+10,000 traces, then trace dupes --near':<48} {wall2:6.2f} s wall, "
        f"{cpu2:6.2f} s CPU ({after['sketched']:,} of {after['checked']:,} sketched; "
        f"{cpu2 / cpu:.2f} of the first run's CPU)"
    )
    for label, (u, pg_ids) in bench.stores.items():
        if label == "SQLite":
            continue
        cold = ours(u)
        again = ours(u)
        got = [{m["id"] for m in c["members"]} for c in cold[2]["clusters"]]
        print(
            f"  {'trace dupes --near (' + label + ')':<48} {cold[0]:6.2f} s wall, "
            f"{cold[1]:6.2f} s CPU; all stored: {again[0]:.2f} s wall, {again[1]:.2f} s CPU"
        )
        recall_line(label, got, [_id_text(i) for i in pg_ids])


REWARD = """
def exact_answer(prompts, completions, answer, **kwargs):
    return [1.0 if f"<answer>{a}</answer>" in c else 0.0 for c, a in zip(completions, answer)]
"""


def score_section(bench: Bench) -> None:
    import sqlite3

    from tunix_rt.scoring import baseline

    print(f"\n== score: {len(bench.traces):,} traces ==")
    contents = [[s["content"] for s in t["steps"]] for t in bench.traces]
    start = time.process_time()
    expected = [baseline(c).value for c in contents]
    cpu = time.process_time() - start
    print(
        f"  {'baseline formula alone (in process)':<44} "
        f"{len(bench.traces) / cpu:>9,.0f} traces per CPU second"
    )
    rewards = bench.file.parent / "bench_rewards.py"
    rewards.write_text(REWARD, encoding="utf-8")
    for label, (url, ids) in bench.stores.items():
        wall, cpu, _ = best_of(
            3,
            lambda u=url: run_process([TUNIX, "--db", u, "trace", "score", "--with", "baseline"]),
        )
        print(rate_line(f"trace score --with baseline ({label})", len(ids), wall, cpu, 20_000))
        wall, cpu, _ = best_of(
            1,
            lambda u=url: run_process(
                [TUNIX, "--db", u, "trace", "score", "--with", f"{rewards}:exact_answer"]
            ),
        )
        print(rate_line(f"trace score --with rewards.py:fn ({label})", len(ids), wall, cpu, 0))
        if url.startswith("sqlite"):
            with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
                got = dict(
                    conn.execute(
                        "SELECT trace_id, value FROM trace_scores WHERE name = 'baseline'"
                    ).fetchall()
                )
            index = {str(ident).replace("-", ""): n for n, ident in enumerate(ids)}
            wrong = sum(1 for k, v in got.items() if expected[index[k]] != v)
            print(f"  stored baselines equal to the formula: {len(got) - wrong:,} of {len(ids):,}")


SECTIONS: dict[str, Callable[[Bench], None]] = {
    "lint": lint_section,
    "contamination": contamination_section,
    "dupes": dupes_section,
    "score": score_section,
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
