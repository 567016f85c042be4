"""Package-level promises: a light import, the backends, the error hierarchy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import madsbi
from madsbi import errors


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, madsbi, madsbi.theory, madsbi.simulate, madsbi.events, madsbi.cli.main\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'h5py', 'scipy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_core_module_is_compiled() -> None:
    from madsbi._backend import core

    assert core().max_parameters() == 14


def test_has_cuda_is_consistent_with_build() -> None:
    assert isinstance(madsbi.has_cuda(), bool)
    assert isinstance(madsbi.cuda_built(), bool)
    if not madsbi.cuda_built():
        assert madsbi.has_cuda() is False


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.InputError, ValueError),
        (errors.ShapeError, ValueError),
        (errors.DtypeError, TypeError),
        (errors.LheFormatError, ValueError),
        (errors.WeightError, ValueError),
        (errors.StoreVersionError, ValueError),
        (errors.StoreMismatchError, ValueError),
        (errors.StoreExistsError, FileExistsError),
        (errors.MissingFileError, FileNotFoundError),
        (errors.BackendError, RuntimeError),
        (errors.OptionalDependencyError, ImportError),
        (errors.IllConditionedBasisError, ValueError),
    ],
)
def test_errors_also_inherit_the_matching_builtin(cls: type, builtin: type) -> None:
    assert issubclass(cls, errors.MadSBIError)
    assert issubclass(cls, builtin)
