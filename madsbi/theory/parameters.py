"""Parameters of interest (Wilson coefficients or toy couplings) and the reference point θ0."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import InputError, UnknownParameterError
from madsbi.theory.polynomial import n_coefficients


@dataclass(frozen=True)
class Parameter:
    """One component of θ.

    Parameters
    ----------
    name : str
        Name as in the model (e.g. ``"cHWB"``).
    block : str or None
        Param-card block (e.g. ``"SMEFT"``), ``None`` for parameters outside a param card.
    code : int or None
        Entry number inside ``block``.
    range : tuple of float or None
        Analysis range ``(low, high)``, used to choose morphing bases and scan grids.
    """

    name: str
    block: str | None = None
    code: int | None = None
    range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise InputError("Parameter.name: expected a non-empty string")
        if (self.block is None) != (self.code is None):
            raise InputError(
                f"Parameter {self.name!r}: give both block and code, or neither "
                f"(got block={self.block!r}, code={self.code!r})"
            )
        if self.range is not None:
            low, high = (float(v) for v in self.range)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise InputError(
                    f"Parameter {self.name!r}: range must be finite with low < high, "
                    f"got {self.range!r}"
                )
            object.__setattr__(self, "range", (low, high))


@dataclass(frozen=True)
class ParameterSpace:
    """The parameters of interest and the reference point θ0 (docs/design.md: Δθ = θ − θ0)."""

    parameters: tuple[Parameter, ...]
    theta0: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        params = tuple(self.parameters)
        object.__setattr__(self, "parameters", params)
        names = [p.name for p in params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InputError(f"parameters: names must be unique, repeated: {duplicates}")
        theta0 = tuple(float(v) for v in self.theta0) if self.theta0 else (0.0,) * len(params)
        if len(theta0) != len(params):
            raise InputError(
                f"theta0: expected {len(params)} values (one per parameter), got {len(theta0)}"
            )
        if not all(math.isfinite(v) for v in theta0):
            raise InputError(f"theta0: values must be finite, got {theta0}")
        object.__setattr__(self, "theta0", theta0)

    @classmethod
    def from_names(
        cls,
        names: Sequence[str],
        theta0: Sequence[float] | None = None,
        ranges: Sequence[tuple[float, float]] | None = None,
    ) -> ParameterSpace:
        """Build a space of parameters outside any param card (toy models)."""
        if ranges is not None and len(ranges) != len(names):
            raise InputError(f"ranges: expected {len(names)} ranges, got {len(ranges)}")
        params = tuple(
            Parameter(name, range=None if ranges is None else tuple(ranges[i]))  # type: ignore[arg-type]
            for i, name in enumerate(names)
        )
        return cls(params, tuple(theta0) if theta0 is not None else ())

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in θ order."""
        return tuple(p.name for p in self.parameters)

    @property
    def n_parameters(self) -> int:
        """Number of components n of θ."""
        return len(self.parameters)

    @property
    def n_coefficients(self) -> int:
        """K = 1 + n + n(n+1)/2."""
        return n_coefficients(self.n_parameters)

    @property
    def theta0_array(self) -> FloatArray:
        """θ0 as a float64 array of shape (n,)."""
        return np.asarray(self.theta0, dtype=np.float64)

    def index(self, name: str) -> int:
        """Position of parameter ``name`` in θ.

        Raises
        ------
        UnknownParameterError
            If no parameter has that name; the message lists the known names.
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise UnknownParameterError(
                f"unknown parameter {name!r}; known parameters: {list(self.names)}"
            ) from None

    def ranges(self) -> FloatArray:
        """Analysis ranges as an (n, 2) array.

        Raises
        ------
        InputError
            If a parameter has no range.
        """
        missing = [p.name for p in self.parameters if p.range is None]
        if missing:
            raise InputError(f"parameters without a range: {missing}; give range=(low, high)")
        return np.array([p.range for p in self.parameters], dtype=np.float64).reshape(-1, 2)
