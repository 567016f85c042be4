"""Add ``<rwgt>`` weights to an LHE file, as MadGraph's reweighting does, atomically.

The new file is written beside the original under a hidden temporary name; the caller moves
it into place (``os.replace``) only after everything else succeeded, so a failure never
leaves a half-written event file.

Everything but the added weights is copied byte for byte, including bytes that are not UTF-8
(MadGraph does not require UTF-8, so a file with such a byte is valid input, not an error
discovered after the matrix-element pass) and the original line endings.
"""

from __future__ import annotations

import gzip
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, cast

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import LheFormatError

#: Name of the ``<weightgroup>`` the plugin adds to ``<initrwgt>``.
WEIGHT_GROUP = "madsbi"

#: Error handler that maps undecodable bytes to lone surrogates and back, losslessly.
_BYTES = "surrogateescape"


def _open(path: Path, mode: str, compressed: bool) -> IO[str]:
    # Bytes that are not UTF-8 (a Latin-1 comment in a card or an event) and the original line
    # endings pass through unchanged: the copy differs from the source only by the weights.
    if compressed:
        stream = gzip.open(  # noqa: SIM115
            path, mode + "t", encoding="utf-8", errors=_BYTES, newline="", compresslevel=6
        )
        return cast(IO[str], stream)
    return open(path, mode, encoding="utf-8", errors=_BYTES, newline="")


def temporary_path(target: Path) -> Path:
    """A hidden temporary file beside ``target`` that keeps its suffixes (``.lhe.gz``)."""
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _group_text(ids: Sequence[str], descriptions: Sequence[str]) -> str:
    lines = [f"<weightgroup name='{WEIGHT_GROUP}' weight_name_strategy='includeIdInWeightName'>"]
    for wid, text in zip(ids, descriptions, strict=True):
        lines.append(f"<weight id='{wid}'>{text}</weight>")
    lines.append("</weightgroup>")
    return "\n".join(lines) + "\n"


def write_weighted_lhe(
    source: Path,
    target: Path,
    ids: Sequence[str],
    descriptions: Sequence[str],
    weights: Iterator[FloatArray],
) -> int:
    """Copy ``source`` to ``target`` adding one ``<wgt>`` per id to every event.

    Parameters
    ----------
    source, target : Path
        LHE files; both are gzip-compressed if the name of ``source`` ends with ``.gz``.
    ids, descriptions : sequence of str
        Weight ids and the text of their ``<weight>`` definitions (param-card changes).
    weights : iterator of ndarray, shape (n_chunk, len(ids))
        The weights of the events in file order, in chunks.

    Returns
    -------
    int
        Number of events written.

    Raises
    ------
    LheFormatError
        If the event count differs from the number of weight rows.
    """
    group = _group_text(ids, descriptions)
    n_event = 0
    pending = np.zeros((0, len(ids)))
    in_header = True
    in_event = False
    has_rwgt = False
    # The copy replaces the source, so it is compressed like the source whatever its
    # (temporary) name.
    compressed = source.name.endswith(".gz")
    with _open(source, "r", compressed) as src, _open(target, "w", compressed) as dst:
        for line in src:
            stripped = line.strip()
            if in_header:
                if stripped.startswith("</initrwgt>"):
                    dst.write(group)
                    in_header = False
                elif stripped.startswith("</header>") or stripped.startswith("<init>"):
                    dst.write(f"<initrwgt>\n{group}</initrwgt>\n")
                    in_header = False
                dst.write(line)
                continue
            if stripped.startswith("<event"):
                in_event, has_rwgt = True, False
            elif in_event and stripped.startswith("<rwgt>"):
                has_rwgt = True
            elif in_event and (
                stripped.startswith("</rwgt>") or (stripped == "</event>" and not has_rwgt)
            ):
                if pending.shape[0] == 0:
                    try:
                        pending = next(weights)
                    except StopIteration:
                        raise LheFormatError(
                            f"{source}: more events than weights ({n_event} weight rows)"
                        ) from None
                row, pending = pending[0], pending[1:]
                body = "".join(
                    f"<wgt id='{wid}'> {value:+.16e} </wgt>\n"
                    for wid, value in zip(ids, row, strict=True)
                )
                dst.write(body if has_rwgt else f"<rwgt>\n{body}</rwgt>\n")
                n_event += 1
                in_event = False
            elif stripped == "</event>":
                in_event = False
            dst.write(line)
    leftover = pending.shape[0] + sum(w.shape[0] for w in weights)
    if leftover:
        raise LheFormatError(f"{source}: {n_event} events but {n_event + leftover} weight rows")
    return n_event
