"""Validation of array arguments at the public boundary, with errors that name the argument."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi.errors import DtypeError, InputError, ShapeError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def _shape_text(shape: Sequence[int | None]) -> str:
    inner = ", ".join("*" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def check_shape(array: npt.NDArray[Any], name: str, shape: Sequence[int | None]) -> None:
    """Raise :class:`ShapeError` unless ``array`` has ``len(shape)`` axes matching ``shape``.

    ``None`` entries of ``shape`` accept any extent.
    """
    ok = array.ndim == len(shape) and all(
        want is None or got == want for got, want in zip(array.shape, shape, strict=False)
    )
    if not ok:
        raise ShapeError(f"{name}: expected shape {_shape_text(shape)}, got {tuple(array.shape)}")


def as_float_array(
    value: Any, name: str, shape: Sequence[int | None] | None = None, *, finite: bool = True
) -> FloatArray:
    """Return ``value`` as a C-contiguous float64 array, validating dtype, shape and finiteness.

    Integer and floating inputs are accepted (and widened to float64); booleans, complex
    numbers, strings and objects raise :class:`DtypeError`.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise DtypeError(f"{name}: expected a real-valued array, got dtype {array.dtype}")
    result = np.asarray(array, dtype=np.float64, order="C")
    if shape is not None:
        check_shape(result, name, shape)
    if finite and not np.all(np.isfinite(result)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(result))[0])
        raise InputError(f"{name}: non-finite value {result[bad]} at index {bad}")
    return result


def as_int_array(value: Any, name: str, shape: Sequence[int | None] | None = None) -> IntArray:
    """Return ``value`` as a C-contiguous int64 array; non-integer dtypes raise DtypeError."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise DtypeError(f"{name}: expected an integer array, got dtype {array.dtype}")
    result = np.asarray(array, dtype=np.int64, order="C")
    if shape is not None:
        check_shape(result, name, shape)
    return result


def as_grid(thetas: Any, name: str = "thetas") -> FloatArray:
    """θ points as (G, n) float64; a 1D array (G,) is read as G points of one parameter."""
    grid = as_float_array(thetas, name)
    return grid[:, None] if grid.ndim == 1 else grid


def as_thetas(
    value: Any, n_parameters: int, name: str = "thetas", *, finite: bool = True
) -> FloatArray:
    """Return θ points as a (G, n) float64 array; a single point (n,) becomes (1, n).

    ``finite=False`` skips the finiteness check for callers whose kernel checks it itself.
    """
    array = as_float_array(value, name, finite=finite)
    if array.ndim == 1 and array.shape[0] == n_parameters:
        array = array.reshape(1, n_parameters)
    check_shape(array, name, (None, n_parameters))
    return array
