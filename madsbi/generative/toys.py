"""The two-dimensional toy densities of bellagente2022 Sec. 3, with exact sampling and truth.

- wedge ramp p(x, y) = 2x on [0, 1]² (eq. 17),
- kicker ramp p(x, y) = 3x² on [0, 1]² (eq. 24),
- Gaussian half-ring p(r, φ) = Gauss(r; μ = 4, w = 1) × 1/π on φ ∈ [0, π] (eq. 28–30),
  in Cartesian coordinates p(x, y) = Gauss(r)/(π r) (the Gaussian truncated to r > 0).

Each toy knows its support (used to refuse training data outside it), the paper's reduced
range without the unstable boundaries, and the lines of constant y (or φ) along which the
density and σ_pred are studied (Figs. 2, 4, 6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import ConfigError

TOYS = ("wedge", "kicker", "ring")
RING_MU = 4.0
RING_WIDTH = 1.0


@dataclass(frozen=True)
class ToyDensity:
    """One toy density.

    Attributes
    ----------
    name : str
        ``"wedge"``, ``"kicker"`` or ``"ring"``.
    support : tuple of (low, high) per coordinate
        Where events may lie.
    line_range : (low, high)
        Reduced range of the physical coordinate (x, or r for the ring).
    cross_range : (low, high)
        Reduced range of the trivial coordinate (y, or φ for the ring).
    """

    name: str
    support: tuple[tuple[float, float], ...]
    line_range: tuple[float, float]
    cross_range: tuple[float, float]

    @property
    def line_label(self) -> str:
        """Axis label of the physical coordinate."""
        return "r" if self.name == "ring" else "x"

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` exact events (n, 2)."""
        if n < 1:
            raise ConfigError(f"n: expected >= 1 events, got {n}")
        if self.name == "ring":
            r = np.empty(0)
            while r.size < n:  # truncation at r > 0 removes a fraction 3e-5
                draw = rng.normal(RING_MU, RING_WIDTH, size=n)
                r = np.concatenate([r, draw[draw > 0]])
            r = r[:n]
            phi = rng.uniform(0.0, math.pi, size=n)
            return np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1)
        u, y = rng.random(n), rng.random(n)
        power = 2.0 if self.name == "wedge" else 3.0
        x = u ** (1.0 / power)
        return np.stack([x, y], axis=1)

    def density(self, points: FloatArray) -> FloatArray:
        """True p(x, y) at points (n, 2); zero outside the support."""
        x, y = points[:, 0], points[:, 1]
        if self.name == "ring":
            r = np.hypot(x, y)
            norm = 0.5 * (1.0 + math.erf(RING_MU / (math.sqrt(2.0) * RING_WIDTH)))
            gauss = np.exp(-0.5 * ((r - RING_MU) / RING_WIDTH) ** 2) / (
                math.sqrt(2.0 * math.pi) * RING_WIDTH * norm
            )
            value = gauss / (math.pi * np.maximum(r, 1e-300))
            result: FloatArray = np.where(y >= 0, value, 0.0)
            return result
        inside = (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)
        value = 2.0 * x if self.name == "wedge" else 3.0 * x**2
        result = np.where(inside, value, 0.0)
        return result

    def line_points(self, line: FloatArray, cross: float) -> FloatArray:
        """Points (n, 2) along the physical coordinate at a fixed y (or φ)."""
        if self.name == "ring":
            return np.stack([line * math.cos(cross), line * math.sin(cross)], axis=1)
        return np.stack([line, np.full_like(line, cross)], axis=1)

    def marginal_observables(self, events: FloatArray) -> dict[str, FloatArray]:
        """The coordinates to marginalise onto: (x, y), or (r, φ) and (x, y) for the ring."""
        result = {"x": events[:, 0], "y": events[:, 1]}
        if self.name == "ring":
            result["r"] = np.hypot(events[:, 0], events[:, 1])
            result["phi"] = np.arctan2(events[:, 1], events[:, 0])
        return result

    def marginal_truth(self, name: str, edges: FloatArray) -> FloatArray | None:
        """Exact bin-averaged marginal density of an observable, where it is simple."""
        lo, hi = edges[:-1], edges[1:]
        width = hi - lo
        if self.name in ("wedge", "kicker"):
            power = 2.0 if self.name == "wedge" else 3.0
            if name == "x":
                cdf_hi = np.clip(hi, 0, 1) ** power
                cdf_lo = np.clip(lo, 0, 1) ** power
                result: FloatArray = (cdf_hi - cdf_lo) / width
                return result
            if name == "y":
                result = (np.clip(hi, 0, 1) - np.clip(lo, 0, 1)) / width
                return result
            return None
        if name == "phi":
            result = (np.clip(hi, 0, math.pi) - np.clip(lo, 0, math.pi)) / (math.pi * width)
            return result
        if name == "r":
            norm = 0.5 * (1.0 + math.erf(RING_MU / (math.sqrt(2.0) * RING_WIDTH)))

            def cdf(v: FloatArray) -> FloatArray:
                z = (np.maximum(v, 0.0) - RING_MU) / (math.sqrt(2.0) * RING_WIDTH)
                erf = np.vectorize(math.erf)(z)
                base = 0.5 * (1.0 + math.erf(-RING_MU / (math.sqrt(2.0) * RING_WIDTH)))
                out: FloatArray = (0.5 * (1.0 + erf) - base) / norm
                return out

            result = (cdf(hi) - cdf(lo)) / width
            return result
        return None


def toy(name: str) -> ToyDensity:
    """The toy called ``name`` with the paper's reduced ranges (Sec. 3.1–3.3)."""
    if name == "wedge":
        return ToyDensity("wedge", ((0.0, 1.0), (0.0, 1.0)), (0.1, 0.9), (0.1, 0.9))
    if name == "kicker":
        return ToyDensity("kicker", ((0.0, 1.0), (0.0, 1.0)), (0.05, 0.95), (0.05, 0.95))
    if name == "ring":
        # The paper gives no numbers for the ring; we keep 2w around the mean radius and
        # stay 0.2 rad away from the y = 0 edges of the half ring.
        return ToyDensity(
            "ring",
            ((-math.inf, math.inf), (0.0, math.inf)),
            (RING_MU - 2.0 * RING_WIDTH, RING_MU + 2.0 * RING_WIDTH),
            (0.2, math.pi - 0.2),
        )
    raise ConfigError(f"toy: expected one of {TOYS}, got {name!r}")
