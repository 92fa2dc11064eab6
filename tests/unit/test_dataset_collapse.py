"""`dataset.collapse`: one trace per exact-duplicate key, the keeper of `trace dupes`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.helpers import DATA
from tunix_rt import dataset as ds
from tunix_rt import dupes
from tunix_rt.filters import fold

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def cand(n: int, seconds: int) -> ds.Candidate:
    return ds.Candidate(
        f"00000000-0000-8000-8000-{n:012d}", T0 + timedelta(seconds=seconds), "h", "s"
    )


def test_collapse_keeps_the_oldest_ties_by_the_smaller_id() -> None:
    rows = [("aa", cand(3, 5)), ("bb", cand(1, 9)), ("aa", cand(2, 1)), ("aa", cand(1, 1))]
    kept, dropped = ds.collapse(rows)
    assert dropped == 2
    assert kept == [cand(1, 1), cand(1, 9)]  # in the order the keys first came
    assert ds.collapse([]) == ([], 0)


def test_the_split_prompt_is_the_first_folded_part() -> None:
    """The build takes the split's normalised prompt from `dupes.folded_parts`: the same text
    `prompt_key` gives, so --keep-duplicates (which folds only the prompt) splits alike."""
    seen = 0
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                payload = json.loads(line)
                parts = dupes.folded_parts(payload)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # the invalid records of the shared data
            assert parts[0] == ds.prompt_key(payload["prompt"]) == fold(payload["prompt"])
            seen += 1
    assert seen > 900
    odd = {"prompt": "a\x00B  c", "final_answer": "x", "steps": []}
    assert dupes.folded_parts(odd)[0] == ds.prompt_key("a\x00B  c")
