"""The API reference documents every public name, and docstrings name only existing files.

Issue 28, acceptance: every public function and class of madsbi's public modules (their
``__all__``; ``madsbi.generative`` has none, so the public classes and functions of its
modules) has a page in the generated reference. The check reads the built site
(``docs/_build/html``, made by ``sphinx-build``; .ci/run builds it before running this
test) and skips with the reason when it is absent.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest

# The reference's own extension (docs/_ext/madsbi_api.py) needs Sphinx: without the docs
# extra (the plain test run) this module is skipped; .ci/run installs the extra, builds the
# site and runs it.
pytest.importorskip("sphinx", reason="needs the docs extra: pip install '.[docs]'")

ROOT = Path(__file__).parents[2]
HTML = ROOT / "docs" / "_build" / "html"
GENERATED = HTML / "api" / "generated"
PUBLIC_MODULES = (
    "madsbi",
    "madsbi.events",
    "madsbi.estimators",
    "madsbi.inference",
    "madsbi.analysis",
    "madsbi.theory",
    "madsbi.simulate",
    "madsbi.generative",
)

needs_site = pytest.mark.skipif(
    not (GENERATED / "madsbi.html").is_file(),
    reason="the built site is absent: sphinx-build -W -n -b html docs docs/_build/html",
)


def _api_extension():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        return importlib.import_module("madsbi_api")
    finally:
        sys.path.pop(0)


def public_names() -> list[str]:
    """``module.name`` of every public name of the public modules."""
    names = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        if exported is not None:
            names += [f"{module_name}.{n}" for n in exported]
            continue
        # No __all__: the public classes and functions its public submodules define.
        for sub in _api_extension().documented_modules():
            if not sub.startswith(f"{module_name}."):
                continue
            submodule = importlib.import_module(sub)
            for n, value in vars(submodule).items():
                if n.startswith("_") or not (inspect.isclass(value) or inspect.isfunction(value)):
                    continue
                if getattr(value, "__module__", None) == sub:
                    names.append(f"{sub}.{n}")
    return names


def test_public_names_found() -> None:
    names = public_names()
    assert "madsbi.load_analysis" in names
    assert any(n.startswith("madsbi.generative.") for n in names)


@needs_site
@pytest.mark.parametrize("name", public_names())
def test_public_name_has_a_page(name: str) -> None:
    api = _api_extension()
    module_name, _, attribute = name.rpartition(".")
    value = getattr(importlib.import_module(module_name), attribute)
    if inspect.isclass(value) or inspect.isfunction(value):
        page = api.public_names()[name]
        html = GENERATED / f"{page}.html"
        assert html.is_file(), f"{name}: no page {html.relative_to(ROOT)}"
        assert f'id="{page}"' in html.read_text(encoding="utf-8"), f"{name}: {page} undocumented"
    else:  # data (__version__, constants): documented on its module's page
        html = GENERATED / f"{module_name}.html"
        assert f'id="{name}"' in html.read_text(encoding="utf-8"), f"{name}: not on {html.name}"


def _docstrings() -> list[tuple[str, str]]:
    """(file, docstring) of every module, class and function of the package."""
    out = []
    for path in sorted((ROOT / "madsbi").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    out.append((str(path.relative_to(ROOT)), doc))
    return out


def test_docstrings_name_existing_md_files() -> None:
    tracked = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    basenames = {Path(p).name for p in tracked}
    missing = []
    for path, doc in _docstrings():
        for name in set(re.findall(r"[\w./-]*\w\.md\b", doc)):
            if name in tracked or (ROOT / name).is_file():
                continue
            if "/" not in name and name in basenames:
                continue
            missing.append(f"{path}: {name}")
    assert not missing, "docstrings name *.md files that are not in the repository:\n" + "\n".join(
        sorted(missing)
    )
