"""Installing the plugin shim into MadGraph (or beside it, for ``$PYTHONPATH``)."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import madsbi
from madsbi.errors import InputError, MissingFileError
from madsbi.madgraph.plugin_shim import MARKER, MINIMAL_VERSION, shim_source

#: Folder name MadGraph looks for on ``$PYTHONPATH``.
PYTHONPATH_FOLDER = "MG5aMC_PLUGIN"
PLUGIN_NAME = "madsbi"


def mg5_version(mg5_dir: str | Path) -> tuple[int, ...]:
    """MadGraph's version from ``<mg5_dir>/VERSION``.

    Raises
    ------
    MissingFileError
        If ``mg5_dir`` is not a MadGraph directory (no ``VERSION`` or ``madgraph/``).
    InputError
        If the version cannot be read.
    """
    root = Path(mg5_dir)
    version_file = root / "VERSION"
    if not version_file.is_file() or not (root / "madgraph").is_dir():
        raise MissingFileError(
            f"--mg5-dir: {root} is not a MadGraph5_aMC@NLO directory (expected VERSION and "
            "madgraph/ inside)"
        )
    match = re.search(r"^\s*version\s*=\s*([\d.]+)", version_file.read_text(), re.MULTILINE)
    if not match:
        raise InputError(f"{version_file}: no 'version = X.Y.Z' line")
    return tuple(int(v) for v in match.group(1).strip(".").split("."))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_shim(folder: Path, force: bool) -> Path:
    init = folder / "__init__.py"
    if init.exists() and not init.read_text().startswith(MARKER) and not force:
        raise InputError(f"{init} exists and was not written by madsbi; pass --force to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(init, shim_source(madsbi.__version__))
    return init


def install_plugin(mg5_dir: str | Path, *, force: bool = False) -> Path:
    """Write the shim into ``<mg5_dir>/PLUGIN/madsbi/__init__.py``; returns its path.

    Raises
    ------
    MissingFileError
        If ``mg5_dir`` is not a MadGraph directory.
    InputError
        If MadGraph is older than 3.5, or another plugin named ``madsbi`` is there and
        ``force`` is false.
    """
    version = mg5_version(mg5_dir)
    if version < MINIMAL_VERSION:
        raise InputError(
            f"--mg5-dir: MadGraph {'.'.join(map(str, version))} is too old; reweight plugins "
            f"need >= {'.'.join(map(str, MINIMAL_VERSION))}"
        )
    plugin_root = Path(mg5_dir) / "PLUGIN"
    plugin_root.mkdir(exist_ok=True)
    if not (plugin_root / "__init__.py").exists():
        (plugin_root / "__init__.py").write_text("")
    return _write_shim(plugin_root / PLUGIN_NAME, force)


def install_pythonpath(target: str | Path, *, force: bool = False) -> Path:
    """Write ``<target>/MG5aMC_PLUGIN/madsbi`` for MadGraph to find via ``$PYTHONPATH``.

    Returns the directory to add to ``$PYTHONPATH`` (``target``).
    """
    root = Path(target) / PYTHONPATH_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "__init__.py").exists():
        (root / "__init__.py").write_text("")
    _write_shim(root / PLUGIN_NAME, force)
    return Path(target).resolve()


def pythonpath_instructions(target: Path) -> str:
    """Shell lines that make MadGraph find the shim written by :func:`install_pythonpath`."""
    return (
        f"export PYTHONPATH={target}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        "# MadGraph scans $PYTHONPATH for a folder named MG5aMC_PLUGIN; then launch with "
        "reweight=madsbi"
    )
