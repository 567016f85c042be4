"""Training samples of one hypothesis and the joint quantities the losses regress on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError, WeightError
from madsbi.theory.polynomial import polynomial_features


@dataclass(frozen=True, eq=False)
class HypothesisSample:
    """Events simulated at one θ: reco inputs, parton coefficients and event weights.

    Attributes
    ----------
    x : ndarray (N, d)
        Network inputs (reco-level observables, or parton features at parton level).
    coefficients : ndarray (N, K)
        Each event's parton-level coefficients c_e (dσ(z_e|θ) ∝ c_e·φ(θ − θ0)); copies of a
        fractionally smeared event carry their parent's.
    weights : ndarray (N,)
        Event weights (fractional-smearing weights 1/n_e; ones for unweighted events).
    """

    x: FloatArray
    coefficients: FloatArray
    weights: FloatArray

    @classmethod
    def build(cls, x: Any, coefficients: Any, weights: Any | None = None) -> HypothesisSample:
        """Validate shapes and finiteness; ``weights`` default to ones."""
        xa = as_float_array(x, "x")
        if xa.ndim == 1:
            xa = xa[:, None]
        n = xa.shape[0]
        c = as_float_array(coefficients, "coefficients", (n, None))
        w = np.ones(n) if weights is None else as_float_array(weights, "weights", (n,))
        for name, arr in (("x", xa), ("coefficients", c), ("weights", w)):
            if not np.isfinite(arr).all():
                row = int(np.argwhere(~np.isfinite(arr))[0, 0])
                raise InputError(f"{name}: non-finite value in event {row}")
        if (c[:, 0] <= 0).any():
            row = int(np.argmax(c[:, 0] <= 0))
            raise WeightError(
                f"coefficients: the weight at θ0, c_0, must be > 0; event {row} has {c[row, 0]}"
            )
        return cls(xa, c, w)

    @property
    def n_events(self) -> int:
        """Number of events N."""
        return int(self.x.shape[0])

    def unnormalised_ratio(self, theta: Any, theta0: Any) -> FloatArray:
        """R(z_e|θ, θ0) = c_e·φ(θ − θ0)/c_e0 per event for one θ (eq. 26–27)."""
        phi = polynomial_features(np.atleast_2d(np.asarray(theta, dtype=float)), theta0)[0]
        result: FloatArray = (self.coefficients @ phi) / self.coefficients[:, 0]
        return result


def input_tensor(x: Any, n_inputs: int) -> torch.Tensor:
    """Network inputs (N, d) as float32; a 1D array is N events of one input."""
    xa = as_float_array(x, "x")
    if xa.ndim == 1:
        xa = xa[:, None]
    if xa.shape[1] != n_inputs:
        raise InputError(f"x: expected {n_inputs} columns, got {xa.shape[1]}")
    return as_tensor(xa)


def as_tensor(array: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A torch tensor of ``array`` (copying from read-only NumPy arrays)."""
    return torch.as_tensor(np.array(array), dtype=dtype)
