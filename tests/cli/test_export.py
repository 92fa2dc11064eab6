"""`trace export` and `trace list --jsonl` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.golden import INPUT, VARIANTS, golden_path, raw_rows, variants
from tests.helpers import DATA, Cli, invoke, make_trace, write_jsonl
from tunix_rt.formats import FORMATS

TUNIX = [sys.executable, "-m", "tunix_rt"]
IDS = {row.id[:8]: row.id for row in raw_rows()}


@pytest.fixture
def golden_db(cli: Cli, db_url: str) -> str:
    """The database holding the fixed traces of tests/data/golden (ids, times and tags)."""
    result = cli("trace", "upload", str(INPUT), "-q")
    assert result.exit_code == 0, result.stderr
    return db_url


def export(cli: Cli, *args: str) -> str:
    result = cli("trace", "export", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_every_format_matches_its_golden_file(golden_db: str, cli: Cli, tmp_path: Path) -> None:
    """Each format and option set, from the database, is byte for byte its snapshot file."""
    for fmt in FORMATS:
        for variant in variants(fmt):
            expected = golden_path(fmt, variant).read_bytes()
            out = tmp_path / f"{fmt}-{variant}.jsonl"
            result = cli("trace", "export", "--to", fmt, "-o", str(out), *VARIANTS[variant])
            assert result.exit_code == 0, result.stderr
            assert out.read_bytes() == expected, (fmt, variant)
        assert export(cli, "--to", fmt).encode() == golden_path(fmt, "default").read_bytes()


def test_jsonl_is_list_jsonl_and_uploads_back(golden_db: str, cli: Cli, tmp_path: Path) -> None:
    """`--to jsonl` == `list --all --jsonl` == its pages; uploaded elsewhere it exports the same."""
    exported = export(cli, "--to", "jsonl")
    assert cli("trace", "list", "--all", "--jsonl").stdout == exported
    pages, cursor = [], None
    while True:
        result = cli(
            "trace", "list", "--jsonl", "-n", "3", *(["--cursor", cursor] if cursor else [])
        )
        pages.append(result.stdout)
        cursor = (
            result.stderr.split("--cursor ")[1].split()[0] if "--cursor" in result.stderr else None
        )
        if cursor is None:
            break
    assert "".join(pages) == exported
    other = f"sqlite:///{tmp_path / 'copy.db'}"
    assert invoke(["--db", other, "trace", "upload", "-", "-q"], input=exported).exit_code == 0
    assert invoke(["--db", other, "trace", "export", "--to", "jsonl"]).stdout == exported


def test_jsonl_lines_are_the_stored_records(golden_db: str, cli: Cli) -> None:
    """Every line parses to what `trace show --json` prints (tags included), less the
    `scores` that only `trace show` reads."""
    lines = cli("trace", "list", "--all", "--jsonl").lines()
    assert len(lines) == len(IDS)
    for line in lines:
        record = json.loads(line)
        shown = cli("trace", "show", record["id"], "--json").json()
        assert shown.pop("scores") == []
        assert shown == record
    tagged = {json.loads(line)["id"]: json.loads(line)["tags"] for line in lines}
    assert tagged[IDS["00000002"]] == ["math", "reviewed"]


def test_export_is_deterministic(golden_db: str, cli: Cli) -> None:
    """The same selection exported twice gives the same bytes, in every format."""
    for fmt in FORMATS:
        assert export(cli, "--to", fmt) == export(cli, "--to", fmt)


@pytest.mark.postgres
def test_same_bytes_from_sqlite_and_postgres(fresh_pg_url: str, tmp_path: Path) -> None:
    """The shared data files on both databases: every format gives identical bytes."""
    lite = f"sqlite:///{tmp_path / 'a.db'}"
    assert invoke(["--db", fresh_pg_url, "db", "upgrade"]).exit_code == 0
    first = invoke(["--db", lite, "trace", "upload", str(DATA), "--skip-invalid", "--quiet"])
    assert first.exit_code == 0, first.stderr
    records = invoke(["--db", lite, "trace", "list", "--all", "--jsonl"]).stdout
    assert (
        invoke(["--db", fresh_pg_url, "trace", "upload", "-", "-q"], input=records).exit_code == 0
    )
    for fmt in FORMATS:
        a = invoke(["--db", lite, "trace", "export", "--to", fmt])
        b = invoke(["--db", fresh_pg_url, "trace", "export", "--to", fmt])
        assert a.exit_code == b.exit_code == 0, (a.stderr, b.stderr)
        assert a.stdout == b.stdout, fmt
        assert len(a.lines()) > 900  # the distinct traces of tests/data


def test_filters_select_what_list_selects(golden_db: str, cli: Cli, tmp_path: Path) -> None:
    """Filter options mean the same as for `trace list`."""
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"{IDS['00000003'][:8]}\n{IDS['00000008']}\n", encoding="utf-8")
    cases = {
        ("--tag", "math"): ["00000002"],
        ("--no-tag", "unicode", "--meta", "source=formats.md"): ["00000002", "00000001"],
        ("--steps", "3"): ["00000006", "00000003"],
        ("--since", "2026-01-15T10:00:06Z", "--until", "2026-01-15T10:00:08Z"): [
            "00000007",
            "00000006",
        ],
        ("--version", "1.0", "--ids-from", str(ids_file)): ["00000008", "00000003"],
    }
    for args, expected in cases.items():
        got = [
            json.loads(line)["id"] for line in export(cli, "--to", "tunix-sft", *args).splitlines()
        ]
        assert got == [IDS[e] for e in expected], args
        listed = [
            json.loads(line)["id"]
            for line in cli("trace", "list", "--all", "--jsonl", *args).lines()
        ]
        assert got == listed


def test_nothing_selected_is_an_empty_file_and_a_note(
    golden_db: str, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "empty.jsonl"
    result = cli("trace", "export", "--to", "trl-messages", "--tag", "nosuchtag", "-o", str(out))
    assert result.exit_code == 0
    assert out.read_bytes() == b""
    assert "nothing to export: tag nosuchtag selects no trace" in result.stderr
    assert cli("trace", "export", "--to", "jsonl", "--tag", "nosuchtag").stdout == ""


def test_unknown_format_is_a_usage_error_naming_the_formats(cli: Cli) -> None:
    result = cli("trace", "export", "--to", "parquet")
    assert result.exit_code == 2
    assert "'parquet' is not a format" in result.stderr
    for name in FORMATS:
        assert name in result.stderr.replace("\n", " ").replace("│", " ") or name in result.stderr


def test_tunix_sft_alias(golden_db: str, cli: Cli) -> None:
    """`tunix_sft`, the original name, is the same format."""
    assert export(cli, "--to", "tunix_sft") == export(cli, "--to", "tunix-sft")


# --- files: atomic, never over an existing one ----------------------------------------------


def test_existing_file_is_refused_without_force(golden_db: str, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n", encoding="utf-8")
    out.chmod(0o640)
    refused = cli("trace", "export", "--to", "jsonl", "-o", str(out))
    assert refused.exit_code == 1
    assert f"error: {out} already exists: add --force to replace it" in refused.stderr
    assert out.read_text(encoding="utf-8") == "keep me\n"
    forced = cli("trace", "export", "--to", "jsonl", "-o", str(out), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert out.read_bytes() == golden_path("jsonl", "default").read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_output_dash_is_stdout(golden_db: str, cli: Cli, tmp_path: Path) -> None:
    assert export(cli, "--to", "atif", "-o", "-") == export(cli, "--to", "atif")
    assert not (Path.cwd() / "-").exists()


def test_output_must_not_be_the_database(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    url = f"sqlite:///{db}"
    assert invoke(["--db", url, "trace", "list"]).exit_code == 0
    for target in (db, Path(f"{db}-wal")):
        result = invoke(
            ["--db", url, "trace", "export", "--to", "jsonl", "-o", str(target), "--force"]
        )
        assert result.exit_code == 1
        assert "it is the database being exported" in result.stderr
    assert invoke(["--db", url, "trace", "list"]).exit_code == 0


def test_output_into_a_missing_folder_or_onto_a_folder(cli: Cli, tmp_path: Path) -> None:
    result = cli("trace", "export", "--to", "jsonl", "-o", str(tmp_path / "no" / "x.jsonl"))
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    onto = cli("trace", "export", "--to", "jsonl", "-o", str(tmp_path), "--force")
    assert onto.exit_code == 1
    assert "it is a folder" in onto.stderr


@pytest.mark.parametrize(
    "damage", ["'garbage'", '\'{"final_answer":"a\' || char(10) || \'","trace_version":"1"}\'']
)
def test_failed_export_leaves_no_file(cli: Cli, db_url: str, tmp_path: Path, damage: str) -> None:
    """A damaged trace (not JSON; a raw newline) stops the export: one line naming it, no file,
    no temporary file."""
    path = write_jsonl(tmp_path / "in.jsonl", [make_trace(n) for n in range(3000)])
    assert cli("trace", "upload", str(path), "-q").exit_code == 0
    victim = json.loads(cli("trace", "list", "--jsonl", "-n", "3000").lines()[-1])["id"]
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            conn.execute(
                f"UPDATE traces SET payload = {damage} WHERE id = ?", (uuid.UUID(victim).hex,)
            )
        conn.close()
    else:
        import psycopg

        with psycopg.connect(db_url, autocommit=True) as pg:
            pg.execute(  # type: ignore[call-overload]
                f"UPDATE traces SET payload = {damage.replace('char(', 'chr(')} WHERE id = %s",
                (victim,),
            )
    work = tmp_path / "out"
    work.mkdir()
    for fmt in ("jsonl", "tunix-sft"):
        result = cli("trace", "export", "--to", fmt, "-o", str(work / "x.jsonl"))
        assert result.exit_code == 1, (fmt, result.stderr)
        assert f"error: trace {victim} is damaged" in result.stderr
        assert list(work.iterdir()) == []
    listed = cli("trace", "list", "--all", "--jsonl")
    assert listed.exit_code == 1
    assert f"trace {victim} is damaged" in listed.stderr


def _big_sqlite(path: Path, count: int) -> str:
    """A migrated SQLite file with `count` traces, written straight into the table (fast)."""
    url = f"sqlite:///{path}"
    assert invoke(["--db", url, "trace", "list"]).exit_code == 0
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(count):
        payload = orjson.dumps(
            make_trace(n, prompt=f"Question {n}: " + "x" * 200), option=orjson.OPT_SORT_KEYS
        )
        when = (start + timedelta(seconds=n)).replace(tzinfo=None).isoformat(" ", "microseconds")
        rows.append(
            (
                uuid.UUID(int=n + 1).hex,
                when,
                "1.0",
                hashlib.sha256(payload).hexdigest(),
                payload.decode(),
            )
        )
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO traces (id, created_at, trace_version, content_hash, payload) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    conn.close()
    return url


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _big_sqlite(tmp_path_factory.mktemp("big") / "big.db", 200_000)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_export_leaves_no_complete_looking_file(
    big_db: str, tmp_path: Path, sig: signal.Signals
) -> None:
    """Kill an export of 200,000 traces mid-way: nothing at the target path; Ctrl-C and SIGTERM
    also remove the temporary file (SIGKILL can only leave the hidden `.out.jsonl.*.tmp`)."""
    target = tmp_path / "out.jsonl"
    env = {**os.environ, "HOME": str(tmp_path)}
    with subprocess.Popen(
        [*TUNIX, "--db", big_db, "trace", "export", "--to", "tunix-sft", "-o", str(target)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            temps = list(tmp_path.glob(".out.jsonl.*.tmp"))
            if temps and temps[0].stat().st_size > 0:
                break
            assert proc.poll() is None, "the export ended before it could be killed"
            time.sleep(0.01)
        else:
            pytest.fail("the export never started writing")
        proc.send_signal(sig)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl")]
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        assert len(leftovers) == 1
    else:
        assert leftovers == []
        assert "Traceback" not in err
    if sig == signal.SIGTERM:
        assert code == 143
        assert "terminated" in err


# --- reports: control tokens, Tunix's reward, labels ----------------------------------------


def test_control_tokens_are_reported_sanitized_or_fatal(
    golden_db: str, cli: Cli, tmp_path: Path
) -> None:
    reported = cli("trace", "export", "--to", "trl-messages")
    assert reported.exit_code == 0
    assert "1 trace contain chat control tokens" in reported.stderr
    assert IDS["00000007"] in reported.stderr
    assert "--sanitize strips them" in reported.stderr
    clean = cli("trace", "export", "--to", "trl-messages", "--sanitize", "--strict")
    assert clean.exit_code == 0, clean.stderr
    assert "stripped chat control tokens from 1 trace (--sanitize)" in clean.stderr
    out = tmp_path / "strict.jsonl"
    strict = cli("trace", "export", "--to", "trl-messages", "--strict", "-o", str(out))
    assert strict.exit_code == 1
    assert "--strict: 1 reported trace(s); nothing was written" in strict.stderr
    assert not out.exists()


def test_grpo_reports_reward_matches(golden_db: str, cli: Cli, tmp_path: Path) -> None:
    result = cli("trace", "export", "--to", "tunix-grpo", "--sanitize")
    assert result.exit_code == 0
    assert "7 of 8 completions match Tunix's format reward" in result.stderr
    assert IDS["00000008"] in result.stderr
    out = tmp_path / "g.jsonl"
    strict = cli("trace", "export", "--to", "tunix-grpo", "--sanitize", "--strict", "-o", str(out))
    assert strict.exit_code == 1
    assert not out.exists()
    fine = cli("trace", "export", "--to", "tunix-grpo", "--tag", "math", "--strict", "-o", str(out))
    assert fine.exit_code == 0
    assert "1 of 1 completions match" in fine.stderr


def test_step_labels_need_step_scores(golden_db: str, cli: Cli) -> None:
    refused = cli(
        "trace", "export", "--to", "trl-stepwise", "--labels", "prm", "--label-threshold", "0.7"
    )
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1
    assert "step 0 has no score prm" in refused.stderr
    wrong = cli("trace", "export", "--to", "tunix-sft", "--labels", "prm")
    assert wrong.exit_code == 2
    alone = cli("trace", "export", "--to", "trl-stepwise", "--label-threshold", "0.7")
    assert alone.exit_code == 2
    assert "needs --labels" in alone.stderr


def test_system_and_sanitize_checks(golden_db: str, cli: Cli) -> None:
    for flags in (["--system", "S"], ["--sanitize"]):
        result = cli("trace", "export", "--to", "jsonl", *flags)
        assert result.exit_code == 2
        assert "do not apply" in result.stderr
    empty = cli("trace", "export", "--to", "tunix-sft", "--system", " ")
    assert empty.exit_code == 2
    tokens = cli("trace", "export", "--to", "tunix-sft", "--system", "<bos>Be brief")
    assert tokens.exit_code == 2
    assert "control tokens" in tokens.stderr
    cleaned = cli("trace", "export", "--to", "tunix-sft", "--system", "<bos>Be brief", "--sanitize")
    assert cleaned.exit_code == 0
    assert "user\\nBe brief\\n\\n" in cleaned.stdout.splitlines()[0]


# --- streams -------------------------------------------------------------------------------


def test_broken_pipe_and_closed_stdout(golden_db: str, tmp_path: Path) -> None:
    """Like `trace list`: a reader that goes away is exit 0; a closed stdout is one line."""
    path = write_jsonl(tmp_path / "more.jsonl", [make_trace(n) for n in range(3000)])
    assert invoke(["--db", golden_db, "trace", "upload", str(path), "-q"]).exit_code == 0
    with subprocess.Popen(
        [*TUNIX, "--db", golden_db, "trace", "export", "--to", "tunix-sft"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert proc.stdout.readline().startswith(b'{"id":"')
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 0
    assert b"Traceback" not in err
    closed = subprocess.run(
        [*TUNIX, "--db", golden_db, "trace", "export", "--to", "jsonl"],
        stdout=None,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    assert closed.returncode == 1
    assert closed.stderr.decode().strip() == "error: cannot write results: stdout is closed"


def test_cursor_of_a_raw_row_is_the_list_cursor(golden_db: str) -> None:
    from tunix_rt.records import TraceRow
    from tunix_rt.services.export import cursor_of
    from tunix_rt.services.traces import encode_cursor

    for row in raw_rows():
        parsed = TraceRow(uuid.UUID(row.id), datetime.fromisoformat(row.created_at), "", "", {})
        assert cursor_of(row) == encode_cursor(parsed)


# --- rendering in worker processes (services.export.write_lines) ----------------------------


def test_workers_give_the_same_bytes_and_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows rendered in forked workers come out in order, byte for byte, with the same flags."""
    import io

    from tunix_rt.formats import Options
    from tunix_rt.services import export as service

    monkeypatch.setattr(service, "PARALLEL_AFTER", 3)
    monkeypatch.setattr(service, "BATCH", 2)
    rows = raw_rows() * 5
    for fmt in ("tunix-grpo", "trl-messages", "jsonl"):
        outputs = []
        for workers in (0, 2):
            out, report = io.BytesIO(), service.ExportReport(fmt)
            service.write_lines(rows, fmt, Options(), out, report, workers=workers)
            outputs.append((out.getvalue(), report.count, report.bytes, report.flagged))
        assert outputs[0] == outputs[1], fmt
        assert outputs[0][1] == len(rows)


def test_a_damaged_trace_stops_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from tunix_rt.formats import Options
    from tunix_rt.records import DamagedTraceError, RawRow
    from tunix_rt.services import export as service

    monkeypatch.setattr(service, "PARALLEL_AFTER", 1)
    bad = RawRow("00000000-0000-4000-8000-0000000000bd", "t", "h", b"{oops")
    rows = [*raw_rows(), bad, *raw_rows()]
    with pytest.raises(DamagedTraceError, match="0000000000bd is damaged"):
        service.write_lines(
            rows, "tunix-sft", Options(), io.BytesIO(), service.ExportReport("x"), workers=2
        )


def test_default_workers() -> None:
    from tunix_rt.services.export import default_workers

    assert 0 <= default_workers() <= 8


def test_pages_cut_across_read_batches(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`trace list --jsonl -n N` pages, whatever N against the read batches, add up to --all;
    so do export batches (tiny batches here, so every boundary is crossed)."""
    from tunix_rt.repositories import raw

    monkeypatch.setattr(raw, "FETCH", 4)
    monkeypatch.setattr(raw, "PG_BATCH", 3)
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(23)])
    assert cli("trace", "upload", str(path), "-q").exit_code == 0
    everything = cli("trace", "list", "--all", "--jsonl").stdout
    assert len(everything.splitlines()) == 23
    assert export(cli, "--to", "jsonl") == everything
    sft = [json.loads(line)["id"] for line in export(cli, "--to", "tunix-sft").splitlines()]
    assert sft == [json.loads(line)["id"] for line in everything.splitlines()]
    for size in (1, 2, 3, 4, 5, 7, 11, 12, 22, 23, 24):
        pages, cursor = [], None
        while True:
            more = ["--cursor", cursor] if cursor else []
            result = cli("trace", "list", "--jsonl", "-n", str(size), *more)
            assert result.exit_code == 0, result.stderr
            pages.append(result.stdout)
            assert len(result.lines()) == min(size, 23 - size * (len(pages) - 1)), size
            cursor = (
                result.stderr.split("--cursor ")[1].split()[0]
                if "--cursor" in result.stderr
                else None
            )
            if cursor is None:
                break
        assert "".join(pages) == everything, size


def test_workers_from_the_database(
    golden_db: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows read on either database and made into RawRows in the workers: the golden bytes."""
    from tunix_rt.services import export as service

    monkeypatch.setattr(service, "PARALLEL_AFTER", 2)
    monkeypatch.setattr(service, "BATCH", 2)
    monkeypatch.setattr(service, "default_workers", lambda: 2)
    for fmt in ("tunix-sft", "atif"):
        assert export(cli, "--to", fmt).encode() == golden_path(fmt, "default").read_bytes()
    result = cli("trace", "export", "--to", "tunix-grpo", "--strict")
    assert result.exit_code == 1
    assert IDS["00000008"] in result.stderr
