"""One validator, one error wording: upload and doctor report the same field paths."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import make_trace
from tunix_rt.ingest.readers import Location, RawRecord
from tunix_rt.ingest.validate import RecordError, check, payload_problem
from tunix_rt.schema import content_hash, validate_trace

LOC = Location("f.jsonl", 3)


def _errors(value: object, max_bytes: int = 1 << 20) -> list[str]:
    out = check(RawRecord(LOC, b"{}", value), max_bytes)
    assert isinstance(out, list)
    return [str(e) for e in out]


def test_valid_trace_gives_identity() -> None:
    trace = make_trace(1)
    out = check(RawRecord(LOC, b"{}", trace), 1 << 20)
    assert not isinstance(out, list)
    trace_id, created_at, version, digest, encoded, tags = out
    assert (trace_id, created_at, version, tags) == (None, None, "1.0", ())
    assert digest == content_hash(validate_trace(trace))
    assert encoded.startswith(b'{"final_answer":"2"')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (make_trace(steps=[{"i": "0", "type": "t", "content": "c"}]), "steps[0].i"),
        (make_trace(steps=[{"i": 0, "type": "t", "content": "c", "x": 1}]), "steps[0].x"),
        ({**make_trace(), "extra": 1}, "extra: unknown field (not part of trace schema v1)"),
        ({"prompt": "p"}, "trace_version: field required"),
    ],
)
def test_error_wording_names_the_field(value: object, expected: str) -> None:
    errors = _errors(value)
    assert any(expected in e for e in errors), errors
    assert all(e.startswith("f.jsonl:3: ") for e in errors)


def test_envelope_errors_are_prefixed_with_payload() -> None:
    record = {
        "id": "nope",
        "payload": make_trace(steps=[{"i": -1, "type": "t", "content": "c"}]),
    }
    errors = _errors(record)
    assert "f.jsonl:3: id: must be a UUID" in errors
    assert any(e.startswith("f.jsonl:3: payload.steps[0].i: ") for e in errors)


def test_envelope_hash_must_match() -> None:
    record = {"id": str(uuid.uuid4()), "content_hash": "0" * 64, "payload": make_trace()}
    assert "f.jsonl:3: content_hash: does not match the payload" in _errors(record)


def test_too_big_and_nul() -> None:
    assert _errors(make_trace(prompt="x" * 5000), max_bytes=1024) == [
        "f.jsonl:3: trace exceeds maximum of 1024 bytes"
    ]
    assert any("U+0000" in e for e in _errors(make_trace(prompt="a\x00b")))


def test_doctor_uses_the_same_wording() -> None:
    bad = make_trace(steps=[{"i": "0", "type": "t", "content": "c"}])
    problem = payload_problem(bad, "x")
    assert problem is not None
    assert problem.startswith("no longer valid (steps[0].i: ")
    good = validate_trace(make_trace())
    assert payload_problem(good, content_hash(good)) is None
    assert payload_problem(good, "0" * 64) == "content_hash does not match the payload"


def test_record_error_str() -> None:
    assert str(RecordError(LOC, None, "boom")) == "f.jsonl:3: boom"
    assert str(RecordError(Location("a", 1, 2), "x", "y")) == "a:1 (item 2): x: y"
