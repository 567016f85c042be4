"""Torch files written atomically and read weights-only, with typed errors naming the file.

Every checkpoint and saved model of madsbi holds tensors and plain containers (dicts, lists,
numbers, strings) only, so it is read with ``torch.load(weights_only=True)``: a file that
would import or call anything while unpickling is refused with :class:`CheckpointError`,
never executed. A truncated or corrupt file is refused the same way rather than silently
replaced, so a damaged run is noticed; the message says to remove the file to train afresh.

Writes go to a temporary file with a unique name next to the target and are renamed into
place, so two writers never share a temporary file and a reader never sees half a file. A
process killed with SIGKILL mid-write leaves its temporary; the next save into the same
directory removes it (the stale-temporary rule of the event stores,
:func:`madsbi._tempfiles.remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from madsbi._tempfiles import remove_stale_temporaries, temporary_path
from madsbi.errors import CheckpointError


def temporary_name(target: Path) -> Path:
    """A unique hidden temporary path next to ``target`` (``.NAME.tmp-HOST-PID-HEX``)."""
    return temporary_path(target)


def save(obj: dict[str, Any], path: Path) -> None:
    """``torch.save(obj)`` to a unique temporary file, then rename it to ``path``.

    Temporaries in the directory whose process is gone (killed mid-save) are removed first.
    """
    import torch

    remove_stale_temporaries(path.parent)
    tmp = temporary_name(path)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def load(path: Path, keys: Iterable[str] = (), map_location: Any = "cpu") -> dict[str, Any]:
    """Read a dictionary saved by :func:`save`, weights-only.

    Parameters
    ----------
    path : Path
        The file.
    keys : iterable of str
        Entries the dictionary must have.
    map_location
        Passed to :func:`torch.load`.

    Raises
    ------
    CheckpointError
        If the file holds anything but tensors and plain containers (it would run code when
        unpickled), is truncated or corrupt, is not a dictionary or lacks one of ``keys``.
    """
    import torch

    try:
        with warnings.catch_warnings():
            # A hand-made legacy pickle draws a protocol warning before it is refused.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            saved = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own message suggests turning the weights-only loading off; only its diagnosis
        # is passed on.
        detail = [line.strip() for line in str(exc).splitlines() if "Unsupported" in line]
        raise CheckpointError(
            f"{path}: refused to load: the file holds Python objects other than tensors and "
            "plain containers, which could run code when unpickled"
            + (f" ({detail[0][:200]})" if detail else "")
            + "; madsbi never writes such files. Remove it to train afresh"
        ) from None
    except (EOFError, RuntimeError, OSError, ValueError, zipfile.BadZipFile) as exc:
        reason = str(exc).split(". ")[0] or type(exc).__name__
        raise CheckpointError(
            f"{path}: cannot be read (truncated or corrupt: {reason}); remove it to train afresh"
        ) from None
    if not isinstance(saved, dict):
        raise CheckpointError(
            f"{path}: expected a madsbi checkpoint (a dictionary), got {type(saved).__name__}"
        )
    missing = [k for k in keys if k not in saved]
    if missing:
        raise CheckpointError(f"{path}: not a madsbi checkpoint of this kind (no {missing})")
    return saved
