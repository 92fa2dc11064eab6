"""Lint rules for reasoning traces: what would break a chat template, confuse a reward
function or teach a model to loop. Pure code: a payload in, findings out.

Every rule has an id, a severity and a one-line explanation (`RULES`, printed by
`trace lint --rules`). A finding names its rule and the place it is about as a JSON Pointer
into the payload (`/steps/3/content`: the fourth step in the list, whatever its `i`).

Steps are read in ascending `i` (the numbering is the order, as exports render them): "the
last step" is the one with the highest `i`, "consecutive" means neighbours in that order.

Cheap by construction, because `trace lint` runs over whole stores: one precompiled regular
expression finds every control token and reasoning tag of a text, and is only run on texts
that contain a `<`; a text is cut into words at most once (`_Words`), and only when a rule
needs it (the answer check, the repetition check on long texts); most clean traces cost a
few string operations per step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from tunix_rt.contamination import tokens
from tunix_rt.formats import CONTROL_TOKENS

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")  # worst first
DEFAULT_MAX_CHARS = 32_000
REPEAT_MIN_WORDS = 30  # texts shorter than this are not checked for repetition
REPEAT_N = 4  # repetition is measured on word 4-grams
REPEAT_SHARE = 0.5  # at least this share of a text's 4-grams repeat an earlier one


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    summary: str


RULES: tuple[Rule, ...] = (
    Rule(
        "invalid",
        "error",
        "the record is not a valid trace (schema v1), in upload's words (files only)",
    ),
    Rule(
        "control-token",
        "error",
        "a chat control token (<start_of_turn>, <eos>, <|im_start|>, ...) in the prompt, a "
        "step or the final answer: it would break the chat template",
    ),
    Rule(
        "unbalanced-tag",
        "error",
        "a <reasoning>, <answer> or <think> tag opened and never closed, closed and never "
        "opened, or closed out of order (the steps are checked as one text)",
    ),
    Rule(
        "stray-tag",
        "warning",
        "a <reasoning>, <answer> or <think> tag in the prompt or the final answer, where "
        "exporters and reward functions do not expect markup",
    ),
    Rule("empty-text", "error", "the prompt or the final answer is only whitespace"),
    Rule("empty-step", "error", "a step whose content is only whitespace"),
    Rule("duplicate-step", "warning", "a step says the same as the step before it"),
    Rule("repeated-step", "warning", "a step repeats an earlier step that is not its neighbour"),
    Rule(
        "answer-mismatch",
        "error",
        "an <answer>...</answer> in the steps says something other than the final answer",
    ),
    Rule(
        "answer-missing",
        "warning",
        "the final answer does not appear in the last step (the reasoning never reaches it)",
    ),
    Rule(
        "repetition",
        "warning",
        f"half or more of a text's word {REPEAT_N}-grams repeat earlier ones (a generation "
        f"loop; texts of {REPEAT_MIN_WORDS}+ words)",
    ),
    Rule(
        "too-long",
        "warning",
        "prompt, steps and final answer together are longer than --max-chars characters "
        f"(default {DEFAULT_MAX_CHARS:,}): trainers drop or cut such examples silently",
    ),
    Rule("step-order", "info", "the steps are not listed in ascending i"),
    Rule(
        "step-gap",
        "info",
        "the step numbers skip a value (they should be 0, 1, 2, ... or 1, 2, 3, ...)",
    ),
)
RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    pointer: str  # JSON Pointer into the record ("" is the whole record)
    message: str


@dataclass(frozen=True)
class Options:
    max_chars: int = DEFAULT_MAX_CHARS
    ignore: frozenset[str] = field(default_factory=frozenset)


def _finding(rule: str, pointer: str, message: str) -> Finding:
    return Finding(rule, RULES_BY_ID[rule].severity, pointer, message)


# --- markup: control tokens and reasoning tags --------------------------------------------

TAGS = ("reasoning", "answer", "think")
_MARKUP = re.compile(
    "|".join(re.escape(token) for token in CONTROL_TOKENS) + r"|<(/?)(reasoning|answer|think)>"
)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_TAG = re.compile(r"</?(?:reasoning|answer|think)>")

Tag = tuple[str, bool, str]  # (name, closing, pointer)


def _markup(text: str, pointer: str, out: list[Finding], tags: list[Tag]) -> None:
    """Control tokens of `text` as findings; its reasoning tags appended to `tags`."""
    found: list[str] = []
    for m in _MARKUP.finditer(text):
        name = m.group(2)
        if name is None:
            if m.group(0) not in found:
                found.append(m.group(0))
        else:
            tags.append((name, m.group(1) == "/", pointer))
    if found:
        shown = ", ".join(found)
        plural = "s" if len(found) > 1 else ""
        out.append(_finding("control-token", pointer, f"chat control token{plural} {shown}"))


def _balance(tags: list[Tag], out: list[Finding]) -> None:
    open_: list[tuple[str, str]] = []  # (name, pointer) of the tags still open
    for name, closing, pointer in tags:
        if not closing:
            if any(n == name for n, _ in open_):
                out.append(
                    _finding("unbalanced-tag", pointer, f"<{name}> opened again inside <{name}>")
                )
            open_.append((name, pointer))
        elif open_ and open_[-1][0] == name:
            open_.pop()
        elif any(n == name for n, _ in open_):
            inner = open_[-1][0]
            out.append(
                _finding(
                    "unbalanced-tag", pointer, f"</{name}> closes <{name}> while <{inner}> is open"
                )
            )
            while open_[-1][0] != name:
                open_.pop()
            open_.pop()
        else:
            out.append(
                _finding("unbalanced-tag", pointer, f"</{name}> without an opening <{name}>")
            )
    for name, pointer in open_:
        out.append(_finding("unbalanced-tag", pointer, f"<{name}> is never closed"))


# --- comparing answers ----------------------------------------------------------------------


def _plain(text: str) -> str:
    """Case folded, whitespace collapsed, without a final period."""
    return " ".join(text.casefold().split()).rstrip(".").strip()


def _number(text: str) -> float | None:
    cleaned = text.replace(",", "").replace("$", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def same_answer(a: str, b: str) -> bool:
    """Equal after case, spacing and a final period, or the same number (`1,000` = `1000.0`)."""
    pa, pb = _plain(a), _plain(b)
    if pa == pb:
        return True
    na, nb = _number(pa), _number(pb)
    return na is not None and nb is not None and math.isclose(na, nb, rel_tol=1e-9)


def _bounded_in(needle: str, hay: str) -> bool:
    """`needle` occurs in `hay` and not as part of a longer word or number (`4` in `14`)."""
    start = hay.find(needle)
    end_word = needle[-1].isalnum()
    start_word = needle[0].isalnum()
    while start != -1:
        end = start + len(needle)
        before_ok = not start_word or start == 0 or not hay[start - 1].isalnum()
        after_ok = not end_word or end == len(hay) or not hay[end].isalnum()
        if after_ok and end_word and end + 1 < len(hay) and hay[end] in ".,":
            after_ok = not hay[end + 1].isdigit()  # `2` is not in `2.5`
        if before_ok and after_ok:
            return True
        start = hay.find(needle, start + 1)
    return False


def answer_in(answer: str, text: str) -> bool:
    """Whether `text` states `answer`: as a whole word/number run, ignoring case and spacing."""
    needle = " ".join(answer.casefold().split()).rstrip(".")
    if not needle:
        return True
    hay = " ".join(text.casefold().split())
    if needle in hay and _bounded_in(needle, hay):
        return True
    # Spacing around symbols (`x=4` for `x = 4`), thousands separators: compare tokens.
    ans = tokens(answer)
    return bool(ans) and f" {' '.join(ans)} " in f" {' '.join(tokens(text))} "


# --- repetition -----------------------------------------------------------------------------


def repeated_share(words: Sequence[str], n: int = REPEAT_N) -> float:
    """The share of the n-grams of `words` that repeat an earlier one (0 when too short)."""
    count = len(words) - n + 1
    if count <= 0:
        return 0.0
    unique = len(set(zip(*(words[k:] for k in range(n)), strict=False)))
    return 1 - unique / count


def _repetition(words: Sequence[str], pointer: str, out: list[Finding]) -> bool:
    if len(words) < REPEAT_MIN_WORDS:
        return False
    # Cheap exact pre-check: the first word of every repeated n-gram repeats an earlier word,
    # so a text whose n-grams repeat at least REPEAT_SHARE of the time has at most
    # len - REPEAT_SHARE * (len - n + 1) distinct words.
    if len(set(words)) > len(words) - REPEAT_SHARE * (len(words) - REPEAT_N + 1):
        return False
    share = repeated_share(words)
    if share < REPEAT_SHARE:
        return False
    message = f"{share:.0%} of its word {REPEAT_N}-grams repeat earlier ones ({len(words)} words)"
    out.append(_finding("repetition", pointer, message))
    return True


def _long_words(text: str) -> list[str]:
    """The words of a text that may be long enough to check for repetition, else none."""
    return text.casefold().split() if len(text) >= REPEAT_MIN_WORDS * 2 else []


# --- the linter ------------------------------------------------------------------------------


def _numbering(numbers: list[int], in_order: bool, out: list[Finding]) -> None:
    if not in_order:
        shown = ", ".join(str(n) for n in numbers[:12]) + (", ..." if len(numbers) > 12 else "")
        out.append(_finding("step-order", "/steps", f"steps are listed as i = {shown}"))
    ordered = numbers if in_order else sorted(numbers)
    first = ordered[0]
    if first in (0, 1) and ordered[-1] - first == len(ordered) - 1:
        return  # i unique (the schema), so this is 0..n-1 or 1..n
    missing: list[int] = [] if first in (0, 1) else list(range(0, min(first, 4)))
    for a, b in pairwise(ordered):
        if len(missing) > 3:
            break
        if b - a > 1:
            missing.extend(range(a + 1, min(b, a + 5)))
    shown = ", ".join(str(n) for n in missing[:3]) + (", ..." if len(missing) > 3 else "")
    out.append(_finding("step-gap", "/steps", f"no step numbered {shown}"))


def lint(
    payload: Mapping[str, Any], options: Options | None = None, prefix: str = ""
) -> list[Finding]:
    """Every finding for one valid payload (schema v1), in rule order.

    `prefix` is put before every pointer (`/payload` for a stored record read from a file).
    """
    opts = options or _DEFAULT
    out: list[Finding] = []
    prompt: str = payload["prompt"]
    answer: str = payload["final_answer"]
    steps: Sequence[Mapping[str, Any]] = payload["steps"]
    numbers = [step["i"] for step in steps]
    in_order = all(a < b for a, b in pairwise(numbers))
    order = range(len(steps)) if in_order else sorted(range(len(steps)), key=numbers.__getitem__)

    step_tags: list[Tag] = []
    answer_steps: list[int] = []
    seen: dict[str, int] = {}
    previous: str | None = None
    all_words: list[str] = []
    looped = False
    total = len(prompt) + len(answer)
    for k in order:
        step = steps[k]
        content: str = step["content"]
        total += len(content)
        if "<" in content:
            before = len(step_tags)
            _markup(content, f"{prefix}/steps/{k}/content", out, step_tags)
            if any(name == "answer" for name, _, _ in step_tags[before:]):
                answer_steps.append(k)
        if "<" in step["type"]:
            _markup(step["type"], f"{prefix}/steps/{k}/type", out, [])
        words = content.casefold().split()
        all_words += words
        key = " ".join(words)
        if key in seen or not key:
            where = f"{prefix}/steps/{k}/content"
            if not key:
                out.append(_finding("empty-step", where, "only whitespace"))
            elif key == previous:
                said = f"same as the step before it (i = {numbers[k]})"
                out.append(_finding("duplicate-step", where, said))
            else:
                first = seen[key]
                said = f"repeats {prefix}/steps/{first}/content (i = {numbers[first]})"
                out.append(_finding("repeated-step", where, said))
        else:
            seen[key] = k
            if len(words) >= REPEAT_MIN_WORDS and _repetition(
                words, f"{prefix}/steps/{k}/content", out
            ):
                looped = True
        previous = key

    for name, text in (("prompt", prompt), ("final_answer", answer)):
        where = f"{prefix}/{name}"
        if "<" in text:
            tags: list[Tag] = []
            _markup(text, where, out, tags)
            if tags:
                _balance(tags, out)
                shown = ", ".join(dict.fromkeys(f"<{'/' if c else ''}{n}>" for n, c, _ in tags))
                said = f"{shown} in the {'prompt' if name == 'prompt' else 'final answer'}"
                out.append(_finding("stray-tag", where, said))
        if not text.strip():
            out.append(_finding("empty-text", where, "only whitespace"))
        looped = _repetition(_long_words(text), where, out) or looped
    if step_tags:
        _balance(step_tags, out)
    if not looped and len(steps) > 1:
        _repetition(all_words, f"{prefix}/steps", out)

    if "<" in answer:  # the answer inside its own tags (a stray-tag) is still the answer
        answer = _TAG.sub("", answer)
    if answer.strip():
        for k in answer_steps:
            for m in _ANSWER.finditer(steps[k]["content"]):
                if not same_answer(m.group(1), answer):
                    said = " ".join(m.group(1).split())
                    said = said if len(said) <= 60 else said[:57] + "..."
                    message = f"<answer>{said}</answer>, but the final answer is {_short(answer)}"
                    out.append(_finding("answer-mismatch", f"{prefix}/steps/{k}/content", message))
        last = order[-1]
        if not answer_in(answer, steps[last]["content"]):
            message = (
                f"the last step (i = {numbers[last]}) does not state the final answer "
                f"{_short(answer)}"
            )
            out.append(_finding("answer-missing", f"{prefix}/steps/{last}/content", message))

    if total > opts.max_chars:
        message = (
            f"{total:,} characters in prompt, steps and final answer "
            f"(more than --max-chars {opts.max_chars:,})"
        )
        out.append(_finding("too-long", prefix, message))
    _numbering(numbers, in_order, out)

    if not out:
        return out
    if opts.ignore:
        out = [f for f in out if f.rule not in opts.ignore]
    out.sort(key=lambda f: _RANK[f.rule])
    return out


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= 40 else flat[:37] + "...")


_DEFAULT = Options()
_RANK = {rule.id: n for n, rule in enumerate(RULES)}


def pointer(field_path: str | None) -> str:
    """A validator field path (`payload.steps[0].i`) as a JSON Pointer (`/payload/steps/0/i`)."""
    if not field_path:
        return ""
    out = ""
    for part in re.split(r"\.|(?=\[)", field_path):
        if part.startswith("["):
            out += "/" + part[1:-1]
        elif part:
            out += "/" + part.replace("~", "~0").replace("/", "~1")
    return out


def invalid(field_path: str | None, message: str) -> Finding:
    """A validator error (`ingest.validate.RecordError`) as a finding of rule `invalid`."""
    shown = f"{field_path}: {message}" if field_path else message
    return _finding("invalid", pointer(field_path), shown)


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The most severe severity among `findings` (None when there are none)."""
    best: Severity | None = None
    for f in findings:
        if best is None or SEVERITIES.index(f.severity) < SEVERITIES.index(best):
            best = f.severity
            if best == "error":
                break
    return best
