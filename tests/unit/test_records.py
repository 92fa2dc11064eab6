from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tunix_rt.records import TraceRow, schema_ordered, to_record


def test_schema_order_whatever_the_database_kept() -> None:
    payload = {"meta": {"b": 1, "a": 2}, "steps": [{"content": "c", "type": "t", "i": 0}]}
    payload |= {"final_answer": "f", "prompt": "p", "trace_version": "1"}
    ordered = schema_ordered(payload)
    assert list(ordered) == ["trace_version", "prompt", "final_answer", "steps", "meta"]
    assert list(ordered["steps"][0]) == ["i", "type", "content"]
    assert list(ordered["meta"]) == ["b", "a"]  # free-form: left as it is


def test_record_shape() -> None:
    ident = uuid.UUID(int=1)
    row = TraceRow(ident, datetime(2026, 1, 2, tzinfo=UTC), "1", "h", {"prompt": "p"})
    assert to_record(row) == {
        "id": str(ident),
        "created_at": "2026-01-02T00:00:00+00:00",
        "trace_version": "1",
        "content_hash": "h",
        "payload": {"prompt": "p"},
        "tags": [],
    }
    tagged = TraceRow(ident, datetime(2026, 1, 2, tzinfo=UTC), "1", "h", {}, ("a", "b"))
    assert to_record(tagged)["tags"] == ["a", "b"]
