"""The examples in madsbi's docstrings run (issue 28, item 4).

Every module of the package whose source holds a ``>>>`` example is run through
:mod:`doctest` (what ``pytest --doctest-modules`` does; .ci/run runs that too). Examples that
need files the repository does not have are marked ``# doctest: +SKIP``.
"""

from __future__ import annotations

import doctest
import importlib
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "madsbi"


def modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_some_module_has_examples() -> None:
    assert modules_with_examples()


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name}: no example was collected"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
