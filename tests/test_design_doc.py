"""docs/design.md is where docstrings and comments point: every section they cite exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
DESIGN = ROOT / "docs" / "design.md"
SOURCES = ("madsbi", "csrc", "tests", "benchmarks")
SUFFIXES = {".py", ".pyi", ".hpp", ".cpp", ".cu", ".toml", ".md"}
# `docs/design.md "Title"` or `docs/design.md, "Title"`, the title possibly wrapped onto the next
# comment line.
CITATION = re.compile(r'docs/design\.md,?\s*"([^"]+)"')
WRAP = re.compile(r"\s*\n\s*(?://|#)?\s*")


def headings() -> set[str]:
    text = DESIGN.read_text(encoding="utf-8")
    return {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def citations() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    files = [ROOT / "pyproject.toml", ROOT / ".importlinter"]
    for folder in SOURCES:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in SUFFIXES]
    for path in files:
        if path == Path(__file__):
            continue
        text = WRAP.sub(" ", path.read_text(encoding="utf-8", errors="replace"))
        for match in CITATION.finditer(text):
            found.setdefault(match.group(1).strip(), []).append(str(path.relative_to(ROOT)))
    return found


def test_every_cited_section_is_a_heading() -> None:
    cited = citations()
    assert "Likelihood, test statistic, coverage" in cited
    missing = {title: where for title, where in cited.items() if title not in headings()}
    assert not missing, f"docs/design.md lacks these cited sections: {missing}"


def test_the_design_document_is_in_the_repository() -> None:
    assert {"Libraries", "Coverage at scale is dense algebra"} <= headings()
