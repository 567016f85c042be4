"""Writing a store's temporary file: SIGTERM/SIGINT handling and write errors.

The rules for temporary files themselves (names, exclusive publishing, stale leftovers of
killed processes) are in :mod:`madsbi._tempfiles`, shared with checkpoints; they are
re-exported here. SIGTERM and SIGINT while a temporary is open stop the write within one
chunk (:class:`TerminationGuard`): the temporary is removed and the process exits with status
143 or 130 and a message. A failed write becomes an :class:`~madsbi.errors.OutputError` that
names the output and the errno (:func:`write_error`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from madsbi._tempfiles import pid_alive, publish, remove_stale_temporaries, temporary_path
from madsbi.errors import OutputError

__all__ = [
    "Interrupted",
    "Terminated",
    "TerminationGuard",
    "exit_status_on_signal",
    "pid_alive",
    "publish",
    "remove_stale_temporaries",
    "temporary_path",
    "write_error",
]

#: HDF5 puts the errno of a failed system call into its message, not always into OSError.errno.
_ERRNO = re.compile(r"errno = (\d+)")


def _errno_of(exc: BaseException) -> int | None:
    """The errno of a failed write: OSError.errno, else the one in HDF5's message."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        return code
    match = _ERRNO.search(str(exc))
    return int(match.group(1)) if match else None


def write_error(path: Path, exc: BaseException) -> OutputError:
    """An :class:`OutputError` for a failed write of ``path``, with ``errno`` set if known."""
    code = _errno_of(exc)
    if code is None:
        detail = str(exc).split("\n")[0][:300]
    else:
        name = errno.errorcode.get(code, "?")
        detail = f"{os.strerror(code)} (errno {code} {name})"
    error = OutputError(
        f"{path}: cannot write the store: {detail}; the unfinished temporary file was removed "
        "and nothing was written under this name (free disk space, or write elsewhere)"
    )
    error.errno = code
    return error


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
