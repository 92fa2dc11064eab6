"""Canonical JSON is a fixed point, stored payloads parse back, timestamps have one range."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from tests.helpers import make_trace
from tunix_rt.errors import TunixRtError
from tunix_rt.ingest.readers import Location, RawRecord
from tunix_rt.ingest.validate import check, stored_payload_problem
from tunix_rt.records import CREATED_AT_MAX, CREATED_AT_MIN, DamagedTraceError, parse_payload
from tunix_rt.schema import canonical_json, content_hash, validate_trace

NUMBERS = [-0.0, 0.0, 1e16, 1.5e300, 5e-324, 1.7976931348623157e308, 0.1, 1e-7, 100.0, 1.0]
NUMBERS += [123456789012345678, -(2**63), 2**63 - 1, 0, 10**16]


@pytest.mark.parametrize("number", NUMBERS, ids=repr)
def test_canonical_json_is_a_fixed_point(number: float) -> None:
    """Parsing stored canonical bytes and writing them again gives the same bytes."""
    trace = validate_trace(make_trace(meta={"n": number, "deep": [{"x": [number]}]}))
    encoded = canonical_json(trace)
    assert canonical_json(orjson.loads(encoded)) == encoded
    assert canonical_json(json.loads(encoded)) == encoded  # what the standard library reads
    assert content_hash(trace) == hashlib.sha256(encoded).hexdigest()


def test_negative_zero_and_exponents_keep_their_text() -> None:
    encoded = canonical_json({"a": -0.0, "b": 1e16, "c": 1.5e300, "d": 5e-324})
    assert encoded == b'{"a":-0.0,"b":1e+16,"c":1.5e+300,"d":5e-324}'


def test_parse_payload() -> None:
    ident = uuid.UUID(int=7)
    assert parse_payload(b'{"a":-0.0}', ident) == {"a": -0.0}
    for damaged in ("not json", "[1]", ""):
        with pytest.raises(DamagedTraceError, match=f"trace {ident} is damaged") as info:
            parse_payload(damaged, ident)
        assert isinstance(info.value, TunixRtError)


def test_stored_payload_problem_never_raises() -> None:
    trace = validate_trace(make_trace(meta={"big": 1.5e300, "neg": -0.0}))
    good = canonical_json(trace)
    digest = hashlib.sha256(good).hexdigest()
    assert stored_payload_problem(good, digest) is None
    assert stored_payload_problem(good.decode(), digest) is None
    spaced = json.dumps(trace)
    assert stored_payload_problem(spaced, digest) == (
        "stored payload is not its canonical JSON (changed outside tunix-rt)"
    )
    assert stored_payload_problem(good, "0" * 64) == "content_hash does not match the payload"
    problems = {
        text: stored_payload_problem(text, digest)
        for text in ("", "not json", "[1, 2]", "1e999", '{"prompt": ""}', "\ud800", '"\\ud800"')
    }
    assert all(problems.values()), problems


def _created_at(value: object) -> datetime | list[str]:
    record = {"created_at": value, "payload": make_trace()}
    out = check(RawRecord(Location("f.jsonl", 4), b"{}", record), 1 << 20)
    if isinstance(out, list):
        return [str(e) for e in out]
    assert out[1] is not None
    return out[1]


def test_created_at_range_is_inclusive_and_in_utc() -> None:
    assert _created_at(CREATED_AT_MIN.isoformat()) == CREATED_AT_MIN
    assert _created_at(CREATED_AT_MAX.isoformat()) == CREATED_AT_MAX
    east = CREATED_AT_MAX.astimezone(timezone(timedelta(hours=14)))
    assert _created_at(east.isoformat()) == CREATED_AT_MAX
    for outside in (CREATED_AT_MIN - timedelta(microseconds=1), CREATED_AT_MAX + timedelta(1)):
        errors = _created_at(outside.isoformat())
        assert isinstance(errors, list)
        assert errors[0].startswith("f.jsonl:4: created_at: must lie between ")
    assert _created_at("2026-11-25T21:22:24+01:00") == datetime(
        2026, 11, 25, 20, 22, 24, tzinfo=UTC
    )


def test_the_range_survives_every_session_offset() -> None:
    """One day of margin: any UTC offset PostgreSQL may use keeps the value within year 1..9999."""
    for hours in (-15, 15):
        zone = timezone(timedelta(hours=hours, minutes=59 if hours > 0 else -59))
        assert CREATED_AT_MIN.astimezone(zone).year == 1
        assert CREATED_AT_MAX.astimezone(zone).year == 9999
