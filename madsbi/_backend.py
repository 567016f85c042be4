"""Loading of the compiled modules and device dispatch.

``madsbi._core`` (C++, always built) and ``madsbi._core_cuda`` (built with ``MADSBI_CUDA=ON``)
are private: the typed Python API calls them through this module.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from madsbi.errors import BackendError, InputError

#: Every value a ``backend`` argument can take; each function accepts "auto" and its kernels.
BACKENDS = ("auto", "core", "cuda", "numpy")
#: The kernels of a function that has no GPU implementation.
CPU_KERNELS = ("core", "numpy")


@functools.cache
def core() -> ModuleType:
    """Return the compiled CPU module ``madsbi._core``.

    Raises
    ------
    BackendError
        If the extension was not built (e.g. running from a source tree without installing).
    """
    try:
        from madsbi import _core
    except ImportError as exc:  # pragma: no cover - only when the build is broken
        raise BackendError(
            "madsbi._core is not importable: install madsbi with `pip install .` so that "
            f"the C++ core is compiled ({exc})"
        ) from exc
    return _core


def call_core(name: str, *args: Any) -> Any:
    """Call ``madsbi._core.<name>``; its std::invalid_argument (ValueError) becomes InputError."""
    try:
        return getattr(core(), name)(*args)
    except ValueError as exc:
        raise InputError(str(exc)) from None


@functools.cache
def core_cuda() -> ModuleType | None:
    """Return ``madsbi._core_cuda`` if it was built, else ``None``."""
    try:
        from madsbi import _core_cuda
    except ImportError:
        return None
    return _core_cuda


def cuda_built() -> bool:
    """Whether the CUDA module was compiled into this installation."""
    return core_cuda() is not None


def has_cuda() -> bool:
    """Whether the CUDA kernels can run here: module built and at least one GPU visible."""
    module = core_cuda()
    return module is not None and int(module.device_count()) > 0


def require_cuda(what: str) -> ModuleType:
    """Return ``madsbi._core_cuda`` for ``what`` (e.g. "backend='cuda'"), or say why not.

    Raises
    ------
    BackendError
        If madsbi was built without ``MADSBI_CUDA=ON``, or no CUDA device is visible.
    """
    module = core_cuda()
    if module is None:
        raise BackendError(
            f"{what}: madsbi was built without MADSBI_CUDA=ON (no madsbi._core_cuda)"
        )
    if int(module.device_count()) == 0:
        raise BackendError(f"{what}: no CUDA device is visible (no GPU, or no driver)")
    return module


def _one_of(values: Sequence[str]) -> str:
    quoted = [repr(v) for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def resolve_backend(
    name: object, kernels: Sequence[str] = ("core", "cuda", "numpy"), *, what: str = "backend"
) -> str:
    """The one backend switch of madsbi: ``name`` → the kernel to run.

    Parameters
    ----------
    name : str
        ``"auto"`` (the GPU when ``"cuda"`` is among ``kernels`` and a GPU is usable, else
        the C++ core), or one of ``kernels`` by name.
    kernels : sequence of str
        The implementations the caller has, a subset of ``("core", "cuda", "numpy")``
        containing ``"core"``: ``"core"`` the compiled CPU kernel, ``"cuda"`` the GPU
        kernel, ``"numpy"`` the NumPy reference.
    what : str
        The argument's name in messages.

    Returns
    -------
    str
        ``"core"``, ``"cuda"`` or ``"numpy"``.

    Raises
    ------
    InputError
        If ``name`` is not ``"auto"`` or one of ``kernels``; the message names ``what`` and
        lists the accepted values.
    BackendError
        If ``name`` is ``"cuda"`` and madsbi was built without ``MADSBI_CUDA=ON`` or no GPU is
        visible: raised before any work, saying which.
    """
    if "core" not in kernels or not set(kernels) <= set(BACKENDS[1:]):
        raise InputError(f"kernels: expected a subset of {BACKENDS[1:]} with 'core', got {kernels}")
    allowed = ("auto", *kernels)
    if not isinstance(name, str) or name not in allowed:
        raise InputError(f"{what}: expected {_one_of(allowed)}, got {name!r}")
    if name == "auto":
        return "cuda" if "cuda" in kernels and has_cuda() else "core"
    if name == "cuda":
        require_cuda(f"{what}='cuda'")
    return name


def call_cuda(name: str, *args: Any, what: str = "backend='cuda'") -> Any:
    """Call ``madsbi._core_cuda.<name>``, mapping its errors to madsbi's.

    ValueError becomes InputError and RuntimeError (a CUDA failure) BackendError; without the
    module or a device, BackendError (:func:`require_cuda`).
    """
    module = require_cuda(what)
    try:
        return getattr(module, name)(*args)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    except RuntimeError as exc:
        raise BackendError(f"{what}: CUDA kernel {name} failed: {exc}") from None
