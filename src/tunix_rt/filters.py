"""TraceFilter: which traces a command works on, and the parsing of the options that say so.

One filter language for every command that selects traces (`trace list`, `stats`, `tag`,
`delete`, and later export, datasets, scores, lint). This module is pure: no SQL (the one
place a filter becomes SQL is `repositories/where.py`), no Typer. Paging is not a filter.

Parsing functions raise `FilterValueError` with a message that says what is allowed; the CLI
turns it into a usage error naming the option.
"""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal

MAX_TAG_LENGTH = 64
_TAG = re.compile(r"^[a-z0-9][a-z0-9._:/=+-]*$")
_META_KEY = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_RELATIVE = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_HEX = frozenset("0123456789abcdef")
MAX_STEPS = 1000  # the schema's limit
MIN_TIME = datetime(1, 1, 2, tzinfo=UTC)
MAX_TIME = datetime(9999, 12, 30, tzinfo=UTC)


class FilterValueError(ValueError):
    """An option value that is not allowed; the message says what is."""


# --- values -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetaMatch:
    """`--meta KEY=VALUE`: the value at `path` (under `meta`) equals `text`, or contains it.

    Strings match by text; numbers by value (so `2` finds `2`, `2.0` and `"2"`); `true`,
    `false` and `null` match those JSON literals (and the strings with that text).
    """

    path: tuple[str, ...]
    text: str

    @property
    def number(self) -> int | Decimal | None:
        """The value as a number, when the text is one (an int when it is integral)."""
        return _as_number(self.text)

    @property
    def literal(self) -> Literal["true", "false", "null"] | None:
        return self.text if self.text in ("true", "false", "null") else None  # type: ignore[return-value]

    def __str__(self) -> str:
        return f"meta.{'.'.join(self.path)}={self.text}"


@dataclass(frozen=True, slots=True)
class StepRange:
    low: int | None
    high: int | None

    def __str__(self) -> str:
        return f"{'' if self.low is None else self.low}..{'' if self.high is None else self.high}"


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """`-q TEXT`: every term must occur (as a substring) in the folded searchable text."""

    text: str
    terms: tuple[str, ...]

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class ScoreMatch:
    """`--score NAME>=X` (also `<=`, `=`): the trace's whole-trace score NAME compares to X."""

    name: str
    op: str  # ">=", "<=" or "="
    value: float

    def __str__(self) -> str:
        return f"score {self.name}{self.op}{self.value:g}"


@dataclass(frozen=True)
class TraceFilter:
    """Which traces. Every part that is set must hold (AND); an empty filter selects all."""

    ids: tuple[str, ...] = ()  # full ids or unique prefixes, resolved by the service
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    versions: tuple[str, ...] = ()  # any of them
    meta: tuple[MetaMatch, ...] = ()
    tags: tuple[str, ...] = ()  # all of them
    no_tags: tuple[str, ...] = ()  # none of them
    steps: StepRange | None = None
    search: SearchQuery | None = None
    scores: tuple[ScoreMatch, ...] = ()  # all of them
    ids_given: bool = field(default=False)  # --ids-from was used (even if it held no ids)

    @property
    def is_empty(self) -> bool:
        """True when nothing narrows the selection: it means every trace."""
        return self == TraceFilter()

    def with_ids(self, ids: Iterable[str]) -> TraceFilter:
        return replace(self, ids=(*self.ids, *ids), ids_given=True)

    def describe(self) -> str:
        """One line for confirmations and manifests, e.g. `since 2026-01-01, tag math`."""
        parts: list[str] = []
        if self.ids_given:
            parts.append(f"{len(self.ids)} given id{'s' if len(self.ids) != 1 else ''}")
        if self.since:
            parts.append(f"since {self.since.isoformat()}")
        if self.until:
            parts.append(f"until {self.until.isoformat()}")
        if self.versions:
            parts.append("version " + " or ".join(self.versions))
        parts.extend(str(m) for m in self.meta)
        parts.extend(f"tag {t}" for t in self.tags)
        parts.extend(f"without tag {t}" for t in self.no_tags)
        if self.steps:
            parts.append(f"steps {self.steps}")
        if self.search:
            parts.append(f"matching {self.search.text!r}")
        parts.extend(str(m) for m in self.scores)
        return ", ".join(parts) if parts else "all traces"


# --- parsing ------------------------------------------------------------------------------


def parse_time(value: str, *, now: datetime | None = None, option: str = "time") -> datetime:
    """An ISO date or time, or a relative age like `7d` / `12h` (that long before now).

    A bare date means its start (00:00) in UTC; a time without an offset is UTC.
    """
    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        base = now or datetime.now(UTC)
        try:
            return max(base - timedelta(**{unit: amount}), MIN_TIME)
        except OverflowError:
            return MIN_TIME
    try:
        if len(text) == 10 and text[4] == "-":
            parsed = datetime.combine(date.fromisoformat(text), time(), UTC)
        else:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError, IndexError):
        raise FilterValueError(
            f"{value!r} is not a time: use an ISO date (2026-01-31), an ISO time "
            "(2026-01-31T12:00:00+02:00; UTC when no offset is given) or an age such as "
            "30s, 15m, 12h, 7d or 2w"
        ) from None
    if not MIN_TIME <= parsed <= MAX_TIME:
        raise FilterValueError(f"{value!r} is outside 0001-01-02..9999-12-30")
    return parsed


def parse_age(value: str, *, now: datetime | None = None) -> datetime:
    """`--older-than 30d`: the moment that age ago (relative forms only)."""
    if not _RELATIVE.match(value.strip()):
        raise FilterValueError(
            f"{value!r} is not an age: use a number and a unit, such as 30s, 15m, 12h, 7d or 2w"
        )
    return parse_time(value, now=now)


def parse_steps(value: str) -> StepRange:
    """`3..8` (inclusive), `3..`, `..8`, or `5` (exactly)."""
    text = value.strip()
    low_text, sep, high_text = text.partition("..")
    if not sep:
        low_text = high_text = text
    try:
        low = int(low_text) if low_text.strip() else None
        high = int(high_text) if high_text.strip() else None
    except ValueError:
        low = high = -1
    if (
        (low is None and high is None)
        or (low is not None and not 0 <= low <= MAX_STEPS)
        or (high is not None and not 0 <= high <= MAX_STEPS)
        or (low is not None and high is not None and low > high)
    ):
        raise FilterValueError(
            f"{value!r} is not a step range: use LOW..HIGH (inclusive, 0..{MAX_STEPS}, "
            "LOW <= HIGH), LOW.., ..HIGH or a single number"
        )
    return StepRange(low, high)


_SCORE = re.compile(r"^\s*([^<>=\s]+)\s*(>=|<=|=)\s*(\S+)\s*$")


def parse_score(value: str) -> ScoreMatch:
    """`NAME>=X`, `NAME<=X` or `NAME=X`; NAME follows the tag name rules, X a finite number."""
    match = _SCORE.match(value)
    number: float | None = None
    if match:
        try:
            number = float(match.group(3))
        except ValueError:
            number = None
    if match is None or number is None or not math.isfinite(number):
        raise FilterValueError(
            f"{value!r} is not a score condition: use NAME>=X, NAME<=X or NAME=X (X a number)"
        )
    return ScoreMatch(parse_score_name(match.group(1)), match.group(2), number)


def parse_score_name(value: str) -> str:
    """A score name: the tag rules without `=` (1..64 lower-case letters, digits and
    `. _ : / + -`), so that `--score NAME>=X` can always name it."""
    try:
        name = parse_tag(value)
    except FilterValueError:
        name = "="
    if "=" in name:
        raise FilterValueError(
            f"{value!r} is not a score name: 1..{MAX_TAG_LENGTH} characters, lower-case "
            "letters, digits and . _ : / + - (starting with a letter or digit)"
        )
    return name


def parse_meta(value: str) -> MetaMatch:
    """`KEY=VALUE`, KEY a dotted path under `meta` (`run.id=7`)."""
    key, sep, text = value.partition("=")
    key = key.strip()
    if key.startswith("meta."):
        key = key[5:]
    if not sep or not _META_KEY.match(key):
        raise FilterValueError(
            f"{value!r} is not KEY=VALUE: KEY is a meta key or a dotted path to a nested one "
            "(letters, digits, _ and -; e.g. source=gsm8k or run.seed=7)"
        )
    return MetaMatch(tuple(key.split(".")), text)


def parse_tag(value: str) -> str:
    """A tag name: 1..64 characters, lower-case letters, digits and `. _ : / = + -`."""
    tag = value.strip()
    if len(tag) > MAX_TAG_LENGTH or not _TAG.match(tag):
        raise FilterValueError(
            f"{value!r} is not a tag name: 1..{MAX_TAG_LENGTH} characters, lower-case letters, "
            "digits and . _ : / = + - (starting with a letter or digit)"
        )
    return tag


def parse_version(value: str) -> str:
    version = value.strip()
    if not 1 <= len(version) <= 64:
        raise FilterValueError(f"{value!r} is not a trace version: 1..64 characters")
    return version


def fold(text: str) -> str:
    """Searchable form: NFC, Unicode case folding (`STRASSE` ~ `straße`), whitespace runs as
    one space. Accents are kept (`cafe` does not find `café`)."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    return " ".join(folded.split())


def parse_search(value: str) -> SearchQuery:
    """Words (all must occur) and "quoted phrases" (must occur as written)."""
    terms: list[str] = []
    for n, part in enumerate(value.split('"')):
        if n % 2:  # inside quotes: one phrase
            phrase = fold(part)
            if phrase:
                terms.append(phrase)
        else:
            terms.extend(fold(word) for word in part.split() if fold(word))
    if value.count('"') % 2:
        raise FilterValueError(f"{value!r} has an unclosed quote")
    unique = tuple(dict.fromkeys(terms))
    if not unique:
        raise FilterValueError("the search text is empty: give one or more words or a phrase")
    return SearchQuery(value, unique)


def parse_id_lines(lines: Iterable[str], source: str) -> list[str]:
    """Ids or unique prefixes, one per line, as other commands print them.

    Also accepted: a JSON record per line (`trace list --jsonl`), whose `id` is used, and a
    `trace list` table (the first column; its header is skipped). Blank lines and lines
    starting with `#` are skipped.
    """
    import orjson

    out: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip().lstrip("\ufeff")  # a BOM (Windows editors) is not part of an id
        if not line or line.startswith("#") or line.split()[0] == "ID":
            continue  # blank, a comment, or the header of a `trace list` table
        if line.startswith("{"):
            try:
                record = orjson.loads(line)
                line = str(record["id"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise FilterValueError(
                    f"{source}:{number}: a JSON line must be a record with an id"
                ) from None
        token = line.split()[0].lower()
        digits = token.replace("-", "")
        if not digits or len(digits) > 32 or not set(digits) <= _HEX:
            raise FilterValueError(
                f"{source}:{number}: {token[:40]!r} is not a trace id (hexadecimal, as "
                "`trace list` and `trace upload` print them)"
            )
        out.append(str(uuid.UUID(digits)) if len(digits) == 32 else digits)
    return out


def _as_number(text: str) -> int | Decimal | None:
    stripped = text.strip()
    if not stripped or stripped.lower() in ("nan", "inf", "-inf", "infinity", "+inf"):
        return None
    try:
        number = Decimal(stripped)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if number == number.to_integral_value() and abs(number) < 2**63:
        return int(number)
    return number
