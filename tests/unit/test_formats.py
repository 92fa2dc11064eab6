"""The export formats, renderer by renderer, without a database (formats.md, atif.md)."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from typing import Any

import orjson
import pytest

from tests.golden import UPDATE, golden_path, options, raw_rows, variants
from tunix_rt.formats import (
    CONTROL_TOKENS,
    CONTROL_TOKENS_LEFT,
    FORMATS,
    REWARD_MISMATCH,
    SANITIZED,
    Options,
    canonical_name,
    strip_control_tokens,
    training_example,
    tunix_grpo,
)
from tunix_rt.formats import _text as text
from tunix_rt.records import DamagedTraceError, RawRow, TraceRow, record_line, to_record
from tunix_rt.schema import canonical_json

ROWS = raw_rows()
BY_ID = {row.id[:8]: row for row in ROWS}
SNAPSHOT = (
    "<start_of_turn>user\n"
    "What is the capital of France?<end_of_turn>\n"
    "<start_of_turn>model\n"
    "Reasoning:\n"
    "1. Recall geography knowledge\n"
    "2. Identify France's capital\n"
    "Answer: Paris<end_of_turn>"
)
CASES = [(fmt, variant) for fmt in FORMATS for variant in variants(fmt)]


def render(fmt: str, row: RawRow, opts: Options | None = None) -> tuple[dict[str, Any], int]:
    line, flags = FORMATS[fmt](row, opts or Options())
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    return orjson.loads(line), flags


def make_row(
    payload: dict[str, Any], ident: str = "00000000-0000-4000-8000-000000000001"
) -> RawRow:
    body = canonical_json(payload)
    return RawRow(ident, "2026-01-02T03:04:05+00:00", hashlib.sha256(body).hexdigest(), body)


def trace(prompt: str = "p", answer: str = "a", *steps: str, **more: Any) -> dict[str, Any]:
    listed = [{"i": n, "type": "t", "content": c} for n, c in enumerate(steps or ("s",))]
    return {
        "trace_version": "1.0",
        "prompt": prompt,
        "final_answer": answer,
        "steps": listed,
        **more,
    }


# --- the original service's renderer (formats.md section 1) ---------------------------------


def test_sft_text_snapshot() -> None:
    """The formats.md snapshot renders byte for byte."""
    steps = ["Recall geography knowledge", "Identify France's capital"]
    assert text.sft_text("What is the capital of France?", steps, "Paris") == SNAPSHOT


def test_system_instruction_inside_the_user_turn() -> None:
    """formats.md: a system instruction is the user turn's first paragraph."""
    rendered = text.sft_text("Calculate 5*6", ["Multiply 5 by 6"], "30", "You are a calculator.")
    assert rendered.startswith("<start_of_turn>user\nYou are a calculator.\n\nCalculate 5*6<end")
    assert rendered.endswith(
        "<start_of_turn>model\nReasoning:\n1. Multiply 5 by 6\nAnswer: 30<end_of_turn>"
    )


def test_reasoning_without_steps_is_empty() -> None:
    """No steps: no `Reasoning:` block, just the answer."""
    assert text.reasoning([]) == ""
    assert text.model_text([], "x") == "Answer: x"
    assert text.with_system("p", None) == text.with_system("p", "") == "p"


def test_tunix_sft_record_of_the_snapshot() -> None:
    """`prompts` is the original text; prompt + completion == prompts, split at the model turn."""
    record, flags = render("tunix-sft", BY_ID["00000001"])
    assert flags == 0
    assert record["prompts"] == SNAPSHOT
    assert record["prompt"] == (
        "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n"
    )
    assert record["completion"] == (
        "Reasoning:\n1. Recall geography knowledge\n2. Identify France's capital\n"
        "Answer: Paris<end_of_turn>"
    )
    assert record["metadata"] == {
        "created_at": "2026-01-15T10:00:01+00:00",
        "trace_version": "1.0",
        "format": "tunix_sft",
        "source": "formats.md",
    }
    assert list(record) == ["id", "prompts", "final_answer", "metadata", "prompt", "completion"]


@pytest.mark.parametrize("variant", ["default", "system", "sanitize"])
def test_tunix_sft_prompt_plus_completion_is_prompts(variant: str) -> None:
    """For every fixed trace: prompt + completion == prompts == sft_text."""
    for row in ROWS:
        record, _ = render("tunix-sft", row, options(variant))
        assert record["prompt"] + record["completion"] == record["prompts"]
        assert record["prompt"].endswith("<end_of_turn>\n<start_of_turn>model\n")


def test_trace_record() -> None:
    """`trace`: the original keys, steps by ascending i, meta merged into metadata."""
    record, _ = render("trace", BY_ID["00000006"])
    assert list(record) == ["id", "prompts", "trace_steps", "final_answer", "metadata"]
    assert record["trace_steps"] == ["a\twith a tab", "b\nwith a newline", "c"]
    assert record["metadata"]["created_at"] == "meta wins"  # theirs: **meta last
    assert record["metadata"]["trace_version"] == '2.0-β "q" \\ tab\tend'


def test_training_example_record() -> None:
    """`training_example`: the suffix, the numbered response, a stable id of its own."""
    row = BY_ID["00000002"]
    record, _ = render("training_example", row)
    assert record["prompt"] == "Calculate 5*6\n\nPlease show your reasoning steps."
    assert record["response"] == "Reasoning:\n1. Multiply 5 by 6\nAnswer: 30"
    assert record["metadata"]["source_trace_id"] == row.id
    assert record["id"] == training_example.example_id(row.id) != row.id
    assert uuid.UUID(record["id"]).version == 5
    system, _ = render("training_example", row, Options(system="S"))
    assert system["prompt"] == "S\n\nCalculate 5*6\n\nPlease show your reasoning steps."


# --- chat control tokens -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<start_of_turn>user\nHello!<end_of_turn>", "user\nHello!"),
        ("<|im_start|>user\nHello!<|im_end|>", "user\nHello!"),
        ("Nested <start_of_turn><bos>tokens<eos><end_of_turn>", "Nested tokens"),
        ("<start_<start_of_turn>of_turn>", ""),
        ("Recursive <bos<bos>>", "Recursive "),
        ("<|begin_of_text|><|start_header_id|>a<|end_header_id|><|eot_id|><|end_of_text|>", "a"),
        ("no tokens <b>here</b>", "no tokens <b>here</b>"),
    ],
)
def test_strip_control_tokens_like_tunix(raw: str, clean: str) -> None:
    """Tokens are removed until none is left (Tunix's own test cases)."""
    assert strip_control_tokens(raw) == clean


def test_control_tokens_are_tunix_list() -> None:
    assert len(CONTROL_TOKENS) == 11
    assert {"<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<|im_end|>"} <= set(
        CONTROL_TOKENS
    )


def test_control_tokens_reported_then_sanitized() -> None:
    """Tokens in prompt, steps or answer flag the trace; --sanitize strips them everywhere."""
    row = BY_ID["00000007"]
    record, flags = render("tunix-sft", row)
    assert flags == CONTROL_TOKENS_LEFT
    assert "<|im_end|>" in record["prompts"]
    clean, flags = render("tunix-sft", row, Options(sanitize=True))
    assert flags == SANITIZED
    user_and_model = clean["prompts"].removeprefix("<start_of_turn>user\n")
    body = user_and_model.replace("<end_of_turn>\n<start_of_turn>model\n", "\x00")
    assert body.endswith("<end_of_turn>")
    assert not any(t in body.removesuffix("<end_of_turn>") for t in CONTROL_TOKENS)
    assert clean["final_answer"] == "Nested answer"


def test_tokens_only_in_meta_are_not_text() -> None:
    """meta is not rendered as chat text, so tokens there are not reported."""
    row = make_row(trace(meta={"x": "<start_of_turn><bos><|im_start|>"}))
    for fmt in FORMATS:
        assert render(fmt, row)[1] == 0


@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"jsonl"}))
def test_every_text_format_reports_tokens(fmt: str) -> None:
    for where in ("prompt", "answer", "step"):
        parts = {"prompt": "p", "answer": "a", "step": "s"} | {where: "x<eos>y"}
        row = make_row(trace(parts["prompt"], parts["answer"], parts["step"]))
        flags = render(fmt, row)[1]
        assert flags & CONTROL_TOKENS_LEFT, where
        line, sanitized = FORMATS[fmt](row, Options(sanitize=True))
        assert sanitized & SANITIZED
        assert b"<eos>" not in line


# --- Tunix GRPO ----------------------------------------------------------------------------


def test_grpo_record() -> None:
    """Tunix's template without a trailing newline, string columns, the reward's format."""
    record, flags = render("tunix-grpo", BY_ID["00000002"], Options(system="You are a calculator."))
    assert flags == 0
    assert record == {
        "id": BY_ID["00000002"].id,
        "prompts": "<start_of_turn>user\nYou are a calculator.\n\nCalculate 5*6<end_of_turn>\n"
        "<start_of_turn>model",
        "question": "Calculate 5*6",
        "answer": "30",
        "completion": "<reasoning>Multiply 5 by 6</reasoning><answer>30</answer>",
    }


def test_grpo_rows_all_have_one_shape() -> None:
    """Every row has the same keys and only strings (Tunix's loader needs that)."""
    keys = set()
    for row in ROWS:
        record, _ = render("tunix-grpo", row)
        keys.add(tuple(record))
        assert all(isinstance(v, str) for v in record.values())
    assert keys == {("id", "prompts", "question", "answer", "completion")}


def test_grpo_reward_mismatch_is_flagged() -> None:
    """An answer holding `</answer>` and a newline is not extracted intact: flagged."""
    record, flags = render("tunix-grpo", BY_ID["00000008"])
    assert flags == REWARD_MISMATCH
    found = tunix_grpo.REWARD_FORMAT.search(record["completion"])
    assert found is not None
    assert found.group(1) == "42"
    matched = [render("tunix-grpo", r)[1] & REWARD_MISMATCH for r in ROWS]
    assert sum(1 for m in matched if m) == 1


def test_grpo_regex_is_tunix_check_format() -> None:
    regex = tunix_grpo.REWARD_FORMAT
    assert regex.flags & re.MULTILINE
    assert regex.flags & re.DOTALL
    assert tunix_grpo.matches_reward("  <reasoning>r\ns</reasoning><answer>7</answer>\n", "7")
    assert not tunix_grpo.matches_reward("<reasoning></reasoning><answer>7</answer>", "7")


# --- TRL -----------------------------------------------------------------------------------


def test_trl_messages() -> None:
    """Conversational: system (with --system), user, assistant with reasoning_content."""
    record, _ = render("trl-messages", BY_ID["00000006"], Options(system="S"))
    assert record == {
        "messages": [
            {"role": "system", "content": "S"},
            {
                "role": "user",
                "content": 'Unsorted steps: line one\nline two "quoted" \\ back\\slash',
            },
            {
                "role": "assistant",
                "content": "c",
                "reasoning_content": "a\twith a tab\nb\nwith a newline\nc",
            },
        ]
    }


@pytest.mark.parametrize(
    ("fmt", "keys"),
    [
        ("trl-messages", {"messages"}),
        ("trl-prompt-completion", {"prompt", "completion"}),
        ("trl-stepwise", {"prompt", "completions", "labels"}),
    ],
)
def test_trl_key_sets(fmt: str, keys: set[str]) -> None:
    """Exactly the key sets TRL's apply_chat_template and dataset types accept."""
    for variant in ("default", "system"):
        for row in ROWS:
            assert set(render(fmt, row, options(variant))[0]) == keys


def test_trl_prompt_completion_splits_the_messages() -> None:
    for row in ROWS:
        messages = render("trl-messages", row, Options(system="S"))[0]["messages"]
        split = render("trl-prompt-completion", row, Options(system="S"))[0]
        assert split["prompt"] + split["completion"] == messages
        assert [m["role"] for m in split["completion"]] == ["assistant"]


def test_stepwise_one_true_label_per_step() -> None:
    record, _ = render("trl-stepwise", BY_ID["00000006"], Options(system="S"))
    assert record["prompt"].startswith("S\n\nUnsorted steps")
    assert record["completions"] == ["a\twith a tab", "b\nwith a newline", "c"]
    assert record["labels"] == [True, True, True]


# --- ATIF ----------------------------------------------------------------------------------

_ROOT = {
    "schema_version",
    "session_id",
    "trajectory_id",
    "agent",
    "steps",
    "notes",
    "final_metrics",
    "continued_trajectory_ref",
    "extra",
    "subagent_trajectories",
}
_STEP = {
    "step_id",
    "timestamp",
    "source",
    "model_name",
    "reasoning_effort",
    "message",
    "reasoning_content",
    "tool_calls",
    "observation",
    "metrics",
    "is_copied_context",
    "llm_call_count",
    "extra",
}
_AGENT_ONLY = {"model_name", "reasoning_effort", "reasoning_content", "tool_calls", "metrics"}
_METRICS = {
    "total_prompt_tokens",
    "total_completion_tokens",
    "total_cached_tokens",
    "total_cost_usd",
    "total_steps",
    "extra",
}


def atif_errors(doc: dict[str, Any]) -> list[str]:
    """The rules of atif.md (harbor 0.26.0's models), checked without harbor."""
    errors = [f"unknown root field {k}" for k in set(doc) - _ROOT]
    if doc.get("schema_version", "ATIF-v1.8") not in {f"ATIF-v1.{n}" for n in range(9)}:
        errors.append("schema_version")
    agent = doc.get("agent")
    if not isinstance(agent, dict) or not {"name", "version"} <= set(agent):
        errors.append("agent needs name and version")
    elif set(agent) - {"name", "version", "model_name", "tool_definitions", "extra"}:
        errors.append("unknown agent field")
    steps = doc.get("steps")
    if not isinstance(steps, list) or not steps:
        return [*errors, "steps: at least one"]
    for n, step in enumerate(steps, start=1):
        errors += [f"step {n}: unknown field {k}" for k in set(step) - _STEP]
        if step.get("step_id") != n:
            errors.append(f"step {n}: step_id {step.get('step_id')}")
        if step.get("source") not in ("system", "user", "agent"):
            errors.append(f"step {n}: source")
        if not isinstance(step.get("message"), str | list):
            errors.append(f"step {n}: message")
        if step.get("source") != "agent" and set(step) & _AGENT_ONLY:
            errors.append(f"step {n}: agent-only field on a {step.get('source')} step")
        if "extra" in step and not isinstance(step["extra"], dict):
            errors.append(f"step {n}: extra")
    metrics = doc.get("final_metrics") or {}
    errors += [f"unknown final_metrics field {k}" for k in set(metrics) - _METRICS]
    if metrics.get("total_steps", len(steps)) != len(steps) and "notes" not in doc:
        errors.append("total_steps differs from the steps and no notes say why")
    if "extra" in doc and not isinstance(doc["extra"], dict):
        errors.append("extra")
    return errors


def test_atif_checker_can_fail() -> None:
    assert atif_errors({"agent": {"name": "x"}, "steps": [{"step_id": 2, "source": "user"}]})


@pytest.mark.parametrize("variant", ["default", "system", "sanitize"])
def test_atif_trajectories_are_valid(variant: str) -> None:
    for row in ROWS:
        doc, _ = render("atif", row, options(variant))
        assert atif_errors(doc) == [], row.id


def test_atif_mapping() -> None:
    """User step, one agent step with the reasoning and the typed steps; meta under extra."""
    row = BY_ID["00000006"]
    doc, _ = render("atif", row)
    assert doc["session_id"] == doc["trajectory_id"] == row.id
    assert doc["schema_version"] == "ATIF-v1.7"
    assert doc["agent"]["name"] == "tunix-rt"
    user, agent = doc["steps"]
    assert (user["source"], agent["source"]) == ("user", "agent")
    assert agent["message"] == "c"
    assert agent["reasoning_content"] == "a\twith a tab\nb\nwith a newline\nc"
    assert [s["i"] for s in agent["extra"]["reasoning_steps"]] == [0, 3, 7]
    assert doc["final_metrics"] == {"total_steps": 2}
    assert doc["extra"]["content_hash"] == row.content_hash
    assert doc["extra"]["meta"]["created_at"] == "meta wins"
    system, _ = render("atif", row, Options(system="S"))
    assert [s["source"] for s in system["steps"]] == ["system", "user", "agent"]
    assert system["final_metrics"] == {"total_steps": 3}


def test_atif_meta_absent_or_empty() -> None:
    assert "meta" not in render("atif", BY_ID["00000005"])[0]["extra"]
    assert render("atif", BY_ID["00000004"])[0]["extra"]["meta"] == {}


# --- every format ------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "variant"), CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_golden_snapshot(fmt: str, variant: str) -> None:
    """The fixed traces render exactly as tests/data/golden/<format>/<variant>.jsonl."""
    rendered = b"".join(FORMATS[fmt](row, options(variant))[0] for row in ROWS)
    path = golden_path(fmt, variant)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rendered)
    assert rendered == path.read_bytes()
    assert rendered.decode("utf-8").count("\n") == len(ROWS)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_steps_in_ascending_i(fmt: str) -> None:
    """Stored steps i = 7, 0, 3 come out as 0, 3, 7 wherever a format lists them."""
    line = FORMATS[fmt](BY_ID["00000006"], Options())[0].decode()
    if fmt != "jsonl":
        assert line.index("with a tab") < line.index("with a newline")


def test_renderers_are_deterministic() -> None:
    for fmt in FORMATS:
        for row in ROWS:
            assert FORMATS[fmt](row, Options()) == FORMATS[fmt](row, Options())


def test_format_names() -> None:
    assert canonical_name("tunix_sft") == canonical_name("tunix-sft") == "tunix-sft"
    assert canonical_name("tunix_grpo") is None
    assert canonical_name("nope") is None


# --- the stored record line (records.record_line) -------------------------------------------


def test_record_line_is_to_record() -> None:
    """The pass-through line parses to exactly what to_record gives for the same trace."""
    for row in ROWS:
        parsed = TraceRow(
            uuid.UUID(row.id),
            datetime.fromisoformat(row.created_at),
            orjson.loads(row.payload)["trace_version"],
            row.content_hash,
            orjson.loads(row.payload),
            row.tags,
        )
        assert orjson.loads(record_line(row)) == to_record(parsed)


def test_record_line_keeps_the_stored_payload_bytes() -> None:
    """The payload is the stored canonical JSON: its bytes hash to content_hash."""
    for row in ROWS:
        line = record_line(row)
        start = line.index(b',"payload":') + len(b',"payload":')
        end = line.rindex(b',"tags":')
        assert line[start:end] == row.payload
        assert hashlib.sha256(line[start:end]).hexdigest() == row.content_hash


def test_record_line_version_is_the_top_level_one() -> None:
    """A `trace_version` key inside meta does not fool the cut from the payload's end."""
    row = make_row(trace(meta={"trace_version": "inner", "z": {"trace_version": "deeper"}}))
    assert orjson.loads(record_line(row))["trace_version"] == "1.0"


@pytest.mark.parametrize("payload", [b"not json", b"[1]", b'{"a":1}', b'{"final_answer":"x"}'])
def test_damaged_payloads_are_named(payload: bytes) -> None:
    row = RawRow("00000000-0000-4000-8000-00000000000d", "t", "h", payload)
    with pytest.raises(DamagedTraceError, match="0000000d is damaged"):
        record_line(row)
    with pytest.raises(DamagedTraceError, match="0000000d is damaged"):
        FORMATS["trace"](row, Options())
