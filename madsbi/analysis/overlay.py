"""Overlay analyses: components or nuisances on top of a trained analysis, without its copy.

``madsbi analysis-backgrounds … --overlay`` and ``madsbi analysis-nuisances … --overlay``
write a directory that holds only what they add (``components/``, ``nuisances/``) and an
``analysis.json`` naming its **base**: the analysis whose trained files (estimators, rate
events, split) it uses::

    "base": {"analysis": "wz_reco_paper", "manifest_sha256": "…"}

``analysis`` is a shipped analysis's name or a path relative to the overlay's directory;
``manifest_sha256`` is the SHA-256 of the base's ``analysis.json`` when the overlay was built,
so an overlay never silently runs on another version of its base (a re-trained or re-trimmed
one): loading it is then an error that names both. The overlay's manifest is the base's
manifest plus what was added, so every other reader (``madsbi simulate reco --like``, the
defaults, the support check) reads it as usual. An overlay built from an overlay copies that
one's own files and names the same base: an overlay's base is never an overlay.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from madsbi.analysis.names import shipped_analyses, shipped_analyses_dir
from madsbi.analysis.save import MANIFEST_NAME
from madsbi.errors import CheckpointError, InputError, OutputError, StoreFormatError

#: The manifest key of an overlay's base.
BASE_KEY = "base"
#: The folders of what is added to a trained analysis: background components, nuisances.
COMPONENTS_DIR = "components"
NUISANCES_DIR = "nuisances"


def manifest_sha256(directory: Path) -> str:
    """SHA-256 (hex) of ``directory/analysis.json`` as it is on disk."""
    return hashlib.sha256((directory / MANIFEST_NAME).read_bytes()).hexdigest()


def _reference(base: Path, out: Path) -> str:
    """How an overlay in ``out`` names ``base``: the shipped name, else a relative path."""
    if base.resolve().parent == shipped_analyses_dir().resolve():
        return base.name
    return os.path.relpath(base.resolve(), out.resolve())


def check_base_entry(where: str, value: Any) -> None:
    """Check the manifest's ``"base"`` entry (types only; :func:`files_root` resolves it).

    Raises
    ------
    StoreFormatError
        Not an object with a non-empty relative ``analysis`` and a 64-hex ``manifest_sha256``.
    """
    if not isinstance(value, Mapping):
        raise StoreFormatError(f"{where}: base: expected a JSON object, got {value!r}")
    ref, digest = value.get("analysis"), value.get("manifest_sha256")
    if not isinstance(ref, str) or not ref or os.path.isabs(ref) or "\0" in ref:
        raise StoreFormatError(
            f"{where}: base.analysis: expected a shipped analysis's name or a path relative "
            f"to the overlay, got {ref!r}"
        )
    hexdigits = set("0123456789abcdef")
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= hexdigits:
        raise StoreFormatError(
            f"{where}: base.manifest_sha256: expected 64 hex digits, got {digest!r}"
        )


def files_root(directory: Path, manifest: Mapping[str, Any]) -> Path:
    """The directory that holds the analysis's trained files: itself, or its base.

    Raises
    ------
    CheckpointError
        The base cannot be found, is itself an overlay, or its ``analysis.json`` is not the
        one the overlay was built on (the message names both and how to rebuild).
    """
    entry = manifest.get(BASE_KEY)
    if entry is None:
        return directory
    where = str(directory / MANIFEST_NAME)
    check_base_entry(where, entry)
    ref = str(entry["analysis"])
    local = directory / ref
    if (local / MANIFEST_NAME).is_file():
        base = local
    elif ref in shipped_analyses():
        base = shipped_analyses_dir() / ref
    else:
        raise CheckpointError(
            f"{where}: its base analysis {ref!r} is neither a directory next to it (relative "
            f"to {directory}) nor a shipped analysis ({list(shipped_analyses())})"
        )
    if manifest_sha256(base) != entry["manifest_sha256"]:
        raise CheckpointError(
            f"{where}: built on another version of its base {base} (its analysis.json "
            "changed since: re-trained or re-trimmed); rebuild the overlay from the base "
            "(madsbi analysis-backgrounds / analysis-nuisances … --overlay)"
        )
    if BASE_KEY in json.loads((base / MANIFEST_NAME).read_text(encoding="utf-8")):
        raise CheckpointError(f"{where}: its base {base} is itself an overlay (not supported)")
    return base


def derived_overlay(source: Path, destination: str | Path) -> tuple[Path, dict[str, str]]:
    """A new overlay directory on ``source`` and the ``"base"`` entry of its manifest.

    What ``source`` has added to its trained files (``components/``, ``nuisances/``) is
    copied; ``source`` may be an overlay: then its base is named.

    Raises
    ------
    InputError
        ``destination`` is the source or inside it.
    OutputError
        ``destination`` exists and is not an empty directory.
    """
    out = Path(destination)
    if out.resolve() == source.resolve() or out.resolve().is_relative_to(source.resolve()):
        raise InputError(f"destination {out}: is the source analysis or inside it")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"destination {out}: exists and is not an empty directory")
    manifest = json.loads((source / MANIFEST_NAME).read_text(encoding="utf-8"))
    base = files_root(source, manifest)
    if base != source:
        shutil.copytree(source, out, dirs_exist_ok=True)
        (out / MANIFEST_NAME).unlink()
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name in (COMPONENTS_DIR, NUISANCES_DIR):
            if (source / name).is_dir():
                shutil.copytree(source / name, out / name)
    return out, {"analysis": _reference(base, out), "manifest_sha256": manifest_sha256(base)}


def derived(
    source: Path, destination: str | Path | None, *, overlay: bool
) -> tuple[Path, dict[str, str] | None]:
    """The directory an analysis-changing command writes, and its manifest's ``"base"``.

    Parameters
    ----------
    source : Path
        The analysis directory (an overlay or not).
    destination : path, optional
        None: change ``source`` in place (:func:`madsbi.analysis.names.derived_analysis`);
        else a new or empty directory.
    overlay : bool
        Write an overlay on ``source`` instead of a copy. A destination for an overlay
        ``source`` is always an overlay (on the same base).

    Returns
    -------
    (Path, dict or None)
        The directory and the ``"base"`` entry to put in its manifest (None: not an overlay).

    Raises
    ------
    InputError
        ``overlay`` without a destination; see :func:`derived_overlay` and
        :func:`madsbi.analysis.names.derived_analysis`.
    """
    from madsbi.analysis.names import derived_analysis

    manifest = json.loads((source / MANIFEST_NAME).read_text(encoding="utf-8"))
    own = manifest.get(BASE_KEY)
    if destination is None:
        if overlay and own is None:
            raise InputError("overlay: an overlay is a new directory; give a destination (OUT)")
        return derived_analysis(source, None), own
    if overlay or own is not None:
        return derived_overlay(source, destination)
    return derived_analysis(source, destination), None
