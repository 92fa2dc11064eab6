"""Eval-set contamination: which traces' prompts leak which eval items. Pure code.

Text is compared in a normal form: Unicode NFC, case folded (`str.casefold`), cut into tokens.
A token is a *word* or a *symbol*. A word is a number (`27`, `2.5`, `1,000`: a decimal part or
thousands separators belong to it), a run of letters, digits and underscores, or one Chinese or
Japanese character (those scripts put no spaces between words). A symbol is any other single
character that is not whitespace (`+`, `÷`, `?`, `$`). Whitespace only separates tokens, so
`1+1` and `1 + 1` are the same text, while numbers and symbols are content: `What is 1 + 1?`
is neither `What is 2 + 1?` nor `What is 1 ÷ 1?`, and `27` is not `27.5`.

A trace matches an eval item when, comparing the trace's prompt with the item's prompt:

- `equal`: the two token sequences are equal (the prompts are equal up to case and spacing);
- `contains` (items with fewer than 8 words, such as `What is 15 + 27?`): the item's whole
  token sequence occurs contiguously in the trace's (`Please answer: what is 15+27? Thanks`
  contains it; `What is 15 + 27.5?` and `What is 42% of 431?` do not contain `What is 15 +
  27?` and `What is 42?`: the item's final `?` is part of it);
- `8-gram` (items with 8 words or more): the two share a word 8-gram, 8 consecutive words of
  one (symbols left out) that are also 8 consecutive words of the other.

A short item has no word 8-gram, which is why it is matched by containment instead; it is never
matched by a part of itself, so `What is 1/4 + 1/3?` does not match `What is 1/4 + 1/2?`.
When several rules hold, the first in the order above is reported.

Speed: each prompt is tokenised once (one regular expression); its 8-grams are looked up in one
set of every item's 8-grams; containment is only tried for the short items whose *anchor* (the
token of the item that is rarest among all items) occurs in the prompt, and then it is one
substring search on the space-joined tokens, which is exact because tokens hold no spaces.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from tunix_rt.ingest.readers import RawRecord

N = 8  # words in an n-gram; items with fewer words are matched by containment
Kind = Literal["equal", "contains", "8-gram"]
KINDS: tuple[Kind, ...] = ("equal", "contains", "8-gram")  # strongest first

# Chinese and Japanese: Han ideographs (with extensions and compatibility forms), kana.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# Combining marks are part of the word they sit on (Devanagari vowel signs, Arabic harakat,
# Thai vowels, accents NFC could not compose).
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    "\u0900-\u0dff\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff"
    "\ufe20-\ufe2f"
)
# A number with a decimal part or thousands separators is one word: `2.5` is not `2` and `5`.
_NUMBER = r"\d+(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+\.\d+"
_WORD = rf"{_NUMBER}|[{_CJK}]|(?:[^\W{_CJK}]|[{_MARKS}])+"
_TOKEN = re.compile(rf"{_WORD}|[^\w\s]")
_WORDS = re.compile(_WORD)
# The same for ASCII text, where the classes above reduce to \w: 2.5x faster.
_ASCII_WORD = rf"{_NUMBER}|\w+"
_ASCII_TOKEN = re.compile(rf"{_ASCII_WORD}|[^\w\s]", re.ASCII)
_ASCII_WORDS = re.compile(_ASCII_WORD, re.ASCII)


def normal(text: str) -> str:
    """NFC, case folded (whitespace is dealt with by tokenising)."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.casefold()


def tokens(text: str) -> list[str]:
    """Words and symbols of `text`, in normal form."""
    if text.isascii():
        return _ASCII_TOKEN.findall(text.lower())
    return _TOKEN.findall(normal(text))


def words(text: str) -> list[str]:
    """Only the words of `text`, in normal form (what n-grams are made of)."""
    if text.isascii():
        return _ASCII_WORDS.findall(text.lower())
    return _WORDS.findall(normal(text))


def is_word(token: str) -> bool:
    """Whether a token (from `tokens`) is a word rather than a symbol."""
    return len(token) > 1 or _WORDS.match(token) is not None


def word_tokens(toks: list[str]) -> list[str]:
    """The words among `toks` (symbols are single characters that are not word characters)."""
    match = _WORDS.match
    return [t for t in toks if len(t) > 1 or match(t)]


def ngrams(seq: list[str], n: int = N) -> set[tuple[str, ...]]:
    """Every run of `n` consecutive items of `seq`."""
    return set(zip(*(seq[k:] for k in range(n)), strict=False))


@dataclass(frozen=True, slots=True)
class EvalItem:
    id: str
    prompt: str
    line: int = 0  # where it was in the eval file (for messages)


@dataclass(frozen=True, slots=True)
class Match:
    item: int  # index into the matcher's items
    kind: Kind


class EvalFileError(ValueError):
    """An eval file that cannot be used; the message names FILE:LINE."""


def parse_items(records: Iterable[RawRecord]) -> list[EvalItem]:
    """Eval items from the records of an eval file (as `ingest.readers` reads them).

    Each record is a JSON object with a non-empty string `prompt` and an `id` (a string or an
    integer, unique in the file); other keys (`expected_answer`, `section`, ...) are ignored.
    Raises `EvalFileError` naming the first bad record.
    """
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for raw in records:
        loc = raw.location
        if raw.error is not None:
            raise EvalFileError(f"{loc}: {raw.error}")
        value = raw.value
        if not isinstance(value, dict):
            raise EvalFileError(f"{loc}: an eval item must be a JSON object with id and prompt")
        prompt = value.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise EvalFileError(f"{loc}: prompt: must be a non-empty string")
        ident = value.get("id")
        if isinstance(ident, bool) or not isinstance(ident, str | int) or str(ident) == "":
            raise EvalFileError(f"{loc}: id: must be a non-empty string or an integer")
        key = str(ident)
        if key in seen:
            raise EvalFileError(f"{loc}: id: {key!r} is also the id of line {seen[key]}")
        seen[key] = loc.line
        if not tokens(prompt):
            raise EvalFileError(f"{loc}: prompt: has no words or symbols to match")
        items.append(EvalItem(key, prompt, loc.line))
    return items


class Matcher:
    """An eval set, indexed once; `match(prompt)` finds the items a prompt leaks."""

    def __init__(self, items: list[EvalItem]) -> None:
        self.items = items
        self._equal: dict[str, list[int]] = {}
        self._grams: dict[tuple[str, ...], list[int]] = {}
        self._short: dict[str, list[tuple[int, str]]] = {}  # anchor -> (item, " joined ")
        self.short_count = 0
        item_tokens = [tokens(item.prompt) for item in items]
        frequency = Counter(tok for toks in item_tokens for tok in set(toks))
        for n, toks in enumerate(item_tokens):
            joined = " ".join(toks)
            self._equal.setdefault(joined, []).append(n)
            item_words = word_tokens(toks)
            if len(item_words) >= N:
                for gram in ngrams(item_words):
                    self._grams.setdefault(gram, []).append(n)
            else:
                self.short_count += 1
                # The rarest token among the items (ties: the longest, then the first):
                # a prompt without it cannot contain the item.
                anchor = min(toks, key=lambda t: (frequency[t], -len(t)))
                self._short.setdefault(anchor, []).append((n, f" {joined} "))
        self._gram_set = frozenset(self._grams)
        self._anchor_set = frozenset(self._short)

    def match(self, prompt: str) -> list[Match]:
        """The items `prompt` matches, by item order, each with the strongest kind."""
        ascii_ = prompt.isascii()
        text = prompt.lower() if ascii_ else normal(prompt)
        toks = _ASCII_TOKEN.findall(text) if ascii_ else _TOKEN.findall(text)
        found: dict[int, Kind] = {}
        joined = " ".join(toks)
        for n in self._equal.get(joined, ()):
            found[n] = "equal"
        anchors = self._anchor_set.intersection(toks)
        if anchors:
            padded = f" {joined} "
            for anchor in anchors:
                for n, needle in self._short[anchor]:
                    if n not in found and needle in padded:
                        found[n] = "contains"
        if len(toks) >= N:
            prompt_words = _ASCII_WORDS.findall(text) if ascii_ else word_tokens(toks)
            if len(prompt_words) >= N:
                shared = self._gram_set.intersection(
                    zip(*(prompt_words[k:] for k in range(N)), strict=False)
                )
                for gram in shared:
                    for n in self._grams[gram]:
                        found.setdefault(n, "8-gram")
        return [Match(n, found[n]) for n in sorted(found)]

    def match_all(self, prompts: Iterable[tuple[str, str]]) -> Iterator[tuple[str, list[Match]]]:
        """(key, matches) for each (key, prompt) that matches at least one item."""
        match = self.match
        for key, prompt in prompts:
            hits = match(prompt)
            if hits:
                yield key, hits
