"""Temporary files beside their targets: names, exclusive publishing, stale leftovers.

Every file madsbi writes atomically is first written as a hidden temporary beside its target,
``.NAME.tmp-HOST-PID-HEX``, and then published:

* without overwrite, by a hard link (``os.link`` fails if the target exists), so of two
  processes racing to the same new path exactly one wins and the other gets a
  :class:`~madsbi.errors.StoreExistsError` instead of silently replacing the first result;
* with overwrite, by ``os.replace``.

A process killed with SIGKILL cannot clean up; the next writer into the same directory removes
temporaries whose process is gone (same host, PID no longer alive). Temporaries of live
processes and of other hosts (a shared file system) are kept. Event stores and checkpoints
(:mod:`madsbi._checkpoint`) share these rules; the signal handling of store writes is in
:mod:`madsbi.events.tempfiles`.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import socket
from pathlib import Path

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
