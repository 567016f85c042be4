"""Make broken LHE files from the good fixtures, for the bad-input tests."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path


def read_text(path: Path) -> str:
    """Decompressed text of an .lhe.gz fixture."""
    with gzip.open(path, "rt") as f:
        return f.read()


def write_lhe(path: Path, text: str, *, compress: bool = True) -> Path:
    """Write LHE text, gzipped unless ``compress`` is false."""
    if compress:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def edited(source: Path, target: Path, edit: Callable[[str], str]) -> Path:
    """Copy a fixture through ``edit``."""
    return write_lhe(target, edit(read_text(source)))
