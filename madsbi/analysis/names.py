"""Where analyses live: the shipped ones by name, directories, and derived copies."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from madsbi.analysis.save import MANIFEST_NAME
from madsbi.errors import InputError, MissingFileError, OutputError


def shipped_analyses_dir() -> Path:
    """The folder holding the analyses shipped with madsbi (``madsbi/data/analyses``)."""
    return Path(str(resources.files("madsbi.data").joinpath("analyses")))


def shipped_analyses() -> tuple[str, ...]:
    """Names of the shipped analyses (subfolders with an ``analysis.json``)."""
    root = shipped_analyses_dir()
    if not root.is_dir():
        return ()
    return tuple(sorted(p.name for p in root.iterdir() if (p / MANIFEST_NAME).is_file()))


def analysis_path(path_or_name: str | Path) -> Path:
    """An analysis directory, or the directory of a shipped analysis named so.

    Raises
    ------
    MissingFileError
        Neither a directory with ``analysis.json`` nor a shipped name.
    """
    path = Path(path_or_name)
    if (path / MANIFEST_NAME).is_file():
        return path
    names = shipped_analyses()
    if str(path_or_name) in names:
        return shipped_analyses_dir() / str(path_or_name)
    raise MissingFileError(
        f"{path_or_name}: neither an analysis directory (no {MANIFEST_NAME}) nor a shipped "
        f"analysis; shipped: {list(names)}"
    )


def derived_analysis(source: Path, destination: str | Path | None) -> Path:
    """The directory an analysis-changing command writes: ``source`` itself, or a copy.

    Parameters
    ----------
    source : Path
        The analysis directory.
    destination : path, optional
        None: change ``source`` in place (refused for a shipped analysis); else a new or empty
        directory that receives a copy of ``source``.

    Raises
    ------
    InputError
        A shipped analysis without a destination; a destination that is the source or inside it.
    OutputError
        A destination that exists and is not an empty directory.
    """
    if destination is None:
        if source.resolve().is_relative_to(shipped_analyses_dir().resolve()):
            raise InputError(
                f"{source}: a shipped analysis is not changed in place; give a destination"
            )
        return source
    out = Path(destination)
    if out.resolve() == source.resolve() or out.resolve().is_relative_to(source.resolve()):
        raise InputError(f"destination {out}: is the source analysis or inside it")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"destination {out}: exists and is not an empty directory")
    shutil.copytree(source, out, dirs_exist_ok=True)
    return out
