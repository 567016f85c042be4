"""Writing a parsed-TOML document (tables and one level of subtables) back to a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_toml(path: Path, document: dict[str, Any]) -> Path:
    """``document`` as TOML at ``path`` (values as JSON, which TOML reads for these types)."""
    lines = []
    for section, table in document.items():
        sub = {k: v for k, v in table.items() if isinstance(v, dict)}
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items() if k not in sub]
        for name, inner in sub.items():
            lines.append(f"[{section}.{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in inner.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
