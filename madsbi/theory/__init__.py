"""θ-space: parameters, the polynomial features φ(Δθ), morphing and basis choice."""

from __future__ import annotations

from madsbi.theory.basis import BasisChoice, optimise_basis
from madsbi.theory.morphing import MorphingBasis, morphing_matrix
from madsbi.theory.parameters import Parameter, ParameterSpace
from madsbi.theory.polynomial import (
    coefficient_labels,
    coefficients_from_derivatives,
    first_derivatives,
    joint_ratio,
    n_coefficients,
    polynomial_features,
    second_derivatives,
)

__all__ = [
    "BasisChoice",
    "MorphingBasis",
    "Parameter",
    "ParameterSpace",
    "coefficient_labels",
    "coefficients_from_derivatives",
    "first_derivatives",
    "joint_ratio",
    "morphing_matrix",
    "n_coefficients",
    "optimise_basis",
    "polynomial_features",
    "second_derivatives",
]
