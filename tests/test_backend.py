"""The one backend switch (``resolve_backend``) and the torch device (``resolve_device``)."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from madsbi import _backend
from madsbi._backend import BACKENDS, CPU_KERNELS, resolve_backend
from madsbi._device import resolve_device
from madsbi.errors import BackendError, ConfigError, InputError
from madsbi.inference.gridscan import log_ratio_sums
from madsbi.simulate.smearing import copy_counts, regroup_survivors, target_statistics
from madsbi.theory.morphing import MorphingBasis
from madsbi.theory.polynomial import polynomial_features


def fake_gpus(monkeypatch: pytest.MonkeyPatch, devices: int | None) -> None:
    """Pretend ``madsbi._core_cuda`` is absent (None) or sees ``devices`` GPUs."""
    module = None if devices is None else types.SimpleNamespace(device_count=lambda: devices)
    monkeypatch.setattr(_backend, "core_cuda", lambda: module)


@pytest.mark.parametrize("devices", [None, 0])
def test_auto_is_the_core_without_a_gpu(
    monkeypatch: pytest.MonkeyPatch, devices: int | None
) -> None:
    fake_gpus(monkeypatch, devices)
    assert resolve_backend("auto") == "core"
    assert resolve_backend("auto", CPU_KERNELS) == "core"


def test_auto_is_cuda_only_where_there_is_a_cuda_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpus(monkeypatch, 2)
    assert resolve_backend("auto") == "cuda"
    assert resolve_backend("auto", ("core", "cuda")) == "cuda"
    assert resolve_backend("auto", CPU_KERNELS) == "core"
    assert resolve_backend("cuda") == "cuda"


@pytest.mark.parametrize("name", ["core", "numpy"])
def test_named_kernels_pass_through(name: str) -> None:
    assert resolve_backend(name) == name
    assert resolve_backend(name, CPU_KERNELS) == name


# (No parameter named "gpu": the conftest would take the test for a GPU test and skip it.)
@pytest.mark.parametrize("name", ["tpu", "", "CORE", "Auto", None, 3])
def test_unknown_names_the_argument_and_the_choices(name: object) -> None:
    with pytest.raises(
        InputError, match=r"^backend: expected 'auto', 'core', 'cuda' or 'numpy', got "
    ):
        resolve_backend(name)
    with pytest.raises(InputError, match=r"^smearing_backend: expected 'auto', 'core' or 'numpy'"):
        resolve_backend(name, CPU_KERNELS, what="smearing_backend")


def test_cuda_where_there_is_no_cuda_kernel_is_an_input_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_gpus(monkeypatch, 1)  # even with a GPU: the function has no GPU kernel
    with pytest.raises(
        InputError, match=r"backend: expected 'auto', 'core' or 'numpy', got 'cuda'"
    ):
        resolve_backend("cuda", CPU_KERNELS)


@pytest.mark.parametrize(
    ("devices", "reason"), [(None, "built without MADSBI_CUDA=ON"), (0, "no CUDA device")]
)
def test_explicit_cuda_without_a_gpu_says_why(
    monkeypatch: pytest.MonkeyPatch, devices: int | None, reason: str
) -> None:
    fake_gpus(monkeypatch, devices)
    with pytest.raises(BackendError, match=f"backend='cuda': .*{reason}"):
        resolve_backend("cuda")


def test_kernels_must_be_known_and_include_the_core() -> None:
    with pytest.raises(InputError, match="kernels"):
        resolve_backend("core", ("core", "tpu"))
    with pytest.raises(InputError, match="kernels"):
        resolve_backend("numpy", ("numpy",))


def test_backends_lists_every_choice() -> None:
    assert BACKENDS == ("auto", "core", "cuda", "numpy")


CALLS: dict[str, Callable[[str], Any]] = {
    "polynomial_features": lambda b: polynomial_features(np.zeros((2, 1)), [0.0], backend=b),
    "MorphingBasis.weights": lambda b: MorphingBasis.from_points(
        [[-1.0], [0.0], [1.0]], [0.0]
    ).weights(np.zeros((2, 1)), backend=b),
    "target_statistics": lambda b: target_statistics(np.ones(3), backend=b),
    "copy_counts": lambda b: copy_counts(np.ones(3), 1.0, backend=b),
    "regroup_survivors": lambda b: regroup_survivors(np.array([0, 1]), 2, backend=b),
    "log_ratio_sums": lambda b: log_ratio_sums(np.ones((2, 3)), np.ones((1, 3)), backend=b),
}


@pytest.mark.parametrize("function", sorted(CALLS))
def test_every_switch_uses_the_resolver(function: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # One error type and one message for every function with a backend argument.
    with pytest.raises(InputError, match=r"^backend: expected 'auto', 'core'.* got 'gpu'$"):
        CALLS[function]("gpu")
    # "auto" is accepted everywhere and, without a GPU, is the C++ core bit for bit.
    fake_gpus(monkeypatch, None)
    auto, core = _arrays(CALLS[function]("auto")), _arrays(CALLS[function]("core"))
    assert len(auto) == len(core)
    for a, c in zip(auto, core, strict=True):
        assert (a is None) == (c is None)
        if a is not None:
            np.testing.assert_array_equal(a, c)


def _arrays(result: Any) -> list[Any]:
    """The arrays of a result (a tuple, a dataclass of arrays, or an array)."""
    if hasattr(result, "__dataclass_fields__"):
        return [getattr(result, f) for f in result.__dataclass_fields__]
    if isinstance(result, tuple):
        return list(result)
    return [result]


def test_resolve_device() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match=r"^\[training\] device: "):
        resolve_device("abacus", what="[training] device")
