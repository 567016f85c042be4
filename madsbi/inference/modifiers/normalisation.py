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
