"""Reward functions: load `module:function`, build Tunix's inputs, call in batches, check.

Pure (no database, no terminal). A reward function has the signature of Tunix's GRPO reward
functions, `fn(prompts, completions, answer, **kwargs) -> list[float]`, one score per item.
Its inputs are built from each trace exactly as the `tunix-grpo` export builds its columns:

- `prompts`: the prompt in a Gemma user turn followed by the open model turn
  (`<start_of_turn>user\\nPROMPT<end_of_turn>\\n<start_of_turn>model`);
- `completions`: `<reasoning>STEPS</reasoning><answer>ANSWER</answer>`, the steps in
  ascending `i`, one per line;
- `answer`: the final answer (a string);
- keyword arguments, as Tunix passes a dataset's other columns: `question` (the prompt
  text), `trace_id` (the id as text) and `meta` (the trace's meta, a dict, or None).

Per step (`per_step=True`) there is one item per step instead: the same `prompts`, `answer`
and `question`, `completions` = the step's content, and also `step` (its `i`) and
`previous_steps` (the contents before it, a list of strings). A function may return a list,
a tuple or a NumPy array of real numbers; NaN, infinities, booleans and None are refused.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import math
import numbers
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunix_rt.errors import TunixRtError
from tunix_rt.formats import tunix_grpo
from tunix_rt.formats._text import Options, Parsed

RewardFn = Callable[..., Any]
DEFAULT_BATCH = 64
MAX_BATCH = 100_000
_MESSAGE_CHARS = 200


class RewardError(TunixRtError):
    """A reward function cannot be loaded, raised, or returned something unusable."""


@dataclass(frozen=True)
class Reward:
    """A loaded reward function and how the user named it (`spec`, e.g. `rewards.py:fn`)."""

    spec: str
    fn: RewardFn
    name: str  # the function's own name: the default score name


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    if len(message) > _MESSAGE_CHARS:
        message = message[: _MESSAGE_CHARS - 3] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _import_file(spec: str, path: Path) -> Any:
    if path.is_dir():
        raise RewardError(f"--with {spec}: {str(path)!r} is a folder, not a Python file")
    if not path.exists():
        raise RewardError(f"--with {spec}: no such file {str(path)!r}")
    if not path.is_file():
        raise RewardError(f"--with {spec}: {str(path)!r} is not a regular file")
    module_name = f"tunix_rt_reward_{abs(hash(str(path.resolve())))}"
    found = importlib.util.spec_from_file_location(module_name, path)
    if found is None or found.loader is None:
        raise RewardError(f"--with {spec}: {str(path)!r} cannot be imported as Python")
    module = importlib.util.module_from_spec(found)
    sys.modules[module_name] = module
    try:
        found.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(module_name, None)
        raise RewardError(f"--with {spec}: importing {path} failed: {_first_line(exc)}") from None
    return module


def _import_module(spec: str, dotted: str) -> Any:
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)  # importable from the current directory, as `python -m`
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (dotted == exc.name or dotted.startswith(exc.name + ".")):
            raise RewardError(
                f"--with {spec}: no module named {exc.name!r} in the current directory or on "
                "PYTHONPATH (a file works too: --with path/to/rewards.py:fn)"
            ) from None
        raise RewardError(f"--with {spec}: importing {dotted} failed: {_first_line(exc)}") from None
    except (Exception, SystemExit) as exc:
        raise RewardError(f"--with {spec}: importing {dotted} failed: {_first_line(exc)}") from None


def load(spec: str) -> Reward:
    """The function named by `MODULE:FUNCTION`, MODULE a dotted module importable from the
    current directory or PYTHONPATH, or a path to a `.py` file; FUNCTION may be dotted. The
    import runs as the calls do (`_guarded`): its print goes to stderr."""
    with _guarded():
        return _load(spec)


def _load(spec: str) -> Reward:
    where, colon, attr = spec.rpartition(":")
    if not colon or not where or not attr:
        raise RewardError(
            f"--with {spec}: use baseline, MODULE:FUNCTION or path/to/file.py:FUNCTION"
        )
    if where.endswith(".py") or "/" in where or os.sep in where:
        target = _import_file(spec, Path(where).expanduser())
    else:
        target = _import_module(spec, where)
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise RewardError(f"--with {spec}: {where} has no {attr!r}") from None
        except Exception as exc:
            raise RewardError(f"--with {spec}: reading {attr} failed: {_first_line(exc)}") from None
    if not callable(target):
        raise RewardError(f"--with {spec}: {attr} is a {type(target).__name__}, not a function")
    return Reward(spec, target, attr.rsplit(".", 1)[-1])


@dataclass
class Batch:
    """The items of one call: Tunix's three arguments, the keyword columns, and which trace
    (and step) each item is."""

    prompts: list[str] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)
    kwargs: dict[str, list[Any]] = field(default_factory=dict)
    items: list[tuple[str, int]] = field(default_factory=list)  # (trace id, step i or -1)

    def __len__(self) -> int:
        return len(self.items)

    def _kw(self, key: str, value: Any) -> None:
        self.kwargs.setdefault(key, []).append(value)

    def add(self, t: Parsed, *, per_step: bool) -> None:
        """The trace `t` as one item, or as one item per step."""
        row = tunix_grpo.record(t, Options())
        if not per_step:
            self.prompts.append(row["prompts"])
            self.completions.append(row["completion"])
            self.answer.append(row["answer"])
            self._kw("question", row["question"])
            self._kw("trace_id", t.id)
            self._kw("meta", t.meta)
            self.items.append((t.id, -1))
            return
        for k, step in enumerate(t.steps):
            self.prompts.append(row["prompts"])
            self.completions.append(t.contents[k])
            self.answer.append(row["answer"])
            self._kw("question", row["question"])
            self._kw("trace_id", t.id)
            self._kw("meta", t.meta)
            self._kw("step", step["i"])
            self._kw("previous_steps", t.contents[:k])
            self.items.append((t.id, step["i"]))

    def one(self, k: int) -> Batch:
        """Item `k` alone (to find the item a failing batch failed on)."""
        return Batch(
            [self.prompts[k]],
            [self.completions[k]],
            [self.answer[k]],
            {key: [values[k]] for key, values in self.kwargs.items()},
            [self.items[k]],
        )


def _item(item: tuple[str, int]) -> str:
    ident, step = item
    return f"trace {ident}" if step < 0 else f"trace {ident} step {step}"


class _ToStderr(io.TextIOBase):
    """Where a reward function's `print` goes while it runs: stderr (stdout carries the
    command's results, `--json` among them), and closing it closes nothing."""

    def write(self, text: str) -> int:
        stream = sys.__stderr__
        if stream is not None and not stream.closed:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        stream = sys.__stderr__
        if stream is not None and not stream.closed:
            stream.flush()

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _guarded() -> Iterator[None]:
    """Run the user's code with its print going to stderr; `sys.path` (beyond what it
    added) and `sys.stdout` are put back afterwards, whatever it did to them."""
    path, stdout = list(sys.path), sys.stdout
    try:
        with contextlib.redirect_stdout(_ToStderr()):
            yield
    finally:
        sys.path[:] = [*path, *(p for p in sys.path if p not in path)]
        sys.stdout = stdout


def _invoke(reward: Reward, batch: Batch) -> Any:
    """Call the function (`_guarded`)."""
    with _guarded():
        return reward.fn(batch.prompts, batch.completions, batch.answer, **batch.kwargs)


def _raised(reward: Reward, batch: Batch, exc: BaseException) -> RewardError:
    """The error for a call that raised, naming the first item that raises on its own."""
    culprit, cause = batch.items[0], exc
    if len(batch) > 1:
        for k in range(len(batch)):
            try:
                _invoke(reward, batch.one(k))
            except KeyboardInterrupt:
                raise
            except BaseException as alone:
                culprit, cause = batch.items[k], alone
                break
    return RewardError(
        f"reward function {reward.spec} raised {_first_line(cause)} on {_item(culprit)}"
    )


def _values(reward: Reward, batch: Batch, out: Any) -> list[float]:
    size = len(batch)
    shape = getattr(out, "shape", None)
    if isinstance(out, (str, bytes, Mapping)) or (shape is not None and len(shape) != 1):
        raise RewardError(
            f"reward function {reward.spec} returned a {_kind(out)}, not a list of {size} "
            f"numbers (batch starting at {_item(batch.items[0])})"
        )
    try:
        values: Sequence[Any] = list(out)
    except Exception:
        raise RewardError(
            f"reward function {reward.spec} returned a {type(out).__name__}, not a list of "
            f"{size} numbers (batch starting at {_item(batch.items[0])})"
        ) from None
    if len(values) != size:
        raise RewardError(
            f"reward function {reward.spec} returned {len(values)} scores for {size} "
            f"{'items' if size != 1 else 'item'} (batch starting at {_item(batch.items[0])})"
        )
    floats: list[float] = []
    for k, value in enumerate(values):
        number = value
        if hasattr(value, "item") and not isinstance(value, (bool, numbers.Real)):
            try:  # a NumPy scalar or 0-d array
                number = value.item()
            except Exception:
                number = value
        if isinstance(number, bool) or not isinstance(number, numbers.Real):
            raise RewardError(
                f"reward function {reward.spec} returned {_shown(value)} for "
                f"{_item(batch.items[k])}: scores must be numbers"
            )
        try:
            result = float(number)
        except (OverflowError, ValueError, TypeError):
            result = math.inf
        if not math.isfinite(result):
            raise RewardError(
                f"reward function {reward.spec} returned {_shown(value)} for "
                f"{_item(batch.items[k])}: scores must be finite numbers"
            )
        floats.append(result + 0.0)  # -0.0 as 0.0, the same on both databases
    return floats


def _kind(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)}"
    return type(value).__name__


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def call(reward: Reward, batch: Batch) -> list[float]:
    """The reward function's scores for the batch's items, checked; RewardError names the
    function and the first failing trace."""
    try:
        out = _invoke(reward, batch)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit and the like: the user's code, not ours
        raise _raised(reward, batch, exc) from None
    return _values(reward, batch, out)
