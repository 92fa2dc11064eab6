"""Duplicate and near-duplicate traces: normalisation, shingles, MinHash, LSH banding, the exact
similarity check, clustering and the keeper rule. Pure: no SQL, no terminal.

**Content.** A trace's content is its prompt, its step contents in ascending `i` and its final
answer. Meta and step types are labels, not content.

**Exact duplicates** share one *normalised content*: each part folded (`filters.fold`: NFC,
Unicode case folding, whitespace runs as one space), the parts joined by U+001F (which folding
never leaves in a text). Numbers and symbols are content: `What is 5 + 3?` and `What is
6 + 3?` differ. `exact_key` is the SHA-256 of that text.

**Near duplicates** are pairs whose shingle sets have a Jaccard similarity of at least the
threshold, grouped into connected components (union-find). Shingles:

- Each folded part is cut into tokens. Letters, marks and digits of scripts written with
  spaces form words (`_` joins them too); each character of a script written without spaces
  (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan, Yi, ...) is a token of its own, so the
  shingles of CJK text are character n-grams; each symbol (`+`, `=`, `$`, emoji) is a
  token of its own, so numbers and operators stay content. Punctuation, spaces and control or
  format characters separate tokens and are dropped (`What is 27 + 19?` and `what is 27+19`
  have the same tokens). Beyond the Basic Multilingual Plane characters are classed by block:
  CJK extensions (U+20000..U+3FFFF) like Han, U+1F000..U+1FAFF (emoji) as symbols,
  U+E0000..U+E0FFF (tags, variation selectors) as separators, the rest as letters.
- Shingles are token 3-grams inside each part (never across parts, so steps given in another
  order have the same shingles); a part of one or two tokens is one shingle. So a short text
  still has shingles (word 5-grams would leave a prompt of four words with none), and a text
  of few words needs no separate character mode: its shingles are its whole tokens.

**MinHash.** Every shingle gets a 64-bit fingerprint (a polynomial hash of its tokens' code
points, mixed with MurmurHash3's finaliser), computed for a whole batch of traces at once with
numpy. Its high 32 bits go through 128 affine permutations `a*fmix32(x) + b mod 2^32` whose
`a`, `b` are datasketch's own (its `affine32` scheme, seed 1), so a signature here is
bit-for-bit the one `datasketch.MinHash` computes from the same 32-bit shingle hashes
(`tests/unit/test_dupes.py` checks it). numpy earns its place as a runtime dependency here:
the batched tokens, fingerprints and 128 permutations cost about 36 us per trace, the same
work in pure Python about 1,350 us (37x), which would make `--near` slower than datasketch.

**LSH.** The signature is cut into `bands` bands of `rows` rows; two traces are candidates
when any band is equal. A pair of similarity s becomes a candidate with probability
1-(1-s^rows)^bands (the S-curve). `choose_bands` takes the longest bands (fewest candidates
to check) that still reach TARGET_RECALL at the threshold: 21 bands of 6 rows at 0.8, where
datasketch's `MinHashLSH(threshold=0.8)` picks 9 x 13 and finds only 40% of the pairs at 0.8.

**Exact check.** A candidate pair is joined only when the Jaccard similarity of its shingle
sets is at least the threshold: first on the sets of 64-bit fingerprints (fast), then each
edge that joined a cluster is confirmed on the shingle strings themselves before anything is
reported (`confirm`), so nothing is reported below the threshold.

**Keeper.** Each cluster keeps one trace: the oldest (default), the newest, or the one with
the best score of a name; ties go to the smallest id.
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from tunix_rt.filters import fold

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    U32 = npt.NDArray[np.uint32]
    U64 = npt.NDArray[np.uint64]
    I64 = npt.NDArray[np.int64]

NUM_PERM = 128
NGRAM = 3
TARGET_RECALL = 0.99  # probability that a pair at exactly the threshold becomes a candidate
MIN_THRESHOLD = 0.5  # lower thresholds need bands so short that unrelated traces collide
DEFAULT_THRESHOLD = 0.8
# Stored with every signature: a change to normalisation, tokens, fingerprints or
# permutations must change it, so that stored signatures are computed again.
SCHEME = "t3-p128-a32-v1"
PART_SEP = "\x1f"
DOC_SEP = "\x1e"

_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1
_P = 0x100000001B3  # odd: invertible modulo 2^64
_A = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)  # odd shingle multipliers
_BAND_MIX = 0xD6E8FEB86659FD93

# --- normalised content and the exact key --------------------------------------------------


def content_parts(payload: dict[str, Any]) -> list[str]:
    """Prompt, step contents in ascending `i`, final answer: the content of a trace."""
    steps = sorted(payload.get("steps") or (), key=_BY_I)
    return [payload["prompt"], *(s["content"] for s in steps), payload["final_answer"]]


_BY_I = operator.itemgetter("i")


def folded_parts(payload: dict[str, Any]) -> list[str]:
    """The content parts, each folded as `filters.fold` does (case, Unicode form and
    whitespace). The parts are normalised and case-folded as one text: U+0000 between them
    neither composes nor changes case, so this is `fold` of each part, in one call."""
    parts = content_parts(payload)
    joined = "\x00".join(parts)
    if joined.count("\x00") != len(parts) - 1:  # a part holds U+0000 itself
        return [fold(p) for p in parts]
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", joined).casefold())
    return [" ".join(p.split()) for p in text.split("\x00")]


def exact_key(folded: Sequence[str]) -> str:
    """SHA-256 (hex) of the normalised content: equal keys are exact duplicates."""
    return hashlib.sha256(PART_SEP.join(folded).encode("utf-8", "surrogatepass")).hexdigest()


# --- tokens ---------------------------------------------------------------------------------

SEP, WORD, SINGLE = 0, 1, 2
_BOUNDARY = 3  # PART_SEP and DOC_SEP in a batch (separators that also count parts)
# Blocks of scripts written without spaces between words: each character is a token.
_UNSPACED_BMP = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x1980, 0x19FF),  # New Tai Lue, Khmer symbols
    (0x1A20, 0x1AAF),  # Tai Tham
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation (its few letters)
    (0x3040, 0x31FF),  # Hiragana, Katakana, Bopomofo, Kanbun, CJK strokes, Katakana ext.
    (0x3200, 0x4DBF),  # enclosed CJK, CJK compatibility, CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA000, 0xA4CF),  # Yi
    (0xA9E0, 0xA9FF),  # Myanmar extended B
    (0xAA60, 0xAADF),  # Myanmar extended A, Tai Viet
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # halfwidth katakana
)
_SEPARATORS_BMP = ((0xFE00, 0xFE0F),)  # variation selectors (marks, but never content)
# Beyond the BMP, by block: (first, last, class); anything else is a letter.
_ASTRAL = (
    (0x1F000, 0x1FAFF, SINGLE),  # emoji, pictographs, playing cards, mahjong
    (0x20000, 0x3FFFF, SINGLE),  # CJK extensions B..H (unspaced)
    (0xE0000, 0xE0FFF, SEP),  # tags, variation selectors supplement
)


_CATEGORY_CLASS = {
    **dict.fromkeys(("Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No"), WORD),
    **dict.fromkeys(("Sm", "Sc", "Sk", "So"), SINGLE),
    "Pc": WORD,  # `_` joins words (snake_case names stay one token)
}


@functools.cache
def _bmp_table() -> bytes:
    """The class of each BMP code point: by Unicode category, then the unspaced blocks
    (their letters become single tokens) and the variation selectors (separators)."""
    classes = _CATEGORY_CLASS.get
    table = bytearray(
        classes(cat, SEP) for cat in map(unicodedata.category, map(chr, range(0x10000)))
    )
    for low, high in _UNSPACED_BMP:
        table[low : high + 1] = table[low : high + 1].replace(bytes([WORD]), bytes([SINGLE]))
    for low, high in _SEPARATORS_BMP:
        table[low : high + 1] = bytes(high - low + 1)
    return bytes(table)


def _ranges(table: bytes, wanted: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start = None
    for cp, cls in enumerate(table):
        if cls == wanted and start is None:
            start = cp
        elif cls != wanted and start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, len(table) - 1))
    return out


def _class_text(ranges: Iterable[tuple[int, int]]) -> str:
    def esc(cp: int) -> str:
        return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"

    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)


@functools.cache
def _token_regex() -> re.Pattern[str]:
    table = _bmp_table()
    single = _ranges(table, SINGLE) + [(a, b) for a, b, c in _ASTRAL if c == SINGLE]
    word = _ranges(table, WORD)
    last = 0x10000
    for a, b, _ in _ASTRAL:  # astral code points outside the listed blocks are letters
        if a > last:
            word.append((last, a - 1))
        last = b + 1
    word.append((last, 0x10FFFF))
    return re.compile(f"[{_class_text(single)}]|[{_class_text(word)}]+")


def tokens(folded: str) -> list[str]:
    """The tokens of one folded text (see the module docstring)."""
    return _token_regex().findall(folded)


def shingles(folded: Sequence[str]) -> set[str]:
    """The shingle set of a trace's folded parts: token 3-grams inside each part (a part of
    one or two tokens is one shingle), each written as its tokens joined by a space."""
    out: set[str] = set()
    for part in folded:
        toks = tokens(part)
        if len(toks) < NGRAM:
            if toks:
                out.add(" ".join(toks))
            continue
        out.update(" ".join(toks[i : i + NGRAM]) for i in range(len(toks) - NGRAM + 1))
    return out


def jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    """|a & b| / |a | b|; two empty sets are not similar (0.0)."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


# --- fingerprints (the same numbers from Python, for tests and references) ------------------


def fmix64(h: int) -> int:
    """MurmurHash3's 64-bit finaliser."""
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def fmix32(h: int) -> int:
    """MurmurHash3's 32-bit finaliser (datasketch's pre-mix)."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


def token_fingerprint(token: str) -> int:
    """fmix64 of the polynomial sum(code point * P^k) mod 2^64 over the token's characters."""
    h = 0
    power = 1
    for ch in token:
        h = (h + ord(ch) * power) & _MASK64
        power = (power * _P) & _MASK64
    return fmix64(h)


def shingle_fingerprint(shingle: str) -> int:
    """The 64-bit fingerprint of a shingle (its tokens joined by spaces)."""
    total = 0
    for mult, tok in zip(_A, shingle.split(" "), strict=False):
        total = (total + token_fingerprint(tok) * mult) & _MASK64
    return fmix64(total)


def shingle_hash32(shingle: str) -> int:
    """The 32-bit hash MinHash permutes: the fingerprint's high half."""
    return shingle_fingerprint(shingle) >> 32


# --- batched fingerprints and signatures (numpy) --------------------------------------------


@functools.cache
def permutations() -> tuple[U32, U32]:
    """The 128 (a, b) of the affine permutations: datasketch's affine32 ones for seed 1."""
    import numpy as np

    gen = np.random.RandomState(1)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


@functools.cache
def _class_array() -> npt.NDArray[np.uint8]:
    import numpy as np

    return np.frombuffer(_bmp_table(), dtype=np.uint8)


class _Powers:
    """P^k and P^-k modulo 2^64 for k < n, grown on demand."""

    def __init__(self) -> None:
        import numpy as np

        self.up: U64 = np.ones(1, dtype=np.uint64)
        self.down: U64 = np.ones(1, dtype=np.uint64)

    def get(self, n: int) -> tuple[U64, U64]:
        import numpy as np

        if len(self.up) < n:
            size = max(n, 2 * len(self.up))
            up = np.full(size, _P, dtype=np.uint64)
            up[0] = 1
            self.up = np.cumprod(up, dtype=np.uint64)
            down = np.full(size, pow(_P, -1, 1 << 64), dtype=np.uint64)
            down[0] = 1
            self.down = np.cumprod(down, dtype=np.uint64)
        return self.up[:n], self.down[:n]


_POWERS = _Powers()


def _fmix64_array(h: U64) -> U64:
    import numpy as np

    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def _fmix32_array(h: U32) -> U32:
    import numpy as np

    h = h ^ (h >> np.uint32(16))
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _classes(codes: U32) -> npt.NDArray[np.uint8]:
    """The class of each code point; the two separators get _BOUNDARY."""
    import numpy as np

    table = _class_array()
    bmp = codes < 0x10000
    out = table[np.where(bmp, codes, 0)]
    out[(codes == ord(PART_SEP)) | (codes == ord(DOC_SEP))] = _BOUNDARY
    if not bmp.all():
        astral = codes[~bmp]
        cls = np.full(astral.shape, WORD, dtype=np.uint8)
        for low, high, kind in _ASTRAL:
            cls[(astral >= low) & (astral <= high)] = kind
        out[~bmp] = cls
    return out


@dataclass(frozen=True)
class Batch:
    """Shingle fingerprints of a batch of traces: those of trace k are
    `fingerprints[offsets[k]:offsets[k + 1]]` (in text order, repeats included)."""

    fingerprints: U64
    offsets: I64

    def of(self, k: int) -> U64:
        """The sorted, distinct fingerprints of trace k."""
        import numpy as np

        return np.unique(self.fingerprints[self.offsets[k] : self.offsets[k + 1]])

    def counts(self) -> I64:
        import numpy as np

        return np.diff(self.offsets)


def fingerprint_batch(docs: Sequence[Sequence[str]]) -> Batch:
    """The shingle fingerprints of each trace's folded parts, all traces at once: the same
    numbers as `shingle_fingerprint` over `shingles`, without a Python object per token."""
    import numpy as np

    text = DOC_SEP.join(PART_SEP.join(parts) for parts in docs)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = len(codes)
    cls = _classes(codes)
    word = cls == WORD
    single = cls == SINGLE
    prev_word = np.concatenate(([False], word[:-1]))
    next_word = np.concatenate((word[1:], [False]))
    starts = np.flatnonzero(single | (word & ~prev_word))
    ends = np.flatnonzero(single | (word & ~next_word)) + 1
    up, down = _POWERS.get(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(codes.astype(np.uint64) * up[:n], out=prefix[1:])
    tok = _fmix64_array((prefix[ends] - prefix[starts]) * down[starts])

    # Which part and which trace each token is in: separators before its start.
    part_of = np.searchsorted(np.flatnonzero(cls == _BOUNDARY), starts)
    doc_of = np.searchsorted(np.flatnonzero(codes == ord(DOC_SEP)), starts)
    t = len(tok)
    # Position of each token in its part, and the part's token count.
    new_part = np.ones(t, dtype=bool)
    if t:
        new_part[1:] = part_of[1:] != part_of[:-1]
    part_start = np.flatnonzero(new_part)
    part_len = np.diff(np.append(part_start, t))
    pos = np.arange(t) - np.repeat(part_start, part_len)
    length = np.repeat(part_len, part_len)
    zero = np.zeros(2, dtype=np.uint64)
    padded = np.concatenate((tok, zero))
    second = np.where(pos + 1 < length, padded[1 : t + 1], np.uint64(0))
    third = np.where(pos + 2 < length, padded[2 : t + 2], np.uint64(0))
    combined = tok * np.uint64(_A[0]) + second * np.uint64(_A[1]) + third * np.uint64(_A[2])
    keep = (pos + NGRAM <= length) | ((pos == 0) & (length < NGRAM))
    fingerprints = _fmix64_array(combined[keep])
    owners = doc_of[keep]
    offsets = np.searchsorted(owners, np.arange(len(docs) + 1), side="left").astype(np.int64)
    return Batch(fingerprints, offsets)


def signatures(batch: Batch) -> U32:
    """The MinHash signature (NUM_PERM uint32) of each trace of the batch, shape (n, 128).
    A trace without shingles gets all ones (0xFFFFFFFF), as an empty datasketch MinHash."""
    import numpy as np

    a, b = permutations()
    n = len(batch.offsets) - 1
    out = np.full((NUM_PERM, n), _MASK32, dtype=np.uint32)
    counts = batch.counts()
    have = np.flatnonzero(counts > 0)
    if len(have):
        x = _fmix32_array((batch.fingerprints >> np.uint64(32)).astype(np.uint32))
        starts = batch.offsets[have]
        chunk = 1 << 15  # shingles per pass: the temporary stays in cache
        tmp = np.empty(min(chunk, len(x)), dtype=np.uint32)
        if len(x) <= chunk:
            for j in range(NUM_PERM):
                np.multiply(x, a[j], out=tmp)
                tmp += b[j]
                out[j, have] = np.minimum.reduceat(tmp, starts)
        else:
            _signatures_chunked(x, batch.offsets, have, out, tmp, chunk)
    return np.ascontiguousarray(out.T)


def _signatures_chunked(x: U32, offsets: I64, have: I64, out: U32, tmp: U32, chunk: int) -> None:
    """Large batches: whole traces per pass, so a trace's minimum is taken in one pass
    (a single trace longer than `chunk` is a pass of its own)."""
    import numpy as np

    a, b = permutations()
    k = 0
    while k < len(have):
        first = offsets[have[k]]
        stop = k + 1
        while stop < len(have) and offsets[have[stop] + 1] - first <= chunk:
            stop += 1
        docs = have[k:stop]
        last = offsets[docs[-1] + 1]
        part = x[first:last]
        buf = tmp[: len(part)] if len(part) <= len(tmp) else np.empty(len(part), np.uint32)
        starts = offsets[docs] - first
        for j in range(NUM_PERM):
            np.multiply(part, a[j], out=buf)
            buf += b[j]
            out[j, docs] = np.minimum.reduceat(buf, starts)
        k = stop


def sketch(docs: Sequence[Sequence[str]]) -> tuple[Batch, U32]:
    """Fingerprints and signatures of a batch of traces (their folded parts)."""
    batch = fingerprint_batch(docs)
    return batch, signatures(batch)


def sorted_jaccard(a: U64, b: U64) -> float:
    """Jaccard similarity of two sorted arrays of distinct fingerprints."""
    import numpy as np

    if not len(a) or not len(b):
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    idx = np.searchsorted(b, a)
    idx[idx == len(b)] = 0
    inter = int(np.count_nonzero(b[idx] == a))
    return inter / (len(a) + len(b) - inter)


# --- LSH ------------------------------------------------------------------------------------


def s_curve(s: float, bands: int, rows: int) -> float:
    """Probability that a pair of Jaccard similarity s shares at least one band."""
    return 1.0 - (1.0 - s**rows) ** bands


def choose_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows): the longest rows whose S-curve reaches TARGET_RECALL at the threshold."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if s_curve(threshold, bands, rows) >= TARGET_RECALL:
            best = (bands, rows)
    return best


def curve_table(bands: int, rows: int, points: Sequence[float]) -> str:
    """`s 0.5: 0.28, ...`: the S-curve at some similarities, for help texts."""
    return ", ".join(f"{s:.2f}: {s_curve(s, bands, rows):.3f}" for s in points)


def band_keys(sigs: U32, bands: int, rows: int) -> U64:
    """One 64-bit key per band per trace, shape (n, bands)."""
    import numpy as np

    n = sigs.shape[0]
    keys = np.empty((n, bands), dtype=np.uint64)
    wide = sigs.astype(np.uint64)
    for band in range(bands):
        h = np.full(n, band + 1, dtype=np.uint64)
        for col in range(band * rows, (band + 1) * rows):
            h = (h ^ wide[:, col]) * np.uint64(_BAND_MIX)
        keys[:, band] = _fmix64_array(h)
    return keys


SMALL_BUCKET = 64  # larger buckets are walked pair by pair, skipping joined members


@dataclass(frozen=True)
class Candidates:
    """Pairs (i < j, sorted) sharing a band, and the members of buckets too large to list
    every pair of (each sorted)."""

    pairs: I64  # shape (k, 2)
    big: list[I64]


def candidates(keys: U64, active: I64 | None = None) -> Candidates:
    """Candidate pairs of traces that share at least one band key. `active` limits the
    traces considered (indices into `keys`), e.g. to those with shingles."""
    import numpy as np

    n = keys.shape[0]
    index = np.arange(n, dtype=np.int64) if active is None else active.astype(np.int64)
    encoded: list[I64] = []
    big: list[I64] = []
    for band in range(keys.shape[1]):
        column = keys[index, band]
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        if len(ordered) < 2:
            continue
        same = ordered[1:] == ordered[:-1]
        if not same.any():
            continue
        edges = np.flatnonzero(np.diff(np.concatenate(([False], same, [False])).astype(np.int8)))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            members = np.sort(index[order[start : stop + 1]])
            m = len(members)
            if m == 2:
                encoded.append(members[:1] * n + members[1:])
            elif m <= SMALL_BUCKET:
                i, j = np.triu_indices(m, 1)
                encoded.append(members[i] * n + members[j])
            else:
                big.append(members)
    if encoded:
        flat = np.unique(np.concatenate(encoded))
        pairs = np.stack((flat // n, flat % n), axis=1)
    else:
        pairs = np.zeros((0, 2), dtype=np.int64)
    return Candidates(pairs, big)


# --- clustering -----------------------------------------------------------------------------


class UnionFind:
    """Disjoint sets over 0..n-1 (path halving, union by size)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        """Join the sets of a and b; False when they were one set already."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return True

    def groups(self) -> list[list[int]]:
        """Sets of more than one member, each sorted, ordered by their first member."""
        out: dict[int, list[int]] = {}
        parent, size = self.parent, self.size
        for x in [x for x in range(len(parent)) if parent[x] != x or size[x] > 1]:
            out.setdefault(self.find(x), []).append(x)
        return sorted((g for g in out.values() if len(g) > 1), key=lambda g: g[0])


def join_similar(
    n: int,
    found: Candidates,
    similarity: Callable[[int, int], float],
    threshold: float,
    uf: UnionFind | None = None,
) -> tuple[UnionFind, list[tuple[int, int, float]]]:
    """Union every candidate pair whose exact similarity reaches the threshold. Pairs already
    in one set are skipped (it cannot change the sets). Returns the sets and the edges that
    joined two sets (with their similarity): the ones `confirm` checks again."""
    uf = uf or UnionFind(n)
    edges: list[tuple[int, int, float]] = []

    def consider(i: int, j: int) -> None:
        if uf.find(i) == uf.find(j):
            return
        sim = similarity(i, j)
        if sim >= threshold:
            uf.union(i, j)
            edges.append((i, j, sim))

    for i, j in found.pairs.tolist():
        consider(i, j)
    for members in found.big:
        ms = members.tolist()
        for x, i in enumerate(ms):
            for j in ms[x + 1 :]:
                consider(i, j)
    return uf, edges


def confirm(
    members: Sequence[int],
    edges: Sequence[tuple[int, int]],
    exact: Callable[[int, int], float],
    threshold: float,
) -> list[list[int]]:
    """A cluster checked again on exact shingle strings: if every edge that built it holds,
    it stands; otherwise (only a 64-bit fingerprint collision could cause that) it is rebuilt
    from every pair of its members. Returns the resulting clusters of two or more."""
    if all(exact(i, j) >= threshold for i, j in edges):
        return [sorted(members)]
    ordered = sorted(members)
    local = {m: k for k, m in enumerate(ordered)}
    uf = UnionFind(len(ordered))
    for x, i in enumerate(ordered):
        for j in ordered[x + 1 :]:
            if uf.find(local[i]) != uf.find(local[j]) and exact(i, j) >= threshold:
                uf.union(local[i], local[j])
    return [[ordered[k] for k in g] for g in uf.groups()]


# --- keeper rule ----------------------------------------------------------------------------

KeepRule = Literal["oldest", "newest", "best-score"]
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Member:
    """A trace in a cluster, with what the keeper rule looks at."""

    id: uuid.UUID
    created_at: datetime
    score: float | None = None


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def rank_key(rule: KeepRule) -> Callable[[Member], tuple[Any, ...]]:
    """Sort key: the keeper sorts first. Ties by id (smallest first); for best-score a trace
    without that score comes after every scored one."""
    if rule == "oldest":
        return lambda m: (_micros(m.created_at), str(m.id))
    if rule == "newest":
        return lambda m: (-_micros(m.created_at), str(m.id))

    def by_score(m: Member) -> tuple[Any, ...]:
        missing = m.score is None or math.isnan(m.score)
        return (missing, 0.0 if missing else -(m.score or 0.0), str(m.id))

    return by_score


def ranked(members: Iterable[Member], rule: KeepRule) -> list[Member]:
    """Members in keeper order: the keeper first."""
    return sorted(members, key=rank_key(rule))


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
