# ruff: noqa: RUF001 - the example traces use the multiplication sign (U+00D7)
"""`tunix-rt trace example` and `tunix-rt trace schema` through the CLI.

The example output pipes into `trace upload -` on both databases; the JSON Schema validates
every shared data file with the `jsonschema` library (which tunix-rt did not write), and the
upload validator and the schema agree on valid and invalid traces, except for exactly the
rules the schema's description says JSON Schema cannot express.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.helpers import DATA, Cli, Run, invoke, make_trace
from tunix_rt import examples
from tunix_rt.schema import canonical_json, validate_trace

TRACE_FILES = sorted(p for p in DATA.glob("*.jsonl") if p.name != "evalset_v2.jsonl")
STEP_TYPES = ["parse", "formula", "compute", "compute", "result"]


def _example() -> Run:
    result = invoke(["trace", "example"])
    assert result.exit_code == 0, result.stderr
    return result


def _jsonl(n: int) -> list[dict[str, Any]]:
    result = invoke(["trace", "example", "--jsonl", str(n)])
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.lines()]


def _hash(trace: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(validate_trace(trace))).hexdigest()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = invoke(["trace", "schema"])
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = result.json()
    return document


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


# --- trace example ------------------------------------------------------------------------


def test_example_is_the_original_services_trace() -> None:
    """Indented JSON: 68°F to Celsius in five steps, with the original meta."""
    result = _example()
    assert result.stdout.startswith('{\n  "trace_version": "1.0",\n  "prompt": ')
    trace = result.json()
    assert validate_trace(trace) == trace
    assert trace["prompt"] == "Convert 68°F to Celsius"
    assert trace["final_answer"] == "20°C"
    assert [step["type"] for step in trace["steps"]] == STEP_TYPES
    assert [step["i"] for step in trace["steps"]] == [0, 1, 2, 3, 4]
    assert trace["meta"] == {
        "source": "example",
        "tags": ["temperature", "conversion", "fahrenheit", "celsius"],
    }
    contents = [step["content"] for step in trace["steps"]]
    assert "68 - 32 = 36" in contents
    assert "36 × 5/9 = 180/9 = 20" in contents
    assert (68 - 32) * 5 / 9 == 20


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """tunix-rt in a real process (stdout a pipe, the real encoding of the locale)."""
    return subprocess.run(
        [sys.executable, "-m", "tunix_rt", *args],
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_example_is_utf8_whatever_the_locale() -> None:
    """The degree sign is written as UTF-8 bytes, as JSON requires, even with an ASCII
    stdout; so are the schema and the JSON Lines."""
    ascii_out = {"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"}
    done = _run("trace", "example", env=ascii_out)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.decode("utf-8")) == examples.example_trace()
    assert "68°F".encode() in done.stdout
    done = _run("trace", "example", "--jsonl", "3", env=ascii_out)
    assert done.returncode == 0, done.stderr
    assert "°F".encode() in done.stdout
    assert _run("trace", "schema", env=ascii_out).returncode == 0


def test_example_and_100_more_upload_on_a_fresh_database(cli: Cli) -> None:
    """`trace example | trace upload -` stores 1, `--jsonl 100 | trace upload -` 100 more."""
    one = cli("trace", "upload", "-", input=_example().stdout)
    assert one.exit_code == 0, one.stderr
    assert "stored 1, duplicates 0" in one.stderr
    many = invoke(["trace", "example", "--jsonl", "100"]).stdout
    stored = cli("trace", "upload", "-", input=many)
    assert stored.exit_code == 0, stored.stderr
    assert "stored 100, duplicates 0" in stored.stderr
    assert len(stored.lines()) == 100
    listed = cli("trace", "list", "--all", "--jsonl")
    assert len(listed.lines()) == 101
    again = cli("trace", "upload", "-", input=many)
    assert "stored 0, duplicates 100" in again.stderr


def test_jsonl_traces_are_valid_distinct_and_deterministic() -> None:
    """1,000 valid traces, no two alike (not even by prompt), none the single example; the
    same bytes every run, and the first 10 of 1,000 are the 10 of `--jsonl 10`."""
    traces = _jsonl(1000)
    assert len(traces) == 1000
    for trace in traces:
        assert validate_trace(trace) == trace
    single = _example().json()
    hashes = {_hash(trace) for trace in traces}
    assert len(hashes) == 1000
    assert _hash(single) not in hashes
    prompts = {trace["prompt"] for trace in traces}
    assert len(prompts) == 1000
    assert single["prompt"] not in prompts
    assert _jsonl(10) == traces[:10]
    first = invoke(["trace", "example", "--jsonl", "1000"]).stdout
    assert invoke(["trace", "example", "--jsonl", "1000"]).stdout == first


def test_jsonl_traces_are_varied() -> None:
    """Several task families, step counts and step types; meta names family and index."""
    traces = _jsonl(70)
    assert len({t["meta"]["family"] for t in traces}) == 7
    assert {len(t["steps"]) for t in traces} == {3, 4, 5}
    assert len({s["type"] for t in traces for s in t["steps"]}) >= 6
    assert [t["meta"]["index"] for t in traces] == list(range(70))
    assert all(t["meta"]["source"] == "example" for t in traces)


def _number(text: str) -> Fraction:
    return Fraction(text.replace("$", "").replace("°C", "").replace("°F", ""))


_CHECKS: list[tuple[str, Callable[[re.Match[str]], str]]] = [
    (r"Convert (-?\d+)°F to Celsius", lambda m: f"{(_number(m[1]) - 32) * 5 / 9}°C"),
    (r"Convert (-?\d+)°C to Fahrenheit", lambda m: f"{_number(m[1]) * 9 / 5 + 32}°F"),
    (r"What is (\d+) × (\d+)\?", lambda m: str(int(m[1]) * int(m[2]))),
    (r"What is (\d+)% of (\d+)\?", lambda m: str(Fraction(int(m[1]) * int(m[2]), 100))),
    (r"Reverse the string '(\w+)'\.", lambda m: m[1][::-1]),
    (
        r"What is the average of (\d+), (\d+) and (\d+)\?",
        lambda m: str(Fraction(int(m[1]) + int(m[2]) + int(m[3]), 3)),
    ),
    (
        r"If (\d+) items cost \$(\d+), what is the cost per item\?",
        lambda m: f"${Fraction(int(m[2]), int(m[1]))}",
    ),
]


def test_jsonl_answers_are_correct() -> None:
    """Every final answer, recomputed from its prompt, is right (and a whole number)."""
    for trace in [*_jsonl(700), examples.example_trace()]:
        for pattern, answer in _CHECKS:
            match = re.fullmatch(pattern, trace["prompt"])
            if match:
                assert trace["final_answer"] == answer(match), trace
                break
        else:
            pytest.fail(f"no check for {trace['prompt']!r}")


@pytest.mark.slow
def test_the_whole_range_is_distinct() -> None:
    """All 1,000,000 prompts of the largest `--jsonl` are distinct (pure code, no CLI)."""
    prompts = {trace["prompt"] for trace in examples.example_traces(examples.MAX_EXAMPLES)}
    assert len(prompts) == examples.MAX_EXAMPLES
    assert examples.example_trace()["prompt"] not in prompts
    last = examples.generated_trace(examples.MAX_EXAMPLES - 1)
    assert validate_trace(last) == last


@pytest.mark.parametrize("n", [0, -1, examples.MAX_EXAMPLES + 1])
def test_generator_refuses_a_count_out_of_range(n: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.1,000,000"):
        examples.example_traces(n)


@pytest.mark.parametrize("value", ["0", "-1", "1000001", "ten", "1.5", ""])
def test_jsonl_count_out_of_range_is_a_usage_error(value: str) -> None:
    result = invoke(["trace", "example", "--jsonl", value])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--jsonl" in result.stderr


def test_reader_going_away_is_not_an_error() -> None:
    """`trace example --jsonl 1000000 | head -1` stops quietly (exit 0, nothing on stderr)."""
    with subprocess.Popen(
        [sys.executable, "-m", "tunix_rt", "trace", "example", "--jsonl", "1000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        errors = proc.stderr.read()
        assert proc.wait(timeout=120) == 0
    assert json.loads(first)["meta"]["index"] == 0
    assert errors == b""


# --- trace schema ---------------------------------------------------------------------------


def test_schema_is_draft_2020_12_with_id_and_limits(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:tunix-rt:schema:trace:v1"
    assert "schema v1" in schema["title"]
    for gap in ("unique", "TUNIX_RT_TRACE_MAX_BYTES", "U+0000", "64-bit", "1.0"):
        assert gap in schema["description"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["trace_version", "prompt", "final_answer", "steps"]
    step = schema["$defs"]["Step"]
    assert step["additionalProperties"] is False
    assert step["properties"]["i"] | {"description": ""} == {
        "type": "integer",
        "minimum": 0,
        "maximum": 2**63 - 1,
        "description": "",
    }
    assert schema["properties"]["prompt"]["maxLength"] == 50_000
    assert schema["properties"]["steps"]["maxItems"] == 1000


def test_schema_output_is_stable() -> None:
    first = invoke(["trace", "schema"]).stdout
    assert invoke(["trace", "schema"]).stdout == first
    assert first.endswith("}\n")


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: p.name)
def test_shared_data_validates_against_the_schema(
    validator: Draft202012Validator, path: Path
) -> None:
    """Every record of the shared trace files is valid JSON Schema-wise and for tunix-rt."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines
    for number, line in enumerate(lines, 1):
        record = json.loads(line)
        errors = [e.message for e in validator.iter_errors(record)]
        assert errors == [], f"{path.name}:{number}: {errors}"
        validate_trace(record)


def test_the_eval_set_is_not_traces(validator: Draft202012Validator) -> None:
    """The one shared file left out is rejected by the schema, as it is by upload."""
    line = (DATA / "evalset_v2.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert not validator.is_valid(json.loads(line))


def test_examples_validate_against_the_schema(validator: Draft202012Validator) -> None:
    assert validator.is_valid(_example().json())
    for trace in _jsonl(200):
        assert validator.is_valid(trace), trace


# --- the validator and the schema agree ----------------------------------------------------


def _with(**changes: Any) -> dict[str, Any]:
    return make_trace(**changes)


def _without(key: str) -> dict[str, Any]:
    trace = make_trace()
    del trace[key]
    return trace


def _step(**changes: Any) -> dict[str, Any]:
    trace = make_trace()
    trace["steps"][0].update(changes)
    return trace


def _step_without(key: str) -> dict[str, Any]:
    trace = make_trace()
    del trace["steps"][0][key]
    return trace


def _steps(n: int) -> list[dict[str, Any]]:
    return [{"i": i, "type": "t", "content": "c"} for i in range(n)]


INVALID: dict[str, Any] = {
    # wrong types (no coercion either way)
    "trace_version a number": _with(trace_version=1.0),
    "prompt a number": _with(prompt=42),
    "final_answer null": _with(final_answer=None),
    "steps an object": _with(steps={"i": 0, "type": "t", "content": "c"}),
    "step not an object": _with(steps=["step"]),
    "i a string": _step(i="1"),
    "i a boolean": _step(i=True),
    "i a fraction": _step(i=1.5),
    "type a number": _step(type=3),
    "content a list": _step(content=["c"]),
    "meta a list": _with(meta=["a"]),
    "meta a string": _with(meta="x"),
    "not an object": ["a", "list"],
    # missing fields
    "no trace_version": _without("trace_version"),
    "no prompt": _without("prompt"),
    "no final_answer": _without("final_answer"),
    "no steps": _without("steps"),
    "step without i": _step_without("i"),
    "step without type": _step_without("type"),
    "step without content": _step_without("content"),
    # unknown keys
    "extra top-level key": _with(score=1),
    "extra step key": _step(note="x"),
    # lengths
    "empty trace_version": _with(trace_version=""),
    "trace_version 65 characters": _with(trace_version="v" * 65),
    "empty prompt": _with(prompt=""),
    "prompt 50,001 characters": _with(prompt="p" * 50_001),
    "final_answer 50,001 characters": _with(final_answer="é" * 50_001),
    "no steps at all": _with(steps=[]),
    "1,001 steps": _with(steps=_steps(1001)),
    "empty step type": _step(type=""),
    "step type 65 characters": _step(type="t" * 65),
    "empty content": _step(content=""),
    "content 20,001 characters": _step(content="c" * 20_001),
    # bounds
    "negative i": _step(i=-1),
    "i above 2**63 - 1": _step(i=2**63),
}

VALID: dict[str, Any] = {
    "plain": make_trace(),
    "no meta": _without("meta"),
    "meta null": _with(meta=None),
    "meta nested": _with(meta={"a": {"b": [1, 2.5, None, True]}}),
    "one-character fields": _with(trace_version="x", prompt="p", final_answer="a"),
    "longest fields": _with(
        trace_version="v" * 64, prompt="p" * 50_000, final_answer="😀" * 50_000
    ),
    "1,000 steps": _with(steps=_steps(1000)),
    "i at the bounds": _with(
        steps=[{"i": 0, "type": "t", "content": "c"}, {"i": 2**63 - 1, "type": "t", "content": "c"}]
    ),
    "i unsorted and sparse": _with(
        steps=[{"i": 9, "type": "t", "content": "c"}, {"i": 2, "type": "t", "content": "c"}]
    ),
    "longest step": _step(type="t" * 64, content="c" * 20_000),
}


def _upload_verdicts(db_url: str, records: list[Any]) -> list[bool]:
    """For each record, whether `trace upload --dry-run` accepts it (one run for all)."""
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    result = invoke(
        ["--db", db_url, "trace", "upload", "-", "--dry-run", "--json", "--max-errors", "100000"],
        input=body.encode("utf-8"),
    )
    report = result.json()
    assert result.exit_code == (1 if report["invalid"] else 0), result.stderr
    bad_lines = {error["line"] for error in report["errors"]}
    return [n not in bad_lines for n in range(1, len(records) + 1)]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'traces.db'}"


def test_validator_and_schema_agree(validator: Draft202012Validator, sqlite_url: str) -> None:
    """Each invalid trace is refused by both; each valid one (bounds included) passes both."""
    cases = {**INVALID, **VALID}
    expected = [name in VALID for name in cases]
    by_schema = [validator.is_valid(copy.deepcopy(trace)) for trace in cases.values()]
    by_upload = _upload_verdicts(sqlite_url, list(cases.values()))
    names = list(cases)
    assert [n for n, ok, want in zip(names, by_schema, expected, strict=True) if ok != want] == []
    assert [n for n, ok, want in zip(names, by_upload, expected, strict=True) if ok != want] == []


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


GAPS: dict[str, Any] = {
    "duplicate step i": _with(
        steps=[{"i": 0, "type": "t", "content": "a"}, {"i": 0, "type": "t", "content": "b"}]
    ),
    "U+0000 in a prompt": _with(prompt="a\x00b"),
    "U+0000 in a meta key": _with(meta={"a\x00": 1}),
    "integer beyond 64 bits in meta": _with(meta={"n": 2**64}),
    "meta nested 65 levels": _with(meta=_nested(65)),
    "i written as 1.0": _step(i=1.0),
}


def test_schema_gaps_are_exactly_the_documented_ones(
    validator: Draft202012Validator, schema: dict[str, Any], sqlite_url: str
) -> None:
    """What the description says JSON Schema cannot express: the schema accepts, upload
    refuses. (Each rule is named in the description; see the test above.)"""
    records = list(GAPS.values())
    assert [validator.is_valid(r) for r in records] == [True] * len(records)
    assert _upload_verdicts(sqlite_url, records) == [False] * len(records)


def test_byte_limit_is_a_documented_gap(validator: Draft202012Validator, sqlite_url: str) -> None:
    """Within every field limit, yet over TUNIX_RT_TRACE_MAX_BYTES (1 MiB) as a whole."""
    big = _with(steps=[{"i": i, "type": "t", "content": "c" * 20_000} for i in range(60)])
    assert validator.is_valid(big)
    result = invoke(
        ["--db", sqlite_url, "trace", "upload", "-", "--dry-run"], input=json.dumps(big)
    )
    assert result.exit_code == 1
    assert "exceeds maximum of 1048576 bytes" in result.stderr
