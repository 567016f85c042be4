"""Edited copies of analysis directories for the tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def with_background_scale(source: Path, destination: Path, scale: float) -> Path:
    """A copy of the analysis ``source`` at ``destination`` with every background's scale set.

    The manifest's ``components.backgrounds[*].scale`` becomes ``scale`` (0 switches the
    backgrounds off); returns ``destination``.
    """
    shutil.copytree(source, destination)
    path = destination / "analysis.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["components"]["backgrounds"]:
        entry["scale"] = scale
    path.write_text(json.dumps(manifest))
    return destination
