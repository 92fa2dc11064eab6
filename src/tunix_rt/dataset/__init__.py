"""Frozen datasets, the pure part: names, split ratios, split assignment, random picks,
the manifest and the dataset card. Nothing here touches the database or the terminal.

- A dataset is `NAME@vN`. `dataset build NAME` makes version 1 and is refused when NAME
  exists; a new version is explicit, `dataset build NAME@v2` (refused when it exists).
  Elsewhere, `NAME` means its newest version.
- A trace's split comes from the SHA-256 of the seed and its normalised prompt
  (`filters.fold`: Unicode case folding, whitespace runs as one space; digits and accents
  are kept), read as a number in [0, 1) and placed by the cumulative ratios in the order
  given. Identical normalised prompts (and so exact-duplicate groups) always share a split,
  and a trace keeps its split when the dataset is rebuilt over more data with the same seed
  and ratios.
- Exact duplicates (the same normalised prompt, steps and final answer: `trace dupes`'s
  exact key, `tunix_rt.dupes.exact_key`) are held once: a build keeps the member `trace
  dupes` keeps by default (the oldest, ties by the smaller id) and drops the others, over
  the whole filtered set, before the pick and the limit (`collapse`). `--keep-duplicates`
  keeps them all (they still share a split).
- A random pick orders the whole filtered set by the SHA-256 of the seed and the trace id and
  takes the first N: uniform, reproducible from the seed and the same data, on any database.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from tunix_rt import dupes
from tunix_rt.errors import SettingsError, TunixRtError
from tunix_rt.filters import fold

DEFAULT_RATIOS = "train=1"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Hugging Face `datasets` (naming._split_re, `^\w+(\.\w+)*$`), in ASCII: a split name is
# also a file name (`<split>.jsonl`), where other scripts meet Unicode normalisation.
SPLIT_RE = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
SPLIT_MAX = 64
# Device names Windows reserves even with an extension (`con.jsonl` cannot be created).
_WINDOWS = {"con", "prn", "aux", "nul"} | {f"{d}{n}" for d in ("com", "lpt") for n in range(1, 10)}
_SCALE = 1 << 64


class DatasetNameError(TunixRtError):
    """A dataset name, version or split specification is not valid."""


@dataclass(frozen=True)
class DatasetRef:
    """`NAME` (version None: version 1 for a build, the newest otherwise) or `NAME@vN`."""

    name: str
    version: int | None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@v{self.version}"


def parse_ref(text: str) -> DatasetRef:
    name, at, version = text.partition("@")
    if not NAME_RE.match(name):
        raise DatasetNameError(
            f"dataset name {name!r} is not valid: 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if not at:
        return DatasetRef(name, None)
    digits = version[1:] if version[:1] in ("v", "V") else version
    if not digits.isdigit() or not 1 <= int(digits) <= 1_000_000:
        raise DatasetNameError(f"dataset version {version!r} is not valid: write NAME@v2")
    return DatasetRef(name, int(digits))


def label(name: str, version: int) -> str:
    return f"{name}@v{version}"


@dataclass(frozen=True)
class Ratios:
    """Split names and their shares, in the order given; the shares add up to 1."""

    names: tuple[str, ...]
    shares: tuple[Fraction, ...]

    def __str__(self) -> str:
        return ",".join(f"{n}={exact(s)}" for n, s in zip(self.names, self.shares, strict=True))

    def as_dict(self) -> dict[str, str]:
        return {n: exact(s) for n, s in zip(self.names, self.shares, strict=True)}

    def bounds(self) -> list[int]:
        """Each split's exclusive upper bound on the 64-bit key (the last is 2**64)."""
        out: list[int] = []
        total = Fraction(0)
        for share in self.shares:
            total += share
            out.append(int(total * _SCALE))
        out[-1] = _SCALE
        return out


def exact(value: Fraction) -> str:
    """A share as written without loss: a decimal when it has a finite one (`0.05`),
    else a fraction (`1/3`), which `parse_ratios` reads back as the same number."""
    rest, places = value.denominator, 0
    for p in (2, 5):
        count = 0
        while rest % p == 0:
            rest //= p
            count += 1
        places = max(places, count)
    if rest != 1:
        return f"{value.numerator}/{value.denominator}"
    scaled = abs(value.numerator) * (10**places // value.denominator)
    whole, fraction = divmod(scaled, 10**places)
    sign = "-" if value < 0 else ""
    return f"{sign}{whole}" + (f".{fraction:0{places}d}".rstrip("0") if places else "")


def check_split_name(name: str) -> None:
    """A split name Hugging Face accepts and every file system can hold as `<name>.jsonl`."""
    if not SPLIT_RE.match(name) or len(name) > SPLIT_MAX:
        raise DatasetNameError(
            f"split name {name!r} is not valid: letters, digits and '_' (ASCII), in parts "
            f"joined by single dots, at most {SPLIT_MAX} characters (Hugging Face's "
            "split-name rule, which refuses '-')"
        )
    if name.lower() in _WINDOWS:
        raise DatasetNameError(f"split name {name!r} is a device name on Windows: choose another")


def parse_ratios(text: str, *, stored: bool = False) -> Ratios:
    """`train=0.9,validation=0.05,test=0.05`: names once each (ignoring case), shares in
    (0, 1] as decimals or fractions (`1/3`), adding up to exactly 1. `stored`: ratios a
    build stored, whose names earlier versions allowed (`val-1`): names are not checked."""
    names: list[str] = []
    shares: list[Fraction] = []
    for part in text.split(","):
        name, eq, value = part.strip().partition("=")
        name = name.strip()
        if not eq or not name:
            raise DatasetNameError(
                f"split {part.strip()!r} is not NAME=SHARE (e.g. train=0.9,validation=0.1)"
            )
        if not stored:
            check_split_name(name)
        same = [n for n in names if n.casefold() == name.casefold()]
        if name in names:
            raise DatasetNameError(f"split {name} is named twice")
        if same and not stored:
            raise DatasetNameError(
                f"split names {same[0]} and {name} differ only in case: their files would be "
                "one file on case-insensitive file systems (macOS, Windows)"
            )
        try:
            share = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise DatasetNameError(
                f"split {name}: share {value.strip()!r} is not a number"
            ) from None
        if not 0 < share <= 1:
            raise DatasetNameError(f"split {name}: share {value.strip()} is not in (0, 1]")
        names.append(name)
        shares.append(share)
    total = sum(shares, Fraction(0))
    if total != 1:
        gap = f"{exact(1 - total)} short" if total < 1 else f"{exact(total - 1)} over"
        raise DatasetNameError(
            f"split shares add up to {exact(total)}, not 1 ({gap}): "
            + " + ".join(exact(s) for s in shares)
        )
    return Ratios(tuple(names), tuple(shares))


def prompt_key(prompt: str) -> str:
    """The normalised prompt that decides the split (`filters.fold`)."""
    return fold(prompt)


def _u64(seed: int, text: str) -> int:
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def assign_split(prompt: str, seed: int, ratios: Ratios, bounds: list[int] | None = None) -> str:
    """The split of a trace with this prompt, for this seed and these ratios."""
    return assign_folded(prompt_key(prompt), seed, ratios, bounds)


def assign_folded(key: str, seed: int, ratios: Ratios, bounds: list[int] | None = None) -> str:
    """`assign_split` of a prompt already normalised (`prompt_key`)."""
    point = _u64(seed, key)
    for name, bound in zip(ratios.names, bounds or ratios.bounds(), strict=True):
        if point < bound:
            return name
    return ratios.names[-1]  # pragma: no cover - the last bound is 2**64


def source_date_epoch(value: str | None) -> datetime | None:
    """`SOURCE_DATE_EPOCH` (reproducible-builds.org): whole seconds since 1970-01-01 UTC, or
    None when unset or empty. Strict, as the convention asks: ASCII digits only (no sign,
    no spaces, no fraction), at most 253402300799 (9999-12-31T23:59:59Z); anything else is
    an error, never silently ignored or trimmed."""
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit():
        raise SettingsError(
            f"SOURCE_DATE_EPOCH {value!r} is not a whole number of seconds since "
            "1970-01-01 UTC, digits only (e.g. `git log -1 --format=%ct`)"
        )
    if len(value) > 15 or int(value) >= _MAX_EPOCH:  # (int() refuses 4,300+ digits)
        raise SettingsError(
            f"SOURCE_DATE_EPOCH {value[:20]}{'...' if len(value) > 20 else ''} is out of "
            f"range: at most {_MAX_EPOCH - 1} "
            "(9999-12-31T23:59:59Z)"
        )
    return datetime.fromtimestamp(int(value), UTC)


_MAX_EPOCH = 253_402_300_800  # 10000-01-01


def pick_key(seed: int, trace_id: str) -> bytes:
    """Sort key of a random pick: the first N traces in this order are the pick."""
    return hashlib.sha256(f"{seed}\x00{trace_id}".encode()).digest()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A selected trace on its way into a dataset."""

    id: str
    created_at: datetime
    content_hash: str
    split: str


def _keeper_rank(c: Candidate) -> tuple[object, ...]:
    return _RANK(dupes.Member(uuid.UUID(c.id), c.created_at))


_RANK = dupes.rank_key("oldest")  # `trace dupes`'s default keeper: the oldest, ties by id


def collapse(rows: Iterable[tuple[str, Candidate]]) -> tuple[list[Candidate], int]:
    """One candidate per exact key (`dupes.exact_key`): the one `trace dupes` keeps by
    default. Returns the keepers, in the order their keys first came, and how many
    candidates were dropped. Holds one candidate per distinct key."""
    best: dict[bytes, Candidate] = {}
    seen = 0
    for key, candidate in rows:
        seen += 1
        raw = bytes.fromhex(key)
        held = best.get(raw)
        if held is None or _keeper_rank(candidate) < _keeper_rank(held):
            best[raw] = candidate
    return list(best.values()), seen - len(best)
