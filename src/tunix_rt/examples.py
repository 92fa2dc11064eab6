# ruff: noqa: RUF001 - the traces use the multiplication sign (U+00D7) on purpose
"""Example traces: the original service's "Load Example" trace and a generator of varied ones.

Pure data, no I/O: `tunix-rt trace example` prints these, tests and benchmarks use them.

`example_trace()` is the trace the original tunix-rt web service filled in for a new user
(68 °F to Celsius, five steps). `example_traces(n)` yields n varied, valid, deterministic
traces: seven task families (temperature both ways, multiplication, percentages, string
reversal, averages, unit prices) with 3 to 5 steps each and correct arithmetic. Trace k of
the stream is family `k % 7` with parameter `k // 7`, and each family's prompt is an injective
function of its parameter, so no two traces share a prompt and none repeats the single example
(its 68 °F prompt is outside the Fahrenheit family's range). The same n always gives the same
traces, and the first n of a longer stream are the stream of n.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

TRACE_VERSION = "1.0"
MAX_EXAMPLES = 1_000_000

Steps = list[tuple[str, str]]
Task = tuple[str, str, Steps, list[str]]  # prompt, final answer, (type, content) steps, tags


def example_trace() -> dict[str, Any]:
    """The original service's example trace (a new dict on every call)."""
    return {
        "trace_version": TRACE_VERSION,
        "prompt": "Convert 68°F to Celsius",
        "final_answer": "20°C",
        "steps": [
            {"i": 0, "type": "parse", "content": "The input is 68°F; the answer is wanted in °C."},
            {"i": 1, "type": "formula", "content": "Celsius = (Fahrenheit - 32) × 5/9"},
            {"i": 2, "type": "compute", "content": "68 - 32 = 36"},
            {"i": 3, "type": "compute", "content": "36 × 5/9 = 180/9 = 20"},
            {"i": 4, "type": "result", "content": "68°F is 20°C."},
        ],
        "meta": {
            "source": "example",
            "tags": ["temperature", "conversion", "fahrenheit", "celsius"],
        },
    }


def _fahrenheit_to_celsius(k: int) -> Task:
    j = k + 5  # F = 32 + 9j has a whole Celsius value 5j; j >= 5 keeps clear of 68 °F (j = 4)
    f, diff, c = 32 + 9 * j, 9 * j, 5 * j
    steps = [
        ("parse", f"The input is {f}°F; the answer is wanted in °C."),
        ("formula", "Celsius = (Fahrenheit - 32) × 5/9"),
        ("compute", f"{f} - 32 = {diff}"),
        ("compute", f"{diff} × 5/9 = {diff * 5}/9 = {c}"),
        ("result", f"{f}°F is {c}°C."),
    ]
    return f"Convert {f}°F to Celsius", f"{c}°C", steps, ["temperature", "conversion"]


def _celsius_to_fahrenheit(k: int) -> Task:
    c = 5 * k - 40  # multiples of 5 from -40 °C: whole Fahrenheit values
    scaled, f = 9 * k - 72, 9 * k - 40
    steps = [
        ("parse", f"The input is {c}°C; the answer is wanted in °F."),
        ("formula", "Fahrenheit = Celsius × 9/5 + 32"),
        ("compute", f"{c} × 9/5 = {scaled}"),
        ("compute", f"{scaled} + 32 = {f}"),
        ("result", f"{c}°C is {f}°F."),
    ]
    return f"Convert {c}°C to Fahrenheit", f"{f}°F", steps, ["temperature", "conversion"]


def _multiplication(k: int) -> Task:
    a = 12 + k
    b = 3 + (k * 7) % 17
    tens, ones = a - a % 10, a % 10
    steps = [
        ("parse", f"Multiply {a} by {b}."),
        ("decompose", f"{a} = {tens} + {ones}, so {a} × {b} = {tens} × {b} + {ones} × {b}"),
        ("compute", f"{tens} × {b} = {tens * b} and {ones} × {b} = {ones * b}"),
        ("compute", f"{tens * b} + {ones * b} = {a * b}"),
    ]
    return f"What is {a} × {b}?", str(a * b), steps, ["math", "multiplication"]


_PERCENTS = (5, 10, 15, 20, 25, 30, 40, 50, 75)


def _percentage(k: int) -> Task:
    x = 40 + 20 * k
    p = _PERCENTS[k % len(_PERCENTS)]
    product = x * p
    steps = [
        ("parse", f"Find {p}% of {x}."),
        ("formula", f"{p}% of {x} = {x} × {p} / 100"),
        ("compute", f"{x} × {p} = {product}"),
        ("compute", f"{product} / 100 = {product // 100}"),
        ("result", f"{p}% of {x} is {product // 100}."),
    ]
    return f"What is {p}% of {x}?", str(product // 100), steps, ["math", "percentage"]


_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwxyz" for v in "aeiou"]  # 100 of them


def _word(k: int) -> str:
    """The k-th word of two or more syllables ("baba", "babe", ...): distinct for distinct k.

    Bijective base-100 numeration over the syllables, skipping the one-syllable words.
    """
    n = k + len(_SYLLABLES)
    word = ""
    while n >= 0:
        word = _SYLLABLES[n % len(_SYLLABLES)] + word
        n = n // len(_SYLLABLES) - 1
    return word


def _reversal(k: int) -> Task:
    word = _word(k)
    backwards = word[::-1]
    steps = [
        ("parse", f"The string '{word}' has {len(word)} characters: {', '.join(word)}."),
        ("compute", f"Read from the last to the first: {', '.join(backwards)}."),
        ("result", f"Joined: '{backwards}'."),
    ]
    return f"Reverse the string '{word}'.", backwards, steps, ["strings", "reversal"]


def _average(k: int) -> Task:
    a = 10 + k
    d = 1 + k % 9
    b, c = a + d, a + 2 * d
    total = a + b + c
    steps = [
        ("parse", f"Three numbers: {a}, {b} and {c}."),
        ("compute", f"{a} + {b} + {c} = {total}"),
        ("compute", f"{total} / 3 = {total // 3}"),
        ("result", f"The average is {total // 3}."),
    ]
    return (
        f"What is the average of {a}, {b} and {c}?",
        str(total // 3),
        steps,
        ["math", "average"],
    )


def _unit_price(k: int) -> Task:
    items = 2 + k % 9
    price = 2 + k // 9  # (items, price) differ for different k, and so do the prompts
    total = items * price
    steps = [
        ("setup", f"{items} items cost ${total} together; divide the total by the count."),
        ("compute", f"${total} / {items} = ${price}"),
        ("result", f"Each item costs ${price}."),
    ]
    return (
        f"If {items} items cost ${total}, what is the cost per item?",
        f"${price}",
        steps,
        ["math", "word-problem"],
    )


_FAMILIES: tuple[tuple[str, Callable[[int], Task]], ...] = (
    ("fahrenheit-to-celsius", _fahrenheit_to_celsius),
    ("multiplication", _multiplication),
    ("reversal", _reversal),
    ("celsius-to-fahrenheit", _celsius_to_fahrenheit),
    ("percentage", _percentage),
    ("average", _average),
    ("unit-price", _unit_price),
)


def generated_trace(index: int) -> dict[str, Any]:
    """Trace `index` (0-based) of the varied example stream."""
    family, make = _FAMILIES[index % len(_FAMILIES)]
    prompt, answer, steps, tags = make(index // len(_FAMILIES))
    return {
        "trace_version": TRACE_VERSION,
        "prompt": prompt,
        "final_answer": answer,
        "steps": [{"i": i, "type": kind, "content": text} for i, (kind, text) in enumerate(steps)],
        "meta": {"source": "example", "family": family, "index": index, "tags": tags},
    }


def example_traces(n: int) -> Iterator[dict[str, Any]]:
    """n varied, valid, distinct traces (1 <= n <= MAX_EXAMPLES), always the same ones."""
    if not 1 <= n <= MAX_EXAMPLES:
        raise ValueError(f"n must be 1..{MAX_EXAMPLES:,}, not {n}")
    return (generated_trace(index) for index in range(n))
