"""Output directories of the study commands: created with typed errors, locked while in use.

A study writes checkpoints, stores and figures into its output directory and resumes from
them when run again. Two runs writing into the same directory at the same time would
interleave their files, so :func:`locked_output_dir` holds an exclusive lock
(:func:`fcntl.flock` on ``DIR/.madsbi.lock``) for the whole run: a second run is refused at
once with :class:`~madsbi.errors.OutputError`, and the lock is released by the kernel when
the holder exits, however it exits (a stale lock file never blocks anything).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from madsbi.errors import OutputError

LOCK_NAME = ".madsbi.lock"


def prepare_output_dir(path: Path, option: str = "--out") -> Path:
    """Create ``path`` (and its parents) as a directory, with errors that name it.

    Raises
    ------
    OutputError
        If ``path`` or one of its parents exists and is not a directory, or the directory
        cannot be created (permissions, read-only file system).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(
            f"{option} {path}: cannot create the output directory: a parent is a file"
        ) from None
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: cannot create the output directory: {exc.strerror or exc}"
        ) from None
    return path


@contextlib.contextmanager
def locked_output_dir(path: Path, option: str = "--out") -> Iterator[Path]:
    """Create ``path`` (:func:`prepare_output_dir`) and hold its exclusive lock while inside.

    Raises
    ------
    OutputError
        If the directory cannot be created or written, or another process holds its lock
        (the message gives that process's id as recorded in the lock file).
    """
    path = prepare_output_dir(path, option)
    lock = path / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: the output directory is not writable: {exc.strerror or exc}"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise OutputError(
                f"{option} {path}: another madsbi run (process {holder}) is writing into this "
                "directory; wait for it to finish or choose another output directory"
            ) from None
        except OSError as exc:  # a file system without locks
            raise OutputError(
                f"{option} {path}: cannot lock {lock.name} ({exc.strerror or exc}); choose an "
                "output directory on a local file system"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
