"""`-q/--search` through the CLI, on SQLite and PostgreSQL (and PostgreSQL with ctype C).

The same multilingual corpus is searched on every database; the ids must be the same, and
must be what the Python definition (`search_body` + `body_matches`) selects.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from tests.helpers import (
    PG_ADMIN_URL,
    Cli,
    drop_pg_database,
    invoke,
    pg_admin,
    pg_url_for,
    write_jsonl,
)
from tunix_rt.db.engine import make_engine
from tunix_rt.filters import parse_search
from tunix_rt.repositories import search
from tunix_rt.settings import load_settings


def trace(label: str, prompt: str, steps: list[str], final: str, **meta: Any) -> dict[str, Any]:
    return {
        "trace_version": "1.0",
        "prompt": prompt,
        "final_answer": final,
        "steps": [{"i": i, "type": "reasoning", "content": c} for i, c in enumerate(steps)],
        "meta": {"label": label, **meta},
    }


CORPUS = [
    trace("en", "What is the capital of France?", ["Recall Europe.", "France: Paris."], "Paris"),
    trace("de", "Wie heißt die Straße am Bahnhof?", ["Die BAHNHOFSTRASSE ist gemeint."], "Ja"),
    trace("fr_accent", "Un café, s'il vous plaît.", ["Commander un CAFÉ crème."], "Voilà"),
    trace("fr_plain", "A cafe near the station", ["The cafe opens at 8."], "8"),
    trace("fr_nfd", "Le cafe\u0301 du coin", ["Decomposed accent."], "ok"),
    trace("zh_study", "我喜欢学习中文。", ["学习需要时间"], "是的"),
    trace("zh_capital", "中国的首都是哪里？", ["首都是北京"], "北京"),  # noqa: RUF001
    trace("ja", "東京タワーはとても高いです。", ["高さは333メートル"], "はい"),
    trace("ar", "ما هي عاصمة مصر؟", ["العاصمة هي القاهرة"], "القاهرة"),
    trace("step_only", "Name an instrument.", ["A xylophone has wooden bars."], "Percussion."),
    trace("phrase", "The quick brown fox", ["jumps"], "over"),
    trace("apart", "Brown dogs are quick", ["sleep"], "zzz"),
    trace("special", 'Discount: 50%_off, it\'s a "deal"', ["Path C:\\Temp\\new"], "a_b"),
    trace("wild", "a1b axxb 50x5off", ["nothing special"], "end"),
    trace("emoji", "I love 🍕 pizza", ["👍🏽 thumbs up"], "yum"),
    trace("fields", "ends with alpha", ["beta begins here"], "done"),
    trace("greek", "ΣΊΣΥΦΟΣ", ["myth"], "rock"),
    trace("spaces", "New\n\t York", ["two  spaces"], "fine"),
]

# query -> the labels it must find (checked by hand, not only against the definition)
EXPECTED: dict[str, set[str]] = {
    "capital": {"en"},
    "CAPITAL paris": {"en"},  # several words: all of them
    "capital tokyo": set(),
    "STRASSE": {"de"},  # Unicode case folding: straße
    "straße": {"de"},
    "bahnhofstraße": {"de"},
    "CAFÉ": {"fr_accent", "fr_nfd"},  # composed or decomposed in the trace
    "café": {"fr_accent", "fr_nfd"},
    "cafe": {"fr_plain"},  # accent-sensitive
    "中": {"zh_study", "zh_capital"},  # Chinese, 1 character
    "中文": {"zh_study"},  # 2 characters
    "学习中": {"zh_study"},  # 3 characters
    "北京": {"zh_capital"},
    "学习 北京": set(),
    "タワー": {"ja"},  # Japanese: katakana, kanji, hiragana
    "東京": {"ja"},
    "とても高い": {"ja"},
    "القاهرة": {"ar"},  # Arabic
    "مصر": {"ar"},
    "xylophone": {"step_only"},  # only inside a step
    '"quick brown"': {"phrase"},  # a phrase
    "quick brown": {"phrase", "apart"},  # the same words apart
    '"brown quick"': set(),
    "50%_off": {"special"},  # % and _ are literal
    "%": {"special"},
    "_": {"special"},
    "a_b": {"special"},  # not a1b
    "a%b": set(),  # not a1b, not axxb
    "50%": {"special"},
    "it's": {"special"},  # quotes
    '"it\'s a"': {"special"},
    "deal": {"special"},
    "c:\\temp": {"special"},  # backslash
    "\\": {"special"},
    "🍕": {"emoji"},  # emoji, one code point
    "👍🏽": {"emoji"},  # two code points
    '"🍕 pizza"': {"emoji"},
    '"alpha beta"': set(),  # a phrase never spans two fields
    "alpha beta": {"fields"},
    "σίσυφος": {"greek"},  # final sigma folds like sigma
    '"new york"': {"spaces"},  # whitespace runs are one space
    "8.": {"fr_plain"},  # short ASCII term
    "cafe 8.": {"fr_plain"},  # a long and a short term
}


def labels(result_lines: list[str]) -> list[str]:
    return [json.loads(line)["payload"]["meta"]["label"] for line in result_lines]


def found(cli: Cli, *args: str) -> list[str]:
    result = cli("trace", "list", "--all", "--jsonl", *args)
    assert result.exit_code == 0, result.stderr
    return labels(result.lines())


def found_at(url: str, *args: str) -> list[str]:
    result = invoke(["--db", url, "trace", "list", "--all", "--jsonl", *args])
    assert result.exit_code == 0, result.stderr
    return labels(result.lines())


def ids(url: str, *args: str) -> list[str]:
    result = invoke(["--db", url, "trace", "list", "--all", "--jsonl", *args])
    assert result.exit_code == 0, result.stderr
    return [json.loads(line)["id"] for line in result.lines()]


def reference(query: str) -> set[str]:
    terms = parse_search(query).terms
    return {t["meta"]["label"] for t in CORPUS if search.body_matches(search.search_body(t), terms)}


def upload(cli: Cli, tmp_path: Path, traces: list[dict[str, Any]], name: str = "t") -> list[str]:
    result = cli("trace", "upload", str(write_jsonl(tmp_path / f"{name}.jsonl", traces)))
    assert result.exit_code == 0, result.stderr
    return result.lines()


def indexed(url: str) -> int:
    engine = make_engine(load_settings(url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM trace_search")).scalar_one())
    finally:
        engine.dispose()


def run_sql(url: str, *statements: str) -> None:
    """Run statements through tunix-rt's own engine (SQLite: foreign keys on), committed."""
    engine = make_engine(load_settings(url))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def fts_consistent(url: str) -> None:
    """SQLite: the FTS5 index matches trace_search exactly (raises otherwise)."""
    if url.startswith("sqlite"):
        run_sql(
            url,
            "INSERT INTO trace_search_fts (trace_search_fts, rank) VALUES ('integrity-check', 1)",
        )


def test_the_expectations_are_the_definition() -> None:
    """The hand-written expectations agree with the Python definition of a match."""
    for query, expected in EXPECTED.items():
        assert reference(query) == expected, query


def test_multilingual_search(cli: Cli, tmp_path: Path) -> None:
    """Every query finds exactly its traces, newest first, on this database."""
    upload(cli, tmp_path, CORPUS)
    order = [t["meta"]["label"] for t in reversed(CORPUS)]  # newest first
    for query, expected in EXPECTED.items():
        got = found(cli, "-q", query)
        assert set(got) == expected, query
        assert got == [label for label in order if label in expected], query


def test_long_forms_and_table_output(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, CORPUS)
    assert found(cli, "--search", "xylophone") == ["step_only"]
    table = cli("trace", "list", "-q", "nothing-like-this")
    assert table.exit_code == 0
    assert "no traces match: matching 'nothing-like-this'" in table.stderr
    page = cli("trace", "list", "-q", "café", "--json").json()
    assert {r["payload"]["meta"]["label"] for r in page["data"]} == {"fr_accent", "fr_nfd"}


@pytest.fixture
def pg_c_ctype() -> Iterator[str]:
    """A PostgreSQL database whose character type is C (pg_trgm sees no CJK trigrams)."""
    if not PG_ADMIN_URL:
        pytest.skip("TUNIX_RT_TEST_POSTGRES_URL is not set")
    name = f"tunix_rt_test_{uuid.uuid4().hex[:12]}"
    pg_admin(
        f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
    )
    try:
        url = pg_url_for(name)
        assert invoke(["--db", url, "db", "upgrade"]).exit_code == 0
        yield url
    finally:
        drop_pg_database(name)


@pytest.mark.postgres
def test_same_ids_on_every_database(tmp_path: Path, pg_session_db: str, pg_c_ctype: str) -> None:
    """One file, uploaded to SQLite and copied to PostgreSQL (C.UTF-8 and C): every query
    selects the same ids, in the same order, as the definition says."""
    with psycopg.connect(pg_session_db, autocommit=True) as conn:
        conn.execute("TRUNCATE traces CASCADE")
        assert conn.execute("SHOW lc_ctype").fetchone() != ("C",)
    with psycopg.connect(pg_c_ctype, autocommit=True) as conn:
        assert conn.execute("SHOW lc_ctype").fetchone() == ("C",)
        # the pitfall this database shows: no trigrams from CJK text
        assert conn.execute("SELECT show_trgm('学习中文')").fetchone() == ([],)
    lite = f"sqlite:///{tmp_path / 'a.db'}"
    path = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    assert invoke(["--db", lite, "trace", "upload", str(path), "-q"]).exit_code == 0
    dump = invoke(["--db", lite, "trace", "list", "--all", "--jsonl"]).stdout
    for url in (pg_session_db, pg_c_ctype):
        assert invoke(["--db", url, "trace", "upload", "-", "-q"], input=dump).exit_code == 0
    label_of = {
        json.loads(line)["id"]: json.loads(line)["payload"]["meta"]["label"]
        for line in dump.splitlines()
    }
    for query in EXPECTED:
        on_sqlite = ids(lite, "-q", query)
        assert {label_of[i] for i in on_sqlite} == reference(query), query
        assert ids(pg_session_db, "-q", query) == on_sqlite, query
        assert ids(pg_c_ctype, "-q", query) == on_sqlite, query


def test_search_right_after_upload_sees_new_traces(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """The index catches up before each search: a trace uploaded after a search is found by
    the next one, and every trace ends up indexed once."""
    upload(cli, tmp_path, CORPUS[:5], "a")
    assert found(cli, "-q", "xylophone") == []
    assert indexed(db_url) == 5
    upload(cli, tmp_path, CORPUS[5:], "b")
    assert found(cli, "-q", "xylophone") == ["step_only"]
    assert indexed(db_url) == len(CORPUS)
    fts_consistent(db_url)


class HeldLock:
    """Holds what the catch-up needs, from another connection: SQLite's write lock, or
    PostgreSQL's catch-up advisory lock."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Any = None

    def __enter__(self) -> HeldLock:
        if self.url.startswith("sqlite"):
            self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn = psycopg.connect(self.url, autocommit=True)
            self.conn.execute("SELECT pg_advisory_lock(%s)", (search.PG_LOCK_KEY,))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.url.startswith("sqlite"):
            self.conn.execute("ROLLBACK")
        self.conn.close()


def test_search_while_the_index_cannot_catch_up(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """While another writer (SQLite) or another catch-up (PostgreSQL) holds the lock, a
    search matches the unindexed traces in Python: it still sees every committed trace,
    at once, without waiting."""
    upload(cli, tmp_path, CORPUS[:10], "a")
    assert found(cli, "-q", "café") == ["fr_nfd", "fr_accent"]
    upload(cli, tmp_path, CORPUS[10:], "b")
    with HeldLock(db_url):
        for query in ("xylophone", "中", "quick brown", "🍕"):
            assert set(found(cli, "-q", query)) == EXPECTED[query], query
        assert indexed(db_url) == 10  # nothing was indexed meanwhile
    assert set(found(cli, "-q", "xylophone")) == {"step_only"}
    assert indexed(db_url) == len(CORPUS)


@pytest.mark.postgres
def test_read_only_user_still_searches(fresh_pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL: a role that may only read cannot fill the index; its searches match the
    unindexed traces in Python and find the same traces."""
    from sqlalchemy.engine import make_url

    assert invoke(["--db", fresh_pg_url, "db", "upgrade"]).exit_code == 0
    path = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    assert invoke(["--db", fresh_pg_url, "trace", "upload", str(path), "-q"]).exit_code == 0
    role = f"tunix_rt_reader_{uuid.uuid4().hex[:8]}"
    database = make_url(fresh_pg_url).database
    pg_admin(f'CREATE ROLE "{role}" LOGIN')
    try:
        with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
            conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')  # type: ignore[arg-type]
        reader = make_url(fresh_pg_url).set(username=role).render_as_string(hide_password=False)
        for query in ("xylophone", "中", "quick brown", "50%_off"):
            assert set(found_at(reader, "-q", query)) == EXPECTED[query]
        assert indexed(fresh_pg_url) == 0
    finally:
        pg_admin(f'REVOKE ALL ON DATABASE "{database}" FROM "{role}"')
        with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')  # type: ignore[arg-type]
        pg_admin(f'DROP ROLE "{role}"')


def test_deleted_traces_leave_the_index(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """`DELETE FROM traces` (what `trace delete` runs) takes their search rows along (ON
    DELETE CASCADE; on SQLite a trigger updates FTS5); the same text uploaded again is found.
    Deleting the newest traces lets SQLite reuse their rowids: the watermark check notices."""
    upload(cli, tmp_path, CORPUS)
    assert found(cli, "-q", "quick") == ["apart", "phrase"]
    gone = [t for t in CORPUS if t["meta"]["label"] in ("apart", "phrase", "spaces")]
    run_sql(db_url, "DELETE FROM traces WHERE payload LIKE '%quick%' OR payload LIKE '%York%'")
    assert found(cli, "-q", "quick") == []
    assert indexed(db_url) == len(CORPUS) - 3
    fts_consistent(db_url)
    again = [dict(t, final_answer=t["final_answer"] + " again") for t in gone]
    upload(cli, tmp_path, again, "again")  # SQLite: the deleted rowids again
    assert found(cli, "-q", "quick") == ["apart", "phrase"]
    assert found(cli, "-q", '"new york"') == ["spaces"]
    assert indexed(db_url) == len(CORPUS)
    fts_consistent(db_url)


def test_reused_rowids_while_locked(tmp_path: Path) -> None:
    """SQLite: rowids reused after a delete, and the index cannot catch up: the search checks
    every trace instead of trusting the watermark."""
    url = f"sqlite:///{tmp_path / 'r.db'}"

    def cli(*args: str, input: str | None = None) -> Any:
        return invoke(["--db", url, *args], input=input)

    upload(cli, tmp_path, CORPUS)
    assert found(cli, "-q", "xylophone") == ["step_only"]
    run_sql(url, "DELETE FROM traces WHERE payload LIKE '%York%' OR payload LIKE '%ΣΊΣΥΦΟΣ%'")
    upload(cli, tmp_path, [trace("new", "A new xylophone", ["x"], "y")], "new")
    with HeldLock(url):
        assert found(cli, "-q", "xylophone") == ["new", "step_only"]
    assert found(cli, "-q", "xylophone") == ["new", "step_only"]
    fts_consistent(url)


def test_vacuum_after_delete(tmp_path: Path) -> None:
    """SQLite: VACUUM may renumber rowids; the FTS5 index is keyed on trace_search's own
    INTEGER PRIMARY KEY and the watermark is checked, so searches stay exact."""
    url = f"sqlite:///{tmp_path / 'v.db'}"

    def cli(*args: str, input: str | None = None) -> Any:
        return invoke(["--db", url, *args], input=input)

    upload(cli, tmp_path, CORPUS)
    assert found(cli, "-q", "café") == ["fr_nfd", "fr_accent"]
    run_sql(url, "DELETE FROM traces WHERE payload LIKE '%France%' OR payload LIKE '%Bahnhof%'")
    with sqlite3.connect(tmp_path / "v.db") as conn:
        conn.execute("VACUUM")
    upload(cli, tmp_path, [trace("late", "Un café tardif", ["x"], "y")], "late")
    assert found(cli, "-q", "café") == ["late", "fr_nfd", "fr_accent"]
    assert found(cli, "-q", "capital") == []
    fts_consistent(url)


def test_trace_delete_by_search(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """`trace delete -q` selects with the same search (inside its write transaction, where
    the catch-up cannot take SQLite's lock) and leaves the index consistent."""
    upload(cli, tmp_path, CORPUS)
    result = cli("trace", "delete", "-q", "café", "--yes")
    assert result.exit_code == 0, result.stderr
    assert found(cli, "-q", "caf") == ["fr_plain"]
    assert indexed(db_url) == len(CORPUS) - 2
    fts_consistent(db_url)


def test_combined_with_other_filters(cli: Cli, tmp_path: Path) -> None:
    traces = [
        trace("one", "xylophone", ["a"], "b", kind="x"),
        trace("two", "xylophone", ["a", "b"], "c", kind="y"),
        trace("three", "xylophone", ["a", "b", "c"], "d", kind="x"),
        trace("four", "marimba", ["a", "b"], "c", kind="x"),
    ]
    upload(cli, tmp_path, traces)
    assert found(cli, "-q", "xylophone", "--steps", "2..") == ["three", "two"]
    assert found(cli, "-q", "xylophone", "--meta", "kind=x") == ["three", "one"]
    assert found(cli, "-q", "xylo", "--meta", "kind=x", "--steps", "1") == ["one"]
    assert found(cli, "-q", "b", "--meta", "kind=x") == ["four", "three", "one"]


def test_many_matches_page_newest_first(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More matches than the probe keeps (a common word) are checked while walking newest
    first; pages and cursors work as without a search; small catch-up batches."""
    monkeypatch.setattr(search, "PROBE_LIMIT", 3)
    monkeypatch.setattr(search, "BATCH", 4)
    monkeypatch.setattr(search, "VACUUM_AFTER", 10)  # PostgreSQL: vacuum after catching up
    traces = [
        trace(f"t{n}", f"common word {n}", ["rare" if n % 7 == 0 else "plain"], str(n))
        for n in range(30)
    ]
    upload(cli, tmp_path, traces)
    newest_first = [f"t{n}" for n in reversed(range(30))]
    assert found(cli, "-q", "common") == newest_first
    assert found(cli, "-q", "common rare") == [f"t{n}" for n in (28, 21, 14, 7, 0)]
    assert found(cli, "-q", "co") == newest_first  # short: no index at all
    seen: list[str] = []
    cursor: list[str] = []
    while True:
        page = cli("trace", "list", "-q", "word", "--limit", "7", "--json", *cursor).json()
        seen.extend(r["payload"]["meta"]["label"] for r in page["data"])
        if not page["next_cursor"]:
            break
        cursor = ["--cursor", page["next_cursor"]]
    assert seen == newest_first


@pytest.mark.parametrize(
    ("value", "needle"),
    [("", "empty"), ("   ", "empty"), ('""', "empty"), ('"open phrase', "unclosed quote")],
)
def test_bad_search_text_is_a_usage_error(cli: Cli, value: str, needle: str) -> None:
    result = cli("trace", "list", "-q", value)
    assert result.exit_code == 2
    assert "--search" in result.stderr
    assert needle in result.stderr
