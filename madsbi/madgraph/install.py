"""Installing the plugin shim into MadGraph (or beside it, for ``$PYTHONPATH``)."""

from __future__ import annotations

import json
import os
import re
import secrets
import site
import sys
import sysconfig
from pathlib import Path
from typing import Any

import madsbi
from madsbi.errors import InputError, MissingFileError
from madsbi.madgraph.plugin_shim import ENVIRONMENT_FILE, MARKER, MINIMAL_VERSION, shim_source

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


def environment_record() -> dict[str, Any]:
    """Where this madsbi is installed, for the shim to find it from another Python.

    Returns
    -------
    dict
        ``python`` (this interpreter), ``python_version`` (major.minor: compiled extensions
        load only into the same version), ``site_dirs`` (site-packages directories, added
        with :func:`site.addsitedir` so that their ``.pth`` files, e.g. of an editable
        install, take effect), ``paths`` (the folder holding the ``madsbi`` package when it is
        in none of them) and ``madsbi_version``.
    """
    config = sysconfig.get_paths()
    candidates = [*site.getsitepackages(), config["purelib"], config["platlib"]]
    if site.ENABLE_USER_SITE:
        candidates.append(site.getusersitepackages())
    site_dirs = [d for d in dict.fromkeys(candidates) if d in sys.path and Path(d).is_dir()]
    package_parent = str(Path(madsbi.__file__).resolve().parent.parent)
    in_site = any(Path(package_parent) == Path(d).resolve() for d in site_dirs)
    return {
        "madsbi_version": madsbi.__version__,
        "python": sys.executable,
        "python_version": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "site_dirs": site_dirs,
        "paths": [] if in_site else [package_parent],
    }


def read_environment_record(folder: Path) -> dict[str, Any] | None:
    """The record :func:`install_plugin` wrote into the shim ``folder`` (None if absent)."""
    try:
        record = json.loads((folder / ENVIRONMENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _write_shim(folder: Path, force: bool) -> Path:
    init = folder / "__init__.py"
    if init.exists() and not init.read_text().startswith(MARKER) and not force:
        raise InputError(f"{init} exists and was not written by madsbi; pass --force to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / ENVIRONMENT_FILE, json.dumps(environment_record(), indent=1) + "\n")
    _write_atomic(init, shim_source(madsbi.__version__))
    return init


def install_plugin(mg5_dir: str | Path, *, force: bool = False) -> Path:
    """Write the shim into ``<mg5_dir>/PLUGIN/madsbi/__init__.py``; returns its path.

    Beside it, ``environment.json`` records where this madsbi is installed
    (:func:`environment_record`), so that the shim finds madsbi when MadGraph runs another
    Python of the same version (e.g. ``bin/mg5_aMC`` with the system ``python3``).

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
