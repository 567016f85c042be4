"""README.md's Python snippets run (issue 28, item 4).

Every ```python block of README.md is executed in a temporary directory. The files and
names a snippet takes as given are provided first: ``wz.h5`` (the shipped W⁺Z parton
store), ``out/wz_parton/analysis`` (the shipped trained analysis ``wz_parton_paper``),
``data.h5`` (1,000 W⁺Z events converted from ``tests/data/wz_parton_1k.lhe.gz``), and for
the estimator snippet ``x_train``, ``parton_coefficients``, ``x_test``, ``grid`` and
``sigma0`` from the shipped store. Warnings the snippets raise (a fit box edge, say) are
recorded, not errors: the test checks that the documented code runs.
"""

from __future__ import annotations

import re
import shutil
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"


def python_blocks() -> list[str]:
    """The ```python blocks of README.md, in order."""
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def shipped(name: str) -> Path:
    return Path(str(resources.files("madsbi.data") / name))


def _estimator_inputs() -> dict[str, Any]:
    """What the estimator snippet takes as given: features and exact coefficients of SM events."""
    from madsbi.events import EventStore
    from madsbi.processes import get_process

    with EventStore(shipped("wz_parton.h5")) as store:
        chunk = store.read("parton", stop=1200).arrays
        sigma0 = float(store.cross_section([0.0, 0.0, 0.0])[0])
    observables = get_process("wz").parton_observables
    x = np.stack([observables["log_s"](chunk), observables["log_minus_t"](chunk)], axis=1)
    x = (x - x.mean(0)) / x.std(0)
    grid = np.zeros((11, 3))
    grid[:, 1] = np.linspace(-0.2, 0.2, 11)
    return {
        "x_train": x[:1000],
        "parton_coefficients": chunk["coefficients"][:1000],
        "x_test": x[1000:],
        "grid": grid,
        "sigma0": sigma0,
    }


def test_readme_has_python_snippets() -> None:
    assert len(python_blocks()) >= 3


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_snippet_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from madsbi.events import convert_lhe

    code = python_blocks()[index]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme_snippet"}
    if '"wz.h5"' in code:
        shutil.copy(shipped("wz_parton.h5"), tmp_path / "wz.h5")
    if "out/wz_parton/analysis" in code:
        shutil.copytree(
            shipped("analyses") / "wz_parton_paper", tmp_path / "out" / "wz_parton" / "analysis"
        )
    if '"data.h5"' in code:
        convert_lhe(
            ROOT / "tests" / "data" / "wz_parton_1k.lhe.gz",
            tmp_path / "data.h5",
            parameters=("cHWB", "cW", "cHq3"),
        )
    if "x_train" in code:
        namespace.update(_estimator_inputs())
        # Keep the test short: the snippet's 30 epochs and 5 members run as 2 and 2.
        code = code.replace("epochs=30", "epochs=2").replace("members=5", "members=2")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        exec(compile(code, f"README.md python block {index + 1}", "exec"), namespace)
