"""A log-normal normalisation uncertainty (pyhf's ``normsys`` with exponential interpolation).

η_c(α) = (1 + σ)^α on the expected events ν_c of every component it names, with a unit
Gaussian constraint log π(α) = −α²/2: α = ±1 scales ν_c by (1 + σ)^±1, and η stays positive
for every α (the luminosity, a process's cross-section, a background normalisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import InputError
from madsbi.inference.modifiers.interpolation import Terms, gaussian_constraint


@dataclass(frozen=True)
class Normalisation:
    """η(α) = (1 + σ)^α on the named components' ν; constraint N(0, 1).

    Attributes
    ----------
    name : str
        The nuisance parameter's name.
    sigma : float
        The relative 1σ uncertainty (0.02 for 2 %), > 0.
    components : tuple of str
        The components it scales; empty: all of them (the luminosity).
    """

    name: str
    sigma: float
    components: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise InputError(f"{self.name}: sigma must be a finite value > 0, got {self.sigma!r}")

    @classmethod
    def on(cls, name: str, sigma: float, components: Sequence[str] = ()) -> Normalisation:
        """Build from any sequence of component names."""
        return cls(name, float(sigma), tuple(components))

    def rate_factor(self, component: str, alpha: float) -> float:
        """(1 + σ)^α for a component it acts on, else 1."""
        if self.components and component not in self.components:
            return 1.0
        return float((1.0 + self.sigma) ** alpha)

    def event_log_factors(self, component: str, alpha: float) -> FloatArray | None:
        """None: a normalisation leaves the shapes alone."""
        return None

    def log_constraint(self, alpha: float) -> float:
        """−α²/2."""
        return -0.5 * alpha * alpha

    # -- vectorised terms for the profile (:mod:`madsbi.inference.profile`) -----------------
    def acts_on(self, component: str) -> bool:
        """Whether η_c depends on α."""
        return not self.components or component in self.components

    def has_event_factors(self, component: str) -> bool:
        """False: no per-event factor."""
        return False

    def log_rate_terms(self, component: str, alpha: FloatArray) -> Terms:
        """Log η_c(α) = α log(1 + σ) and its derivatives, of α's shape."""
        a = np.asarray(alpha, dtype=np.float64)
        slope = np.log1p(self.sigma) if self.acts_on(component) else 0.0
        zero = np.zeros_like(a)
        return slope * a, zero + slope, zero

    def event_log_terms(self, component: str, alpha: FloatArray) -> Terms | None:
        """None: no per-event factor."""
        return None

    def event_sum_terms(self, component: str, weights: FloatArray, alpha: FloatArray) -> Terms:
        """Σ_e w_e log r_c(x_e|α) = 0."""
        zero = np.zeros_like(np.asarray(alpha, dtype=np.float64))
        return zero, zero, zero

    def constraint_terms(self, alpha: FloatArray) -> Terms:
        """−α²/2 and its derivatives."""
        return gaussian_constraint(alpha)
