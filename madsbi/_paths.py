"""Output files that would replace their own inputs, or that cannot be written.

``madsbi store convert X X --overwrite`` used to replace the LHE file ``X`` with the store
written from it. Every command that writes a file from other files (convert, merge, produce)
first checks that the output is none of its inputs: not the same path, not the same file
reached through a symbolic link, and not another hard link to the same file. Commands that
write one file also check, before any work, that it can be created there
(:func:`check_output_file`): not below a file, not in a directory they may not write.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from madsbi.errors import InputError, OutputError


def same_file(a: str | Path, b: str | Path) -> str | None:
    """How ``a`` and ``b`` name the same file, or ``None`` if they do not.

    Returns ``"the same path"``, ``"the same file through a symbolic link"`` or ``"the same
    file (a hard link)"``. Paths that do not exist are compared after resolving the links of
    the parts that do.
    """
    if os.path.abspath(a) == os.path.abspath(b):
        return "the same path"
    if os.path.realpath(a) == os.path.realpath(b):
        return "the same file through a symbolic link"
    try:
        if os.path.samefile(a, b):
            return "the same file (a hard link)"
    except OSError:  # one of them does not exist (yet)
        pass
    return None


def refuse_output_over_inputs(
    output: str | Path, inputs: Iterable[str | Path], *, what: str
) -> None:
    """Raise if ``output`` is one of ``inputs`` (see :func:`same_file`).

    Parameters
    ----------
    output : str or Path
        The file about to be written.
    inputs : iterable of str or Path
        The files it is made from.
    what : str
        Names the operation in the message, e.g. ``"store convert"``.

    Raises
    ------
    InputError
        Naming the output, the input and how they are the same file; nothing was written.
    """
    for source in inputs:
        how = same_file(output, source)
        if how is not None:
            raise InputError(
                f"{what}: the output {output} is the input {source} ({how}); writing it "
                "would destroy the input, so nothing was written: choose another output path"
            )


def check_output_file(output: str | Path, *, what: str) -> None:
    """Raise unless the file ``output`` can be created (before any work is done).

    The output may not be a directory; its nearest existing ancestor must be a directory
    (the missing ones are created by the writer) that this process may write into.

    Parameters
    ----------
    output : str or Path
        The file about to be written.
    what : str
        Names the operation or option in the message, e.g. ``"store convert: OUTPUT"``.

    Raises
    ------
    OutputError
        Naming the output and why it cannot be written; nothing was written.
    """
    path = Path(output)
    if path.is_dir():
        raise OutputError(f"{what}: the output {output} is a directory, expected a file path")
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        if folder.is_symlink():  # a dangling link: the writer cannot create it
            break
        folder = folder.parent
    if not folder.is_dir():
        kind = "a file" if folder.exists() else "missing (a dangling link)"
        raise OutputError(
            f"{what}: cannot write {output}: {folder} is {kind}, not a directory; nothing "
            "was written"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(
            f"{what}: cannot write {output}: no permission to write in the directory "
            f"{folder}; nothing was written"
        )
