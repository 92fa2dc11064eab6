"""`trace contamination` through the CLI, on SQLite and PostgreSQL: planted eval copies,
clean near misses, tagging, the shared data against an independent hand-written check, and
eval files that cannot be used."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DATA, Cli, make_trace, write_jsonl

EVALSET = str(DATA / "evalset_v2.jsonl")
EVAL = {
    json.loads(line)["id"]: json.loads(line)["prompt"]
    for line in (DATA / "evalset_v2.jsonl").read_text(encoding="utf-8").splitlines()
}


# --- an independent hand-written check ------------------------------------------------------
# Written from the rules in the README, not from the code: characters are scanned one by one.


def hand_tokens(text: str) -> list[str]:
    """Words (letter/digit runs; a number keeps its `.5` and `,000` parts) and symbols."""
    text = unicodedata.normalize("NFC", text).casefold()
    out: list[str] = []
    k = 0
    while k < len(text):
        ch = text[k]
        if ch.isspace():
            k += 1
        elif ch.isalnum() or ch == "_":
            end = k
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[k:end]
            if word.isdigit():  # a number may go on: 1,000,000.25 or 2.5
                while (
                    text[end : end + 1] == ","
                    and text[end + 1 : end + 4].isdigit()
                    and len(text[end + 1 : end + 4]) == 3
                    and not text[end + 4 : end + 5].isdigit()
                ):
                    word, end = word + text[end : end + 4], end + 4
                if text[end : end + 1] == "." and text[end + 1 : end + 2].isdigit():
                    stop = end + 1
                    while stop < len(text) and text[stop].isdigit():
                        stop += 1
                    word, end = word + text[end:stop], stop
            out.append(word)
            k = end
        else:
            out.append(ch)
            k += 1
    return out


def hand_check(eval_prompts: dict[str, str], prompts: list[str]) -> dict[str, set[int]]:
    """Eval id -> indexes of the prompts that equal it, contain it (under 8 words) or share
    a word 8-gram with it (8 words or more)."""
    found: dict[str, set[int]] = {}
    for ident, eval_prompt in eval_prompts.items():
        e_tokens = hand_tokens(eval_prompt)
        e_words = [t for t in e_tokens if t[0].isalnum() or t[0] == "_"]
        e_grams = {tuple(e_words[k : k + 8]) for k in range(len(e_words) - 7)}
        for n, prompt in enumerate(prompts):
            t = hand_tokens(prompt)
            words = [x for x in t if x[0].isalnum() or x[0] == "_"]
            hit = t == e_tokens
            if len(e_words) < 8:
                hit = hit or any(
                    t[k : k + len(e_tokens)] == e_tokens for k in range(len(t) - len(e_tokens) + 1)
                )
            else:
                hit = hit or any(tuple(words[k : k + 8]) in e_grams for k in range(len(words) - 7))
            if hit:
                found.setdefault(ident, set()).add(n)
    return found


# --- helpers ----------------------------------------------------------------------------------


def upload_files(cli: Cli, *paths: str) -> None:
    result = cli("trace", "upload", *paths)
    assert result.exit_code == 0, result.stderr


def stored_prompts(cli: Cli) -> dict[str, str]:
    result = cli("trace", "list", "--all", "--jsonl")
    return {r["id"]: r["payload"]["prompt"] for r in map(json.loads, result.lines())}


def report(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("trace", "contamination", "--evalset", EVALSET, "--json", *args)
    assert result.exit_code == 0, result.stderr
    out: dict[str, Any] = result.json()
    return out


def as_pairs(out: dict[str, Any]) -> dict[str, set[str]]:
    return {item["id"]: {m["trace"] for m in item["matches"]} for item in out["items"]}


def traces_with(prompts: list[str]) -> list[dict[str, Any]]:
    return [make_trace(n, prompt=p) for n, p in enumerate(prompts)]


def one_in_ten_changed(prompt: str) -> str:
    words = prompt.split()
    for k in range(9, len(words), 10):
        words[k] = "zzz"
    return " ".join(words)


PLANTED = {
    # verbatim, and up to case and spacing
    "eval-v2-001": "What is 15 + 27?",
    "eval-v2-002": "  WHAT is the capital of   france ?",
    # a short item inside a longer prompt
    "eval-v2-003": "Warm-up question. What is 8 \u00d7 7? Show your work.",
    # truncated (the first 10 of 16 words) inside other text
    "eval-v2-061": "Context: A train travels at 60 km/h for 2.5 hours. How far does",
    # one word in ten changed
    "eval-v2-062": one_in_ten_changed(EVAL["eval-v2-062"]),
    "eval-v2-083": one_in_ten_changed(EVAL["eval-v2-083"]) + " Explain.",
}
CLEAN = [
    "What is 15 + 28?",  # one number off
    "What is 1 + 1?",  # the eval set has `What is 1 ÷ 1?`
    "What is 8 \u00d7 70?",
    "How many minutes are in 2 hours?",  # the eval item says 2.5
    "A bus travels at 60 miles per hour for 2.5 hours. How far?",  # 3 words in a row
    "What is the capital of Spain?",
]


def test_planted_copies_are_found_and_near_misses_are_not(cli: Cli, tmp_path: Path) -> None:
    prompts = list(PLANTED.values()) + CLEAN
    upload_files(cli, str(write_jsonl(tmp_path / "t.jsonl", traces_with(prompts))))
    ids = {prompt: ident for ident, prompt in stored_prompts(cli).items()}
    out = report(cli)
    expected = {item: {ids[prompt]} for item, prompt in PLANTED.items()}
    expected["eval-v2-090"] = {ids[PLANTED["eval-v2-002"]]}  # `What is the capital of FRANCE?`
    assert as_pairs(out) == expected
    kinds = {item["id"]: item["matches"][0]["kind"] for item in out["items"]}
    assert kinds == {
        "eval-v2-001": "equal",
        "eval-v2-002": "equal",
        "eval-v2-003": "contains",
        "eval-v2-061": "8-gram",
        "eval-v2-062": "8-gram",
        "eval-v2-083": "8-gram",
        "eval-v2-090": "equal",
    }
    assert (out["checked"], out["contaminated"], out["eval_items"]) == (12, 6, 100)
    assert out["short_items"] == 63
    assert out["items"][0]["prompt"] == "What is 15 + 27?"
    assert out["items"][0]["matches"][0]["prompt"] == "What is 15 + 27?"
    assert as_pairs(out) == {
        item: {list(ids.values())[n] for n in found}
        for item, found in hand_check(EVAL, list(ids)).items()
    }


def test_table_and_summary(cli: Cli, tmp_path: Path) -> None:
    upload_files(cli, str(write_jsonl(tmp_path / "t.jsonl", traces_with(["What is 15 + 27?"]))))
    ident = next(iter(stored_prompts(cli)))
    result = cli("trace", "contamination", "--evalset", EVALSET)
    assert result.exit_code == 0
    row = next(line for line in result.lines() if "eval-v2-001" in line)
    assert "What is 15 + 27?" in row
    assert "equal" in row
    assert ident[:8] in row
    assert result.stderr == "1 of 100 eval items found in 1 of 1 trace\n"
    assert cli("trace", "contamination", "--evalset", EVALSET, "--fail").exit_code == 1


def test_tag_marks_exactly_the_matching_traces(cli: Cli, tmp_path: Path) -> None:
    prompts = list(PLANTED.values()) + CLEAN
    upload_files(cli, str(write_jsonl(tmp_path / "t.jsonl", traces_with(prompts))))
    ids = {prompt: ident for ident, prompt in stored_prompts(cli).items()}
    result = cli("trace", "contamination", "--evalset", EVALSET, "--tag-as", "contaminated")
    assert result.exit_code == 0
    assert result.stderr.endswith("tagged 6 traces with contaminated\n")
    listed = cli("trace", "list", "--all", "--jsonl", "--tag", "contaminated")
    assert {json.loads(line)["id"] for line in listed.lines()} == {ids[p] for p in PLANTED.values()}
    untagged = report(cli, "--no-tag", "contaminated")
    assert (untagged["checked"], untagged["contaminated"]) == (6, 0)


def test_filter_selects_the_traces_checked(cli: Cli, tmp_path: Path) -> None:
    traces = [
        make_trace(1, prompt="What is 15 + 27?", meta={"source": "a"}),
        make_trace(2, prompt="What is 8 \u00d7 7?", meta={"source": "b"}),
    ]
    upload_files(cli, str(write_jsonl(tmp_path / "t.jsonl", traces)))
    out = report(cli, "--meta", "source=b")
    assert (out["checked"], [i["id"] for i in out["items"]]) == (1, ["eval-v2-003"])
    nothing = cli("trace", "contamination", "--evalset", EVALSET, "--meta", "source=z")
    assert nothing.stderr == "no traces match: meta.source=z\n"


def test_the_shared_data_matches_the_hand_written_check(cli: Cli, tmp_path: Path) -> None:
    """Acceptance: the three curriculum files, plus planted copies so that the comparison
    is not only of two empty reports."""
    files = [str(DATA / f"curriculum_stage_{s}.jsonl") for s in "abc"]
    upload_files(cli, *files)
    alone = report(cli)
    prompts = stored_prompts(cli)
    by_index = list(prompts)
    expected = {
        item: {by_index[n] for n in found}
        for item, found in hand_check(EVAL, list(prompts.values())).items()
    }
    assert as_pairs(alone) == expected
    assert alone["checked"] == 550

    planted = traces_with([f"{p} (variant {n})" for n, p in enumerate(PLANTED.values())])
    upload_files(cli, str(write_jsonl(tmp_path / "planted.jsonl", planted)))
    prompts = stored_prompts(cli)
    by_index = list(prompts)
    expected = {
        item: {by_index[n] for n in found}
        for item, found in hand_check(EVAL, list(prompts.values())).items()
    }
    both = report(cli)
    assert as_pairs(both) == expected
    assert set(expected) == {*PLANTED, "eval-v2-090"}


def test_hand_tokens_follow_the_documented_rules() -> None:
    assert hand_tokens("What is 1,000.5 + 2,4?") == [
        "what", "is", "1,000.5", "+", "2", ",", "4", "?",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "eval set {p}: cannot read: no such file or directory"),
        (b'{"id": 1, "prompt": "a"}\n{"id": 2, "prompt": "caf\xe9"}\n', "{p}:2: invalid UTF-8"),
        (b'{"id": 1, "prompt": "a"}\n{"id": 2,\n', "{p}:2: invalid JSON"),
        (b'{"id": 1, "prompt": "a"}\n{"id": 2}\n', "{p}:2: prompt: must be a non-empty string"),
        (b'{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\n', "{p}:2: id: '1' is also"),
        (b'{"id": 1, "prompt": "a"}\n[1, 2]\n', "{p}:2: an eval item must be a JSON object"),
        (b"", "{p}: no eval items in it"),
        (b"just text\n", "{p}:1: invalid JSON"),
    ],
)
def test_a_bad_eval_file_is_one_line(
    cli: Cli, tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "eval.jsonl"
    if content is not None:
        path.write_bytes(content)
    result = cli("trace", "contamination", "--evalset", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: eval set ")
    assert message.format(p=path) in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_eval_folder_is_one_line(cli: Cli, tmp_path: Path) -> None:
    result = cli("trace", "contamination", "--evalset", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == f"error: eval set {tmp_path}: cannot read: is a directory\n"


def test_evalset_is_required(cli: Cli) -> None:
    assert cli("trace", "contamination").exit_code == 2
