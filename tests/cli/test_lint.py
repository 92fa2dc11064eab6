"""`trace lint` through the CLI: every rule on files and on stored traces (SQLite and
PostgreSQL), tagging, output shapes, exit codes, and inputs that cannot be read."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, invoke, make_trace, write_jsonl


def trace(*contents: str, answer: str = "4", prompt: str = "What is 2 + 2?", **kw: Any) -> Any:
    steps = kw.pop("steps", None) or [
        {"i": n, "type": "step", "content": c} for n, c in enumerate(contents)
    ]
    return make_trace(prompt=prompt, final_answer=answer, steps=steps, **kw)


def numbered(*numbers: int) -> Any:
    return trace(
        steps=[
            {"i": i, "type": "s", "content": "so 2 + 2 = 4" if i == max(numbers) else f"step {i}"}
            for i in numbers
        ]
    )


LOOP = "Let me check the sum once more. " * 8
# rule -> (a trace it flags once, a similar trace it does not flag, extra options)
CASES: dict[str, tuple[Any, Any, tuple[str, ...]]] = {
    "control-token": (trace("Add.", "2 + 2 = 4<|im_end|>"), trace("Add.", "2 + 2 = 4"), ()),
    "unbalanced-tag": (
        trace("<think>Add 2 and 2.", "2 + 2 = 4"),
        trace("<think>Add 2 and 2.", "2 + 2 = 4</think>"),
        (),
    ),
    "stray-tag": (
        trace("2 + 2 = 4", prompt="<think>What is 2 + 2?</think>"),
        trace("2 + 2 = 4", prompt="Think: what is 2 + 2?"),
        (),
    ),
    "empty-text": (trace("2 + 2 = 4", prompt=" \n "), trace("2 + 2 = 4", prompt="2 + 2?"), ()),
    "empty-step": (trace("Add.", "\t ", "2 + 2 = 4"), trace("Add.", "-", "2 + 2 = 4"), ()),
    "duplicate-step": (
        trace("Add 2 and 2.", "add 2 and 2.", "2 + 2 = 4"),
        trace("Add 2 and 2.", "Add 2 and 3.", "2 + 2 = 4"),
        (),
    ),
    "repeated-step": (
        trace("Add 2 and 2.", "Carefully.", "Add 2 and 2.", "2 + 2 = 4"),
        trace("Add 2 and 2.", "Carefully.", "Add 2 and 2 again.", "2 + 2 = 4"),
        (),
    ),
    "answer-mismatch": (
        trace("Add.", "2 + 2 = <answer>5</answer> 4"),
        trace("Add.", "2 + 2 = <answer>4.0</answer>"),
        (),
    ),
    "answer-missing": (trace("Add.", "2 + 2 = 14"), trace("Add.", "2 + 2 = 4."), ()),
    "repetition": (trace(LOOP, "2 + 2 = 4"), trace(LOOP[:60], "2 + 2 = 4"), ()),
    "too-long": (
        trace("x" * 300, "2 + 2 = 4"),
        trace("x" * 100, "2 + 2 = 4"),
        ("--max-chars", "200"),
    ),
    "step-order": (numbered(1, 0, 2), numbered(0, 1, 2), ()),
    "step-gap": (numbered(0, 1, 3), numbered(1, 2, 3), ()),
}


def test_every_rule_has_a_case() -> None:
    from tunix_rt.lint import RULES

    assert {r.id for r in RULES} - set(CASES) == {"invalid"}


def lint_json(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("trace", "lint", "--json", *args)
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, result.json()


def upload(cli: Cli, tmp_path: Path, traces: list[Any], name: str = "t") -> list[str]:
    result = cli("trace", "upload", str(write_jsonl(tmp_path / f"{name}.jsonl", traces)))
    assert result.exit_code == 0, result.stderr
    return result.lines()


def tagged(cli: Cli, tag: str) -> set[str]:
    result = cli("trace", "list", "--all", "--jsonl", "--tag", tag)
    assert result.exit_code == 0, result.stderr
    return {json.loads(line)["id"] for line in result.lines()}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_rule_on_files_and_on_stored_traces(cli: Cli, tmp_path: Path, rule: str) -> None:
    """The bad case is flagged once (line 1 / its trace id), the good case never."""
    from tunix_rt.lint import RULES_BY_ID

    bad, good, options = CASES[rule]
    path = write_jsonl(tmp_path / "cases.jsonl", [bad, good])
    code, out = lint_json(cli, str(path), *options)
    mine = [f for f in out["findings"] if f["rule"] == rule]
    assert [(f["file"], f["line"]) for f in mine] == [(str(path), 1)], out["findings"]
    assert mine[0]["severity"] == RULES_BY_ID[rule].severity
    assert mine[0]["pointer"].startswith("/") or rule == "too-long"
    assert code == (1 if any(f["severity"] == "error" for f in out["findings"]) else 0)

    ids = upload(cli, tmp_path, [bad, good])
    code, stored = lint_json(cli, *options)
    mine_stored = [f for f in stored["findings"] if f["rule"] == rule]
    assert [(f["trace"], f["pointer"], f["message"]) for f in mine_stored] == [
        (ids[0], mine[0]["pointer"], mine[0]["message"])
    ]
    assert stored["summary"]["checked"] == 2


def test_invalid_records_use_uploads_wording(cli: Cli, tmp_path: Path) -> None:
    """A record upload would refuse is an error with upload's field and message."""
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps(trace("2 + 2 = 4")) + "\n"
        '{"prompt": "x"}\n'
        "{not json\n" + json.dumps(trace(steps=[{"i": "0", "type": "t", "content": "4"}])) + "\n",
        encoding="utf-8",
    )
    upload_run = cli("trace", "upload", "--dry-run", str(path))
    result = cli("trace", "lint", str(path))
    assert result.exit_code == 1
    lines = result.lines()
    assert lines[:3] == [
        f"{path}:2: /trace_version: error[invalid] trace_version: field required",
        f"{path}:2: /final_answer: error[invalid] final_answer: field required",
        f"{path}:2: /steps: error[invalid] steps: field required",
    ]
    assert lines[3].startswith(f"{path}:3: error[invalid] invalid JSON:")
    assert lines[4].startswith(f"{path}:4: /steps/0/i: error[invalid] steps[0].i: ")
    for f in cli("trace", "lint", "--json", str(path)).json()["findings"]:
        assert f"{f['file']}:{f['line']}: {f['message']}\n" in upload_run.stderr  # same words
    assert result.stderr == "5 errors in 3 of 4 records\n"


def test_text_output_and_summary(cli: Cli, tmp_path: Path) -> None:
    """One finding per line on stdout (`WHERE: POINTER: severity[rule] message`), counts on
    stderr; warnings alone exit 0."""
    ids = upload(cli, tmp_path, [trace("Add.", "2 + 2 = 14"), trace("Add.", "2 + 2 = 4")])
    result = cli("trace", "lint")
    assert result.exit_code == 0
    assert result.stdout == (
        f"{ids[0]}: /steps/1/content: warning[answer-missing] the last step (i = 1) does not "
        "state the final answer '4'\n"
    )
    assert result.stderr == "1 warning in 1 of 2 traces\n"
    assert cli("trace", "lint", "--fail-on", "warning").exit_code == 1
    ignored = cli("trace", "lint", "--ignore", "answer-missing")
    assert (ignored.exit_code, ignored.stdout, ignored.stderr) == (
        0,
        "",
        "no findings in 2 traces\n",
    )


def test_json_shape(cli: Cli, tmp_path: Path) -> None:
    ids = upload(cli, tmp_path, [trace("<eos>", "2 + 2 = 4"), trace("Add.", "2 + 2 = 4")])
    code, out = lint_json(cli)
    assert code == 1
    assert out == {
        "findings": [
            {
                "trace": ids[0],
                "file": None,
                "line": None,
                "index": None,
                "rule": "control-token",
                "severity": "error",
                "pointer": "/steps/0/content",
                "message": "chat control token <eos>",
            }
        ],
        "summary": {
            "checked": 2,
            "with_findings": 1,
            "errors": 1,
            "warnings": 0,
            "info": 0,
            "fail_on": "error",
            "offenders": 1,
            "tag": None,
            "tagged": 0,
        },
    }
    empty = cli("trace", "lint", "--json", "--meta", "source=nothing")
    assert empty.json()["findings"] == []
    assert empty.stderr == "no traces match: meta.source=nothing\n"


def test_tag_marks_exactly_the_offenders(cli: Cli, tmp_path: Path) -> None:
    """--tag-as tags traces with a --fail-on finding; `trace list --tag` finds exactly them."""
    traces = [
        trace("<|im_start|>", "2 + 2 = 4"),  # error
        trace("Add.", "2 + 2 = 14"),  # warning
        numbered(0, 2),  # info
        trace("Add.", "2 + 2 = 4"),  # clean
        trace("Add.", " ", "2 + 2 = 4"),  # error
    ]
    ids = upload(cli, tmp_path, traces)
    assert cli("trace", "lint").exit_code == 1
    assert tagged(cli, "lint-error") == set()  # no tag unless asked
    result = cli("trace", "lint", "--tag-as", "lint-error")
    assert result.exit_code == 1
    assert result.stderr.endswith("tagged 2 traces with lint-error\n")
    assert tagged(cli, "lint-error") == {ids[0], ids[4]}
    assert cli("trace", "lint", "--fail-on", "warning", "--tag-as", "lint-warn").exit_code == 1
    assert tagged(cli, "lint-warn") == {ids[0], ids[1], ids[4]}
    assert cli("trace", "lint", "--fail-on", "info", "--tag-as", "lint-any").exit_code == 1
    assert tagged(cli, "lint-any") == {ids[0], ids[1], ids[2], ids[4]}
    # Tagging composes with the filter: only the selected offenders get the tag.
    cli("trace", "lint", "--no-tag", "lint-warn", "--fail-on", "info", "--tag-as", "rest")
    assert tagged(cli, "rest") == {ids[2]}
    again = cli("trace", "lint", "--json", "--tag", "lint-error", "--tag-as", "lint-error")
    assert again.json()["summary"]["tagged"] == 2
    assert tagged(cli, "lint-error") == {ids[0], ids[4]}


def test_filter_selects_what_is_linted(cli: Cli, tmp_path: Path) -> None:
    bad = trace("<eos>", "2 + 2 = 4", meta={"source": "a"})
    ids = upload(cli, tmp_path, [bad, trace("<bos>", "2 + 2 = 4", meta={"source": "b"})])
    code, out = lint_json(cli, "--meta", "source=b")
    assert code == 1
    assert [f["trace"] for f in out["findings"]] == [ids[1]]
    assert out["summary"]["checked"] == 1


def test_stored_records_from_list_jsonl_lint_by_their_payload(cli: Cli, tmp_path: Path) -> None:
    """`trace list --jsonl` output linted as a file: the same findings under /payload."""
    upload(cli, tmp_path, [trace("<think>Add.", "2 + 2 = 4")])
    exported = tmp_path / "export.jsonl"
    exported.write_text(cli("trace", "list", "--all", "--jsonl").stdout, encoding="utf-8")
    _, stored = lint_json(cli)
    _, from_file = lint_json(cli, str(exported))
    assert [f["pointer"] for f in from_file["findings"]] == [
        "/payload" + f["pointer"] for f in stored["findings"]
    ]


def test_folders_gz_and_stdin_are_read_like_upload(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    (folder / "deep").mkdir(parents=True)
    write_jsonl(folder / "deep" / "a.jsonl", [trace("Add.", "2 + 2 = 14")])
    with gzip.open(folder / "b.jsonl.gz", "wt", encoding="utf-8") as out:
        out.write(json.dumps(trace("<eos>4")) + "\n")
    result = invoke(["trace", "lint", str(folder)])
    assert result.exit_code == 1
    assert [line.split(": ")[0] for line in result.lines()] == [
        f"{folder}/b.jsonl.gz:1",
        f"{folder}/deep/a.jsonl:1",
    ]
    piped = invoke(["trace", "lint", "-"], input=json.dumps(trace("2 + 2 = 4")) + "\n")
    assert (piped.exit_code, piped.stderr) == (0, "no findings in 1 record\n")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.jsonl", "missing.jsonl: no such file or directory"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no trace files"),
    ],
)
def test_unreadable_inputs_are_one_line(tmp_path: Path, make: Any, message: str) -> None:
    result = invoke(["trace", "lint", str(make(tmp_path))])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_bad_bytes_and_bad_json_are_findings(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"prompt": "caf\xe9"}\n{"prompt": \n')
    result = invoke(["trace", "lint", str(path)])
    assert result.exit_code == 1
    assert result.lines()[0].startswith(f"{path}:1: error[invalid] invalid UTF-8")
    assert result.lines()[1].startswith(f"{path}:2: error[invalid] invalid JSON")


def test_usage_errors(cli: Cli, tmp_path: Path) -> None:
    path = str(write_jsonl(tmp_path / "a.jsonl", [trace("2 + 2 = 4")]))
    assert cli("trace", "lint", path, "--tag-as", "x").exit_code == 2
    assert cli("trace", "lint", path, "--since", "1d").exit_code == 2
    assert cli("trace", "lint", "--ignore", "nope").exit_code == 2
    assert cli("trace", "lint", "--fail-on", "fatal").exit_code == 2
    assert cli("trace", "lint", "--tag-as", "Bad Tag").exit_code == 2
    assert cli("trace", "lint", "--max-chars", "0").exit_code == 2


def test_rules_are_listed(cli: Cli) -> None:
    from tunix_rt.lint import RULES

    table = cli("trace", "lint", "--rules")
    assert table.exit_code == 0
    for rule in RULES:
        assert rule.id in table.stdout
    listed = cli("trace", "lint", "--rules", "--json").json()
    assert [r["id"] for r in listed] == [r.id for r in RULES]
    assert {r["severity"] for r in listed} == {"error", "warning", "info"}


def test_the_shared_data_lints_without_errors(cli: Cli) -> None:
    """The real curriculum files: warnings (answers not restated, a looping prompt), no error."""
    from tests.helpers import DATA

    files = [str(DATA / f"curriculum_stage_{s}.jsonl") for s in "abc"]
    code, out = lint_json(cli, *files)
    assert code == 0
    assert out["summary"]["checked"] == 550
    assert out["summary"]["errors"] == 0
    assert {f["rule"] for f in out["findings"]} == {"answer-missing", "repetition"}
