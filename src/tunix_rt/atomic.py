"""Files that appear complete or not at all.

`atomic_output(path, force=...)` writes to a hidden temporary file in the target's folder
(`.NAME.XXXXXXXX.tmp`, so the rename never crosses file systems), flushes it to disk and only
then renames it to `path`. Whatever stops the writing first (an error, Ctrl-C, SIGTERM, which
tunix-rt raises as a KeyboardInterrupt) removes the temporary file, so the target is never a
partial file; after SIGKILL or a power loss only the hidden temporary file can be left. An
existing target is refused before anything is written unless `force` is given; without it,
the final step links the file into place, so a file of that name created meanwhile is not
replaced either. A pipe or character device (`/dev/stdout`, `>(gzip > x.gz)`) is written
directly: it cannot be renamed into. A symbolic link is followed: the file it points to is
the one written (as a shell's `>` would), never the link replaced by a file.

Pure IO, no database, no terminal: shared by `trace export` and `dataset export`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tunix_rt.errors import OutputError

BUFFER = 1 << 20


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def check_target(path: str | Path, *, force: bool) -> bool:
    """Whether `path` may be written; raises OutputError saying why not.

    Returns True when `path` is a pipe or a character device (written directly), False
    for a regular file (written atomically).
    """
    shown = str(path)
    if not shown:
        raise OutputError("the output needs a file name (an empty one was given)")
    if shown.startswith(_STREAMS):
        return True  # an open descriptor (/dev/stderr, /dev/fd/3): written where it points
    try:
        info: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {_reason(exc)}") from None
    if info is None:
        folder = os.path.dirname(_resolved(os.fspath(path)))
        if not os.path.isdir(folder):
            raise OutputError(f"cannot write {shown}: folder {folder} does not exist")
        return False
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode):
        return True
    if stat.S_ISDIR(info.st_mode):
        raise OutputError(f"cannot write {shown}: it is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(f"cannot write {shown}: it is not a regular file, pipe or device")
    if not force:
        raise OutputError(f"{shown} already exists: add --force to replace it")
    return False


_STREAMS = ("/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/")


def _resolved(path: str) -> str:
    """`path` with its symbolic links followed (a dangling one: where it points), absolute."""
    return os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)


def _link_new(temp: str, final: str) -> None:
    """Rename `temp` to `final`, which must not exist (a hard link cannot replace a file)."""
    try:
        os.link(temp, final)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, "File exists", final) from None
        os.rename(temp, final)
    else:
        os.unlink(temp)


def _sync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | Path, *, force: bool = False) -> Iterator[BinaryIO]:
    """A binary handle whose bytes become `path` only if the block finishes (see above).

    The new file gets the permissions of a newly created file (0666 minus the umask), or
    those of the file it replaces.
    """
    given = os.fspath(path)
    if check_target(given, force=force):
        try:
            with open(given, "wb", buffering=BUFFER) as direct:
                yield direct
        except BrokenPipeError:
            raise  # the reader went away: the caller stops quietly
        except OSError as exc:
            raise OutputError(f"cannot write {given}: {_reason(exc)}") from None
        return
    target = _resolved(given)
    folder = os.path.dirname(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    name = os.path.basename(target)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{name[:100]}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {_reason(exc)}") from None
    done = False
    try:
        handle = os.fdopen(fd, "wb", buffering=BUFFER)
    except BaseException:
        os.close(fd)
        os.unlink(temp)
        raise
    try:
        with handle:
            os.fchmod(fd, mode)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            if force:
                os.replace(temp, target)
            else:
                _link_new(temp, target)
        except FileExistsError:
            raise OutputError(
                f"{target} was created by something else while this was written: "
                "add --force to replace it"
            ) from None
        done = True
        _sync_folder(folder)
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(temp)
