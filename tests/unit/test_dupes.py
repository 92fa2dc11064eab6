"""The pure parts of `trace dupes`: normalisation, tokens, shingles, fingerprints, MinHash,
LSH banding, clustering and the keeper rule."""

from __future__ import annotations

import ast
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tunix_rt import dupes as d
from tunix_rt.cli.trace.dupes import CURVE_HELP

SRC = Path(__file__).resolve().parents[2] / "src" / "tunix_rt" / "dupes.py"


def trace(prompt: str, steps: list[str], answer: str, **extra: Any) -> dict[str, Any]:
    return {
        "trace_version": "1.0",
        "prompt": prompt,
        "final_answer": answer,
        "steps": [{"i": i, "type": "t", "content": c} for i, c in enumerate(steps)],
        **extra,
    }


def key(t: dict[str, Any]) -> str:
    return d.exact_key(d.folded_parts(t))


# --- normalised content ---------------------------------------------------------------------


def test_case_and_whitespace_are_not_content() -> None:
    """Exact duplicates up to case, Unicode case folding and whitespace runs."""
    a = trace("What is 5 + 3?", ["Add  them", "5 + 3 = 8"], "8")
    b = trace("  WHAT is 5\t+ 3?\n", ["add them", "5 + 3 = 8 "], "8")
    assert key(a) == key(b)
    assert key(trace("STRASSE", ["x"], "y")) == key(trace("straße", ["x"], "y"))


def test_numbers_are_content() -> None:
    """`What is 5 + 3?` and `What is 6 + 3?` are different traces."""
    assert key(trace("What is 5 + 3?", ["s"], "a")) != key(trace("What is 6 + 3?", ["s"], "a"))


def test_meta_and_step_types_are_not_content() -> None:
    """Meta and step types are labels: they do not make a trace different."""
    a = trace("p", ["s1", "s2"], "a", meta={"source": "x"})
    b = trace("p", ["s1", "s2"], "a", meta={"source": "y"})
    b["steps"][0]["type"] = "other"
    assert key(a) == key(b)


def test_steps_count_in_ascending_i() -> None:
    """Steps are content in ascending `i`, whatever order the list has."""
    a = trace("p", ["one", "two"], "a")
    b = dict(a, steps=list(reversed(a["steps"])))
    assert key(a) == key(b)
    swapped = trace("p", ["two", "one"], "a")
    assert key(a) != key(swapped)


def test_folding_all_parts_at_once_is_folding_each() -> None:
    """`folded_parts` normalises the parts as one text: the same as `fold` on each, also when
    a part holds the U+0000 it joins them with."""
    rng = random.Random(11)
    for _ in range(300):
        parts = [random_text(rng) or "x" for _ in range(rng.randrange(1, 6))]
        t = trace(parts[0], parts[1:-1] or ["s"], parts[-1])
        assert d.folded_parts(t) == [d.fold(p) for p in d.content_parts(t)]
    t = trace("a\x00B", ["C\u0301"], "D")
    assert d.folded_parts(t) == ["a\x00b", "\u0107", "d"]  # c + combining acute: NFC


def test_parts_do_not_run_into_each_other() -> None:
    """The boundary between parts is part of the content."""
    assert key(trace("a b", ["c"], "d")) != key(trace("a", ["b c"], "d"))


# --- tokens and shingles --------------------------------------------------------------------


def test_tokens_keep_words_numbers_and_symbols_and_drop_punctuation() -> None:
    """Punctuation separates; symbols and numbers are tokens; `_` joins a word."""
    assert d.tokens("what is 27 + 19? (x_y), $5!") == [
        "what",
        "is",
        "27",
        "+",
        "19",
        "x_y",
        "$",
        "5",
    ]
    assert d.tokens("what is 27+19") == d.tokens("what is 27 + 19 ?")


def test_scripts_without_spaces_are_cut_into_characters() -> None:
    """Han, kana and Thai: one token per character (character n-grams); emoji are symbols."""
    assert d.tokens("机器学习。") == ["机", "器", "学", "习"]
    assert d.tokens("カタカナです") == list("カタカナです")
    assert d.tokens("ภาษา") == list("ภาษา")
    assert d.tokens("ok 😀😀") == ["ok", "😀", "😀"]
    assert d.tokens("한국어 문장") == ["한국어", "문장"]  # Hangul is written with spaces
    assert d.tokens("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # combining marks stay in the word


def test_short_parts_are_one_shingle() -> None:
    """A part of one or two tokens is one shingle; a part of none has none."""
    assert d.shingles(["8"]) == {"8"}
    assert d.shingles(["hi there"]) == {"hi there"}
    assert d.shingles(["?!"]) == set()
    assert d.shingles(["a b c d"]) == {"a b c", "b c d"}


def test_shingles_stay_inside_parts_so_step_order_does_not_matter() -> None:
    """Reordered steps have the same shingle set (3-grams never cross a part)."""
    a = d.folded_parts(trace("p q r", ["one two three", "four five six"], "x"))
    b = d.folded_parts(trace("p q r", ["four five six", "one two three"], "x"))
    assert d.shingles(a) == d.shingles(b)
    assert "r one two" not in d.shingles(a)


def test_jaccard() -> None:
    assert d.jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert d.jaccard(set(), set()) == 0.0


# --- fingerprints and signatures ------------------------------------------------------------

ALPHABET = (
    "abcxyzABC0123456789 _-.,;:!?()[]'\"+=*/\u00d7\u00f7$€%<>\t\n"
    "éüßçñ机器学习是人工智能かなカナ한국어ภาษาไทยहिन्दीعربي😀👋❤\ufe0f\u200d\u0301"
)


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.1:  # now and then any code point (no surrogates)
        return "".join(
            chr(rng.choice([rng.randrange(0x20, 0xD800), rng.randrange(0xE000, 0x110000)]))
            for _ in range(rng.randrange(1, 30))
        )
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 80)))


def test_batched_fingerprints_equal_the_python_definition() -> None:
    """The numpy tokeniser gives exactly the fingerprints of `shingles`, on any text."""
    rng = random.Random(7)
    docs = [[d.fold(random_text(rng)) for _ in range(rng.randrange(0, 5))] for _ in range(400)]
    batch = d.fingerprint_batch(docs)
    for k, parts in enumerate(docs):
        expected = sorted({d.shingle_fingerprint(s) for s in d.shingles(parts)})
        assert batch.of(k).tolist() == expected, parts


def test_signatures_equal_datasketch() -> None:
    """With the same 32-bit shingle hashes, a signature is datasketch's MinHash, bit for bit
    (same affine32 permutations)."""
    datasketch = pytest.importorskip("datasketch")
    rng = random.Random(3)
    docs = [[d.fold(random_text(rng)) for _ in range(3)] for _ in range(30)]
    docs.append([])
    _, sigs = d.sketch(docs)
    for k, parts in enumerate(docs):
        m = datasketch.MinHash(num_perm=d.NUM_PERM, hashfunc=d.shingle_hash32)
        m.update_batch(sorted(d.shingles(parts)))
        assert np.array_equal(m.hashvalues, sigs[k])


def test_a_trace_without_shingles_has_an_all_ones_signature() -> None:
    _, sigs = d.sketch([["?"], ["a b c"]])
    assert (sigs[0] == 0xFFFFFFFF).all()
    assert not (sigs[1] == 0xFFFFFFFF).all()


def test_large_batches_give_the_same_signatures() -> None:
    """Past 32,768 shingles a batch is worked through in passes: same numbers."""
    rng = random.Random(5)
    words = [f"w{n}" for n in range(3000)]
    docs = [
        [" ".join(rng.choice(words) for _ in range(rng.randrange(50, 300)))] for _ in range(300)
    ]
    docs.insert(7, [" ".join(rng.choice(words) for _ in range(40000))])  # a pass of its own
    _, together = d.sketch(docs)
    assert d.fingerprint_batch(docs).fingerprints.size > 1 << 15
    for k in (0, 6, 7, 8, len(docs) - 1):
        _, alone = d.sketch([docs[k]])
        assert np.array_equal(together[k], alone[0])


def test_sorted_jaccard_equals_set_jaccard() -> None:
    rng = random.Random(1)
    for _ in range(50):
        a = {rng.randrange(100) for _ in range(rng.randrange(0, 40))}
        b = {rng.randrange(100) for _ in range(rng.randrange(0, 40))}
        got = d.sorted_jaccard(np.array(sorted(a), np.uint64), np.array(sorted(b), np.uint64))
        want = len(a & b) / len(a | b) if a and b else 0.0
        assert got == pytest.approx(want)


# --- LSH ------------------------------------------------------------------------------------


def test_default_bands_reach_the_claimed_recall() -> None:
    """At 0.8: 21 bands of 6 rows, 0.998 of the pairs at 0.8 become candidates."""
    assert d.choose_bands(0.8) == (21, 6)
    assert d.s_curve(0.8, 21, 6) == pytest.approx(0.99831, abs=1e-5)
    for t in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0):
        bands, rows = d.choose_bands(t)
        assert bands * rows <= d.NUM_PERM
        assert d.s_curve(t, bands, rows) >= d.TARGET_RECALL


def test_datasketch_default_bands_catch_only_forty_percent_at_the_threshold() -> None:
    """The issue's warning: MinHashLSH(threshold=0.8, num_perm=128) picks 9 x 13."""
    datasketch = pytest.importorskip("datasketch")
    lsh = datasketch.MinHashLSH(threshold=0.8, num_perm=128)
    assert (lsh.b, lsh.r) == (9, 13)
    assert d.s_curve(0.8, 9, 13) == pytest.approx(0.40, abs=0.01)


def test_the_curve_in_the_help_is_the_formula() -> None:
    points = [0.5, 0.6, 0.7, 0.75, 0.8, 0.9]
    assert d.curve_table(21, 6, points) == CURVE_HELP


def test_candidates_share_a_band() -> None:
    """Equal band keys make candidates; large buckets are listed apart; `active` limits."""
    keys = np.array([[1, 2], [1, 3], [4, 3], [5, 6]], dtype=np.uint64)
    found = d.candidates(keys)
    assert found.pairs.tolist() == [[0, 1], [1, 2]]
    assert d.candidates(keys, np.array([0, 2, 3])).pairs.tolist() == []
    many = np.zeros((d.SMALL_BUCKET + 1, 1), dtype=np.uint64)
    found = d.candidates(many)
    assert found.pairs.tolist() == []
    assert [b.tolist() for b in found.big] == [list(range(d.SMALL_BUCKET + 1))]
    assert d.candidates(np.zeros((1, 3), dtype=np.uint64)).pairs.shape == (0, 2)


def test_band_keys_are_equal_exactly_when_the_band_is() -> None:
    sigs = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [7, 2, 3, 4]], dtype=np.uint32)
    keys = d.band_keys(sigs, 2, 2)
    assert keys[0, 0] == keys[1, 0]
    assert keys[0, 1] == keys[2, 1]
    assert keys[0, 0] != keys[2, 0]
    assert keys[0, 1] != keys[1, 1]


# --- clustering -----------------------------------------------------------------------------


def test_union_find_groups() -> None:
    uf = d.UnionFind(6)
    assert uf.union(4, 1)
    assert uf.union(1, 5)
    assert not uf.union(4, 5)
    assert uf.union(2, 3)
    assert uf.groups() == [[1, 4, 5], [2, 3]]


def test_join_similar_checks_pairs_and_skips_joined_ones() -> None:
    """Pairs below the threshold are not joined; a pair already joined is not checked."""
    sims = {(0, 1): 0.9, (1, 2): 0.85, (0, 2): 0.1, (3, 4): 0.5}
    asked: list[tuple[int, int]] = []

    def sim(i: int, j: int) -> float:
        asked.append((i, j))
        return sims[(i, j)]

    pairs = np.array([[0, 1], [1, 2], [0, 2], [3, 4]], dtype=np.int64)
    uf, edges = d.join_similar(5, d.Candidates(pairs, []), sim, 0.8)
    assert uf.groups() == [[0, 1, 2]]
    assert (0, 2) not in asked
    assert [(i, j) for i, j, _ in edges] == [(0, 1), (1, 2)]
    big = d.Candidates(np.zeros((0, 2), dtype=np.int64), [np.array([0, 1, 2])])
    uf, _ = d.join_similar(5, big, lambda i, j: sims.get((i, j), 0.0), 0.8)
    assert uf.groups() == [[0, 1, 2]]


def test_confirm_rebuilds_a_cluster_whose_edge_fails() -> None:
    """An edge that does not hold on the exact strings splits the cluster."""
    exact = {(0, 1): 0.9, (1, 2): 0.2, (0, 2): 0.3}
    assert d.confirm([0, 1, 2], [(0, 1), (0, 2)], lambda i, j: 0.95, 0.8) == [[0, 1, 2]]
    assert d.confirm([0, 1, 2], [(0, 1), (1, 2)], lambda i, j: exact[(i, j)], 0.8) == [[0, 1]]


# --- keeper rule ----------------------------------------------------------------------------


def member(n: int, second: int, score: float | None = None) -> d.Member:
    return d.Member(uuid.UUID(int=n), datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC), score)


def test_keeper_rules_break_ties_by_id() -> None:
    ms = [member(3, 5), member(2, 1), member(1, 5), member(4, 1)]
    assert [m.id.int for m in d.ranked(ms, "oldest")] == [2, 4, 1, 3]
    assert [m.id.int for m in d.ranked(ms, "newest")] == [1, 3, 2, 4]


def test_best_score_keeps_the_highest_and_puts_unscored_last() -> None:
    ms = [member(1, 0, None), member(2, 0, 0.5), member(3, 0, 0.9), member(4, 0, 0.9)]
    ms.append(member(5, 0, float("nan")))
    assert [m.id.int for m in d.ranked(ms, "best-score")] == [3, 4, 2, 1, 5]


def test_the_module_is_pure() -> None:
    """No database and no terminal in tunix_rt.dupes."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(SRC.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    banned = ("sqlalchemy", "sqlmodel", "psycopg", "typer", "rich", "tunix_rt.db", "tunix_rt.cli")
    assert not [n for n in names if n.startswith(banned)]
