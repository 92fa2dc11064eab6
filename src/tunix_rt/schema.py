"""The reasoning-trace schema v1: the compatibility contract.

Rules (see the README's "Trace schema" section): `trace_version` 1..64 characters, `prompt` and
`final_answer` 1..50,000, `steps` 1..1,000 items, each step `i` an integer >= 0 unique within the
trace, `type` 1..64, `content` 1..20,000; `meta` an optional JSON object. Unknown keys are errors
at every level except inside `meta`, so nothing a user wrote is dropped silently. Validation is
strict: `"1"` is not an integer and `1` is not a string.

The content hash is the SHA-256 of the canonical JSON of the validated trace (sorted keys, no
whitespace, UTF-8, non-ASCII kept as is); it identifies a trace independently of formatting.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

DEFAULT_TRACE_MAX_BYTES = 1_048_576

Version = Annotated[str, StringConstraints(min_length=1, max_length=64)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=50_000)]
StepType = Annotated[str, StringConstraints(min_length=1, max_length=64)]
StepContent = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class Step(BaseModel):
    """One numbered reasoning step."""

    model_config = ConfigDict(extra="forbid", strict=True)

    i: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
    type: StepType
    content: StepContent


class TraceV1(BaseModel):
    """A reasoning trace: prompt, numbered steps, final answer and free-form metadata."""

    model_config = ConfigDict(extra="forbid", strict=True)

    trace_version: Version
    prompt: LongText
    final_answer: LongText
    steps: Annotated[list[Step], Field(min_length=1, max_length=1000)]
    meta: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _unique_step_indices(self) -> TraceV1:
        indices = [step.i for step in self.steps]
        if len(set(indices)) != len(indices):
            dup = next(i for n, i in enumerate(indices) if i in indices[:n])
            raise ValueError(f"step index i must be unique: {dup} appears more than once")
        return self

    def canonical(self) -> dict[str, Any]:
        """The stored payload: every field the user gave, `meta` only when present."""
        payload: dict[str, Any] = {
            "trace_version": self.trace_version,
            "prompt": self.prompt,
            "final_answer": self.final_answer,
            "steps": [{"i": s.i, "type": s.type, "content": s.content} for s in self.steps],
        }
        if self.meta is not None:
            payload["meta"] = self.meta
        return payload


def canonical_json(payload: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8, as orjson writes it.

    orjson is the definition (it differs from the standard library only in float exponents,
    `1e-7` against `1e-07`); raises orjson.JSONEncodeError for lone surrogates.
    """
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def content_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload)).hexdigest()
