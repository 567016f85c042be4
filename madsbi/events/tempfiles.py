"""Temporary files beside their targets: names, exclusive publishing, stale leftovers, SIGTERM.

Every file madsbi writes atomically is first written as a hidden temporary beside its target,
``.NAME.tmp-HOST-PID-HEX``, and then published:

* without overwrite, by a hard link (``os.link`` fails if the target exists), so of two
  processes racing to the same new path exactly one wins and the other gets a
  :class:`~madsbi.errors.StoreExistsError` instead of silently replacing the first result;
* with overwrite, by ``os.replace``.

A process killed with SIGKILL cannot clean up; the next writer into the same directory removes
temporaries whose process is gone (same host, PID no longer alive). Temporaries of live
processes and of other hosts (a shared file system) are kept. SIGTERM and SIGINT while a
temporary is open stop the write within one chunk (:class:`TerminationGuard`): the temporary
is removed and the process exits with status 143 or 130 and a message.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from madsbi.errors import StoreExistsError

#: ``.NAME.tmp-[HOST-]PID[-HEX]``: HOST is absent in names of older madsbi versions, HEX in
#: those of the first plugin versions.
_PATTERN = re.compile(
    r"^\.(?P<name>.+)\.tmp-(?:(?P<host>[A-Za-z0-9._]+)-)?(?P<pid>\d+)(?:-(?P<hex>[0-9a-f]{8}))?$"
)


def _host() -> str:
    """The machine name with every character outside [A-Za-z0-9.] replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "localhost"


def temporary_path(target: str | Path) -> Path:
    """A hidden, unique temporary name beside ``target`` (keeps its suffixes, e.g. ``.lhe.gz``)."""
    path = Path(target)
    return path.with_name(f".{path.name}.tmp-{_host()}-{os.getpid()}-{secrets.token_hex(4)}")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (of any user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _is_stale(match: re.Match[str]) -> bool:
    host = match.group("host")
    if host is None and match.group("hex") is None and not match.group("name").endswith(".h5"):
        # ".NAME.tmp-DIGITS" is the first plugin's store name only; elsewhere the digits may
        # be another tool's random token, not a PID.
        return False
    if host is not None and host != _host():
        return False  # another machine's process: its PID means nothing here
    return not pid_alive(int(match.group("pid")))


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Remove madsbi temporaries in ``directory`` whose writing process is gone.

    Parameters
    ----------
    directory : str or Path
        The directory a new file is about to be written to.

    Returns
    -------
    list of Path
        The files removed (temporaries of this host whose PID is not alive).
    """
    folder = Path(directory)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _PATTERN.match(entry.name)
        if match is None or not entry.is_file() or not _is_stale(match):
            continue
        try:
            entry.unlink()
        except FileNotFoundError:
            continue  # another process removed it first
        except OSError:
            continue  # not ours to remove (permissions): leave it
        removed.append(entry)
    return removed


def publish(tmp: Path, target: Path, *, overwrite: bool) -> None:
    """Move a finished temporary to its target; without ``overwrite`` never replace a file.

    Raises
    ------
    StoreExistsError
        Without ``overwrite``, if ``target`` exists (e.g. written by another process since
        this one started); the temporary is removed and ``target`` is left as it was.
    """
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise StoreExistsError(
            f"{target} appeared while this run was writing it (another process wrote it "
            "first); its file was kept and this run's result discarded; pass overwrite=True "
            "(CLI: --overwrite) to replace it"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links: check, then rename (not safe against a race).
        if target.exists():
            tmp.unlink(missing_ok=True)
            raise StoreExistsError(
                f"{target} appeared while this run was writing it; its file was kept"
            ) from None
        os.replace(tmp, target)
        return
    tmp.unlink(missing_ok=True)


class Terminated(SystemExit):
    """Raised on SIGTERM while a temporary file is open (exit status 143)."""


class Interrupted(KeyboardInterrupt):
    """Raised on SIGINT while a temporary file is open (Ctrl-C, as Python callers expect it).

    Command-line entry points turn it into exit status 130 (:func:`exit_status_on_signal`).
    """

    code = 128 + signal.SIGINT


def _exception(signum: int) -> BaseException:
    if signum == signal.SIGINT:
        return Interrupted()
    return Terminated(128 + signum)


class _State:
    """What all active guards of this process share: one handler per signal."""

    def __init__(self) -> None:
        self.guards: list[TerminationGuard] = []
        self.previous: dict[int, Any] = {}
        self.holds = 0
        self.pending: int | None = None


_STATE = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    first = _STATE.pending is None
    _STATE.pending = signum
    if first:
        what = ", ".join(guard.what for guard in _STATE.guards) or "a file"
        sys.stderr.write(
            f"madsbi: received {signal.Signals(signum).name} while writing {what}; stopping "
            "and removing the unfinished temporary file\n"
        )
        if _STATE.holds:
            # Inside a write: raising here could land in a weakref callback or __del__ of
            # h5py, where Python prints and drops it; the writer raises at its next check,
            # after the current chunk.
            return
    for guard in _STATE.guards:
        if guard.temporary is not None:
            guard.temporary.unlink(missing_ok=True)
    raise _exception(signum)


class TerminationGuard:
    """While active, SIGTERM and SIGINT stop the write and the temporary file is removed.

    A signal that arrives while the writer holds the guard (:meth:`hold`, e.g. during a
    chunk's HDF5 writes or a whole ``with StoreWriter(...)`` block) is only recorded: the
    exception raised by a signal handler may land in a weakref callback or ``__del__`` inside
    h5py, where Python prints and drops it, and the write would go on into the removed
    temporary. The writer calls :meth:`check` at every chunk, which raises
    :class:`Terminated` (SIGTERM, exit status 143) or :class:`Interrupted` (SIGINT, a
    KeyboardInterrupt; exit status 130 from the CLI), so the write stops within one chunk
    and ``except``/``finally`` clean up. Outside such a region, and at a second signal, the
    handler removes the temporary and raises at once.

    Installed only in the main thread and only for a signal with its default action
    (SIG_DFL for SIGTERM, Python's KeyboardInterrupt for SIGINT): a host application such as
    MadGraph with its own handler keeps it. Guards nest; the handlers are restored when the
    last one stops.

    Parameters
    ----------
    what : str
        What is being written, for the message on stderr.
    temporary : Path, optional
        Removed by the handler itself when it raises, so it goes even if the exception is
        not unwound through the writer (e.g. a writer used without ``with``).
    """

    def __init__(self, what: str, temporary: Path | None = None) -> None:
        self.what = what
        self.temporary = temporary
        self._active = False
        self._holds = 0

    def start(self) -> None:
        """Install the handlers (if allowed, see the class docstring)."""
        if self._active or threading.current_thread() is not threading.main_thread():
            return
        if not _STATE.guards:
            _STATE.pending = None
            defaults = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}
            for signum, default in defaults.items():
                if signal.getsignal(signum) is default:
                    _STATE.previous[signum] = signal.signal(signum, _handler)
        _STATE.guards.append(self)
        self._active = True

    def hold(self) -> None:
        """Defer signals to the next :meth:`check` (until the matching :meth:`release`)."""
        if self._active:
            self._holds += 1
            _STATE.holds += 1

    def release(self) -> None:
        """End one :meth:`hold`."""
        if self._active and self._holds:
            self._holds -= 1
            _STATE.holds -= 1

    def check(self) -> None:
        """Raise :class:`Terminated` or :class:`Interrupted` if a signal came meanwhile."""
        if self._active and _STATE.pending is not None:
            signum, _STATE.pending = _STATE.pending, None
            raise _exception(signum)

    def stop(self) -> None:
        """Restore the previous handlers once no guard is active."""
        if not self._active:
            return
        self._active = False
        _STATE.holds -= self._holds
        self._holds = 0
        _STATE.guards.remove(self)
        if not _STATE.guards:
            for signum, previous in _STATE.previous.items():
                signal.signal(signum, previous)
            _STATE.previous.clear()
            _STATE.pending = None
            _STATE.holds = 0


@contextlib.contextmanager
def exit_status_on_signal() -> Iterator[None]:
    """For command-line commands: a write stopped by SIGINT exits with status 130.

    (SIGTERM's :class:`Terminated` already is a ``SystemExit(143)``; click would turn a
    KeyboardInterrupt into "Aborted!" and status 1.)
    """
    try:
        yield
    except Interrupted as exc:
        raise SystemExit(exc.code) from None
