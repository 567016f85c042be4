"""The two-Gaussian toy model of paper Sec. 3, with every quantity known analytically.

Parton level (eq. 41), with dσ(z|θ) = N(z; 0, 1) + θ² N(z; α, 0.1) and σ(θ) = 1 + θ²::

    p(z|θ) = [N(z; 0, 1) + θ² N(z; α, 0.1)] / (1 + θ²)

Smearing (eq. 42): x = z + N(0, 0.7). Reco level (eq. 43), Gaussians convolve::

    p(x|θ) = [N(x; 0, √(1 + 0.7²)) + θ² N(x; α, √(0.1² + 0.7²))] / (1 + θ²)

Likelihood ratio (eq. 44 as printed is garbled; this is the normalised ratio p(x|θ)/p(x|θ0))::

    r(x|θ, θ0) = (1 + θ0²) [M1(x) + θ² M2(x)] / ((1 + θ²) [M1(x) + θ0² M2(x)])

with M1, M2 the two reco Gaussians. Coefficients follow the package convention (docs/design.md):
dσ(·|θ) = c·φ(θ − θ0) with φ = (1, Δθ, Δθ²), so c = (D1 + θ0² D2, 2 θ0 D2, D2) for the
densities D1, D2 at parton or reco level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._progress import progress_bar
from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.events import schema
from madsbi.events.meta import ShardInfo, StoreMeta
from madsbi.events.writer import StoreWriter
from madsbi.simulate._smearing_reference import splitmix64
from madsbi.theory.parameters import ParameterSpace

SM_WIDTH = 1.0
BSM_WIDTH = 0.1
SMEARING_WIDTH = 0.7


def normal_pdf(x: FloatArray, mean: float, width: float) -> FloatArray:
    """N(x; mean, width)."""
    result: FloatArray = np.exp(-0.5 * ((x - mean) / width) ** 2) / (width * math.sqrt(2 * math.pi))
    return result


def _theta(theta: Any, name: str = "theta") -> float:
    value = float(theta)
    if not math.isfinite(value):
        raise InputError(f"{name}: expected a finite number, got {theta!r}")
    return value


@dataclass(frozen=True)
class ToyModel:
    """The toy model for a separation ``alpha`` of the two Gaussians (paper: 1.5, 3, 4).

    Parameters
    ----------
    alpha : float
        Mean of the narrow θ-dependent Gaussian.
    smearing : float
        Width of the Gaussian detector smearing (paper: 0.7).
    """

    alpha: float
    smearing: float = SMEARING_WIDTH

    def __post_init__(self) -> None:
        if not math.isfinite(self.alpha):
            raise InputError(f"alpha: expected a finite number, got {self.alpha}")
        if not (self.smearing > 0 and math.isfinite(self.smearing)):
            raise InputError(f"smearing: expected a finite width > 0, got {self.smearing}")

    # -- widths of the reco-level Gaussians -----------------------------------------------
    @property
    def reco_sm_width(self) -> float:
        """√(1 + s²) (paper: 1.22)."""
        return math.hypot(SM_WIDTH, self.smearing)

    @property
    def reco_bsm_width(self) -> float:
        """√(0.1² + s²) (paper: 0.71)."""
        return math.hypot(BSM_WIDTH, self.smearing)

    # -- densities ------------------------------------------------------------------------
    def _parton_parts(self, z: Any) -> tuple[FloatArray, FloatArray]:
        zz = as_float_array(z, "z")
        return normal_pdf(zz, 0.0, SM_WIDTH), normal_pdf(zz, self.alpha, BSM_WIDTH)

    def _reco_parts(self, x: Any) -> tuple[FloatArray, FloatArray]:
        xx = as_float_array(x, "x")
        return normal_pdf(xx, 0.0, self.reco_sm_width), normal_pdf(
            xx, self.alpha, self.reco_bsm_width
        )

    @staticmethod
    def cross_section(theta: Any) -> FloatArray:
        """σ(θ) = 1 + θ² (arbitrary units, "pb" in stores)."""
        t = as_float_array(theta, "theta")
        result: FloatArray = 1.0 + t**2
        return result

    def parton_density(self, z: Any, theta: Any) -> FloatArray:
        """p(z|θ), eq. 41."""
        d1, d2 = self._parton_parts(z)
        t = _theta(theta)
        result: FloatArray = (d1 + t**2 * d2) / (1 + t**2)
        return result

    def reco_density(self, x: Any, theta: Any) -> FloatArray:
        """p(x|θ), eq. 43."""
        m1, m2 = self._reco_parts(x)
        t = _theta(theta)
        result: FloatArray = (m1 + t**2 * m2) / (1 + t**2)
        return result

    def likelihood_ratio(self, x: Any, theta: Any, theta0: Any = 0.0) -> FloatArray:
        """r(x|θ, θ0) = p(x|θ)/p(x|θ0) (eq. 44, normalised)."""
        return self.reco_density(x, theta) / self.reco_density(x, theta0)

    def log_likelihood_ratio(self, x: Any, theta: Any, theta0: Any = 0.0) -> FloatArray:
        """Log r(x|θ, θ0)."""
        return np.log(self.likelihood_ratio(x, theta, theta0))

    # -- coefficients and derivatives -----------------------------------------------------
    @staticmethod
    def _coefficients(d1: FloatArray, d2: FloatArray, theta0: float) -> FloatArray:
        return np.stack([d1 + theta0**2 * d2, 2.0 * theta0 * d2, d2], axis=-1)

    def parton_coefficients(self, z: Any, theta0: Any = 0.0) -> FloatArray:
        """c(z) with dσ(z|θ) = c·(1, Δθ, Δθ²), shape (..., 3): the joint coefficients."""
        d1, d2 = self._parton_parts(z)
        return self._coefficients(d1, d2, _theta(theta0, "theta0"))

    def reco_coefficients(self, x: Any, theta0: Any = 0.0) -> FloatArray:
        """c(x) with dσ(x|θ) = c·(1, Δθ, Δθ²), shape (..., 3): the reco-level truth."""
        m1, m2 = self._reco_parts(x)
        return self._coefficients(m1, m2, _theta(theta0, "theta0"))

    def reco_derivatives(self, x: Any, theta0: Any = 0.0) -> tuple[FloatArray, FloatArray]:
        """R_θ(x) and R_θθ(x): first and second θ-derivatives of R(x|θ, θ0) at θ0 (eq. 28).

        With c = (c0, c1, c2): R_θ = c1/c0 and R_θθ = 2 c2/c0 (the Taylor factor 2).
        """
        c = self.reco_coefficients(x, theta0)
        return c[..., 1] / c[..., 0], 2.0 * c[..., 2] / c[..., 0]

    # -- sampling -------------------------------------------------------------------------
    def sample_parton(self, n: int, theta: Any, rng: np.random.Generator) -> FloatArray:
        """N draws of z from p(z|θ)."""
        t = _theta(theta)
        bsm = rng.random(n) < t**2 / (1 + t**2)
        z = rng.normal(0.0, SM_WIDTH, n)
        z[bsm] = rng.normal(self.alpha, BSM_WIDTH, int(bsm.sum()))
        return z

    def smear(self, z: FloatArray, rng: np.random.Generator) -> FloatArray:
        """X = z + N(0, smearing), eq. 42."""
        result: FloatArray = z + rng.normal(0.0, self.smearing, z.shape)
        return result

    def smear_with_seeds(self, z: FloatArray, seeds: Any) -> FloatArray:
        """X = z + N(0, smearing) with one counter-based seed per event (fractional smearing).

        Each copy's Gaussian comes from its own 64-bit seed (Box–Muller on two uniforms
        derived from it by SplitMix64), so a copy's x does not depend on how the sample was
        split into jobs (docs/design.md, fractional smearing).
        """
        s = np.asarray(seeds, dtype=np.uint64)
        if s.shape != np.shape(z):
            raise InputError(f"seeds: expected shape {np.shape(z)}, got {s.shape}")
        scale = 2.0**-53
        first = splitmix64(s)
        u1 = ((first >> np.uint64(11)).astype(np.float64) + 0.5) * scale
        u2 = ((splitmix64(first) >> np.uint64(11)).astype(np.float64) + 0.5) * scale
        normal = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)
        result: FloatArray = np.asarray(z, dtype=np.float64) + self.smearing * normal
        return result


def toy_meta(
    model: ToyModel, theta: float, theta0: float, theta_range: tuple[float, float]
) -> StoreMeta:
    """Store metadata of a toy sample; the basis is θ0 − 1, θ0, θ0 + 1 (paper Sec. 3.1)."""
    space = ParameterSpace.from_names(["theta"], theta0=[theta0], ranges=[theta_range])
    return StoreMeta(
        space=space,
        basis_ids=("theta0-1", "theta0", "theta0+1"),
        basis_points=np.array([[theta0 - 1.0], [theta0], [theta0 + 1.0]]),
        process="toy: two Gaussians (bahl2025 eq. 41-44)",
        attributes={
            "model": "toy",
            "alpha": model.alpha,
            "smearing": model.smearing,
            "theta_generated": theta,
        },
    )


def generate_toy_store(
    output: str | Path,
    *,
    alpha: float,
    theta: float,
    n_events: int,
    theta0: float = 0.0,
    seed: int = 0,
    theta_range: tuple[float, float] = (-1.5, 1.5),
    chunk_size: int = 1_000_000,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Sample the toy at θ and write parton z, reco x and exact coefficients to a store.

    Weights follow the store convention (mean weight = σ(θ) = 1 + θ²); the coefficients of
    each event reproduce its weight at any θ': w_e(θ') = c_e·φ(θ' − θ0).
    """
    if n_events < 1:
        raise InputError(f"n_events: expected >= 1, got {n_events}")
    if chunk_size < 1:
        raise InputError(f"chunk_size: expected >= 1, got {chunk_size}")
    t, t0 = _theta(theta), _theta(theta0, "theta0")
    model = ToyModel(alpha)
    meta = toy_meta(model, t, t0, theta_range)
    sigma = float(ToyModel.cross_section(t))
    n_chunks = -(-n_events // chunk_size)
    streams = np.random.SeedSequence(seed).spawn(n_chunks)
    with (
        StoreWriter(output, meta, overwrite=overwrite) as writer,
        progress_bar(n_events, "toy events", unit="ev", enabled=progress) as bar,
    ):
        for i, stream in enumerate(streams):
            rng = np.random.default_rng(stream)
            n = min(chunk_size, n_events - i * chunk_size)
            z = model.sample_parton(n, t, rng)
            x = model.smear(z, rng)
            c = model.parton_coefficients(z, t0)
            phi_gen = np.array([1.0, t - t0, (t - t0) ** 2])
            weight = np.full(n, sigma)
            coefficients = c * (weight / (c @ phi_gen))[:, None]
            start = writer.n_events()
            writer.append(
                schema.PARTON,
                {"weight": weight, "coefficients": coefficients, "features": z[:, None]},
                names={"features": ["z"]},
            )
            writer.append(
                schema.RECO,
                {
                    "x": x[:, None],
                    "weight": weight,
                    "smearing_weight": np.ones(n),
                    "parent": np.arange(start, start + n),
                    "copy_index": np.zeros(n, dtype=np.int32),
                },
                names={"x": ["x"]},
            )
            bar.update(n)
        writer.set_shards((ShardInfo(f"toy-seed{seed}", n_events, seed, "toy"),))
    return Path(output)
