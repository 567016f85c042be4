"""A 1D mixture of processes where every factor is known: the test bed of App. D's methods.

One parameter θ (θ0 = 0), φ(θ) = (1, θ, θ²). A θ-dependent process is an amplitude
(1 + θβ(z + γ)) on a Gaussian parton variable z ~ N(μ, τ²) at θ0, smeared to x = z + N(0, s²):

    dσ(z|θ) = σ0 N(z; μ, τ²) (1 + θβ(z + γ))²,   c(z) ∝ (1, 2β(z + γ), β²(z + γ)²),
    σ(θ) = σ0 [1 + 2βθ(μ + γ) + β²θ²((μ + γ)² + τ²)],
    dσ(x|θ) = σ0 N(x; μ, τ² + s²) [1 + 2βθ m(x) + β²θ² (m(x)² + v)],

with m(x) = E[z + γ|x] = (μs² + xτ²)/(τ² + s²) + γ and v = Var[z|x] = τ²s²/(τ² + s²): the
reco-level coefficients C(x) = (1, 2βm, β²(m² + v)) are the conditional means of the joint
targets (eq. 14), known in closed form. A θ-independent process (fake leptons) is an
exponential x = x_min + Exp(λ). :func:`default_toy` has a signal, a θ-dependent background
and a θ-independent one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from madsbi._validate import FloatArray
from madsbi.inference.processes import ProcessSample


@dataclass(frozen=True)
class GaussianProcess:
    """A θ-dependent process of the toy (module docstring)."""

    name: str
    sigma0: float
    mu: float
    tau: float
    beta: float
    gamma: float

    def draw(self, n: int, rng: np.random.Generator, smearing: float) -> ProcessSample:
        """N unweighted events at θ0: x, exact c(z) and v_e = σ0/N."""
        z = rng.normal(self.mu, self.tau, n)
        x = z + rng.normal(0.0, smearing, n) if smearing > 0 else z
        u = z + self.gamma
        c = np.stack([np.ones(n), 2 * self.beta * u, self.beta**2 * u**2], axis=1)
        w = np.full(n, self.sigma0 / n)
        return ProcessSample.build(self.name, x, c * w[:, None], w)

    def reco_coefficients(self, x: FloatArray, smearing: float) -> FloatArray:
        """C(x) = (1, 2βm, β²(m² + v)) at reco level, (N, 3)."""
        t2, s2 = self.tau**2, smearing**2
        m = (self.mu * s2 + x * t2) / (t2 + s2) + self.gamma
        v = t2 * s2 / (t2 + s2)
        return np.stack([np.ones_like(x), 2 * self.beta * m, self.beta**2 * (m**2 + v)], axis=1)

    def density0(self, x: FloatArray, smearing: float) -> FloatArray:
        """dσ(x|θ0)/dx (pb per unit x)."""
        var = self.tau**2 + smearing**2
        result: FloatArray = (
            self.sigma0 * np.exp(-0.5 * (x - self.mu) ** 2 / var) / np.sqrt(2 * np.pi * var)
        )
        return result

    def rate(self) -> FloatArray:
        """S of σ(θ)/σ(θ0) = S·φ(θ), (3,)."""
        u = self.mu + self.gamma
        return np.array([1.0, 2 * self.beta * u, self.beta**2 * (u**2 + self.tau**2)])


@dataclass(frozen=True)
class ExponentialProcess:
    """A θ-independent process: x = x_min + Exp(λ)."""

    name: str
    sigma0: float
    x_min: float
    lam: float

    def draw(self, n: int, rng: np.random.Generator, smearing: float) -> ProcessSample:
        """N unweighted events; coefficients (σ0/N, 0, 0)."""
        x = self.x_min + rng.exponential(1.0 / self.lam, n)
        w = np.full(n, self.sigma0 / n)
        c = np.zeros((n, 3))
        c[:, 0] = w
        return ProcessSample.build(self.name, x, c, w)

    def reco_coefficients(self, x: FloatArray, smearing: float) -> FloatArray:
        """(1, 0, 0) for every event."""
        c = np.zeros((x.shape[0], 3))
        c[:, 0] = 1.0
        return c

    def density0(self, x: FloatArray, smearing: float) -> FloatArray:
        """dσ(x)/dx (pb per unit x)."""
        inside = x > self.x_min
        shifted = np.where(inside, x - self.x_min, 0.0)
        result: FloatArray = np.where(
            inside, self.sigma0 * self.lam * np.exp(-self.lam * shifted), 0.0
        )
        return result

    def rate(self) -> FloatArray:
        """(1, 0, 0)."""
        return np.array([1.0, 0.0, 0.0])


Process = GaussianProcess | ExponentialProcess


@dataclass(frozen=True)
class ToyMixture:
    """Processes and the smearing width s of the toy."""

    processes: tuple[Process, ...]
    smearing: float = 0.5

    @property
    def names(self) -> list[str]:
        """Process names in order."""
        return [p.name for p in self.processes]

    def draw(self, n: int | Sequence[int], seed: int) -> list[ProcessSample]:
        """N events of every process at θ0 (one count, or one per process)."""
        rng = np.random.default_rng(seed)
        counts = [n] * len(self.processes) if isinstance(n, int) else list(n)
        return [p.draw(k, rng, self.smearing) for p, k in zip(self.processes, counts, strict=True)]

    def shares(self, x: FloatArray) -> FloatArray:
        """D_c(x) = dσ_c(x|θ0)/Σ_c' dσ_c'(x|θ0), (N, C)."""
        d = np.stack([p.density0(x, self.smearing) for p in self.processes], axis=1)
        result: FloatArray = d / d.sum(axis=1, keepdims=True)
        return result

    def reco_coefficients(self, x: FloatArray) -> FloatArray:
        """C^c(x) of every process, (C, N, 3)."""
        return np.stack([p.reco_coefficients(x, self.smearing) for p in self.processes])

    def mixture_coefficients(self, x: FloatArray) -> FloatArray:
        """C(x) = Σ_c D_c(x) C^c(x): dσ(x|θ)/dσ(x|θ0) = C(x)·φ(θ), (N, 3)."""
        result: FloatArray = np.einsum("nc,cnk->nk", self.shares(x), self.reco_coefficients(x))
        return result

    def rates(self) -> FloatArray:
        """S_c of ρ_c(θ) = S_c·φ(θ) per process, (C, 3)."""
        return np.stack([p.rate() for p in self.processes])

    def sigma0(self) -> FloatArray:
        """σ_c(θ0) per process (pb)."""
        return np.array([p.sigma0 for p in self.processes])


def default_toy(background_scale: float = 1.0, smearing: float = 0.5) -> ToyMixture:
    """A signal, a θ-dependent background ("zz") and θ-independent fakes (scaled together)."""
    b = float(background_scale)
    return ToyMixture(
        (
            GaussianProcess("signal", 1.0, 0.0, 1.0, 0.6, 0.3),
            GaussianProcess("zz", 0.3 * b, 1.5, 0.7, -0.4, -1.0),
            ExponentialProcess("fakes", 0.2 * b, -1.5, 0.8),
        ),
        smearing,
    )


def mean_log_ratio(
    coefficients: FloatArray, rate: FloatArray, features: FloatArray, weights: FloatArray
) -> FloatArray:
    """⟨log r̂(x|θ, θ0)⟩ = Σ_e u_e(θ) log(C_e·Φ(θ)/ρ̂(θ)) / Σ_e u_e(θ) at G points, (G,).

    ``coefficients`` (N, K), ``rate`` (K,) the normalisation ρ̂ = rate·Φ, ``features`` (G, K),
    ``weights`` (G, N): the test events' weights at each θ (the sample reweighted to θ).
    """
    r = np.maximum(coefficients @ features.T, np.finfo(float).tiny)  # (N, G), clamped as
    logs = np.log(r) - np.log(features @ rate)[None, :]  # the grid scan clamps
    result: FloatArray = np.einsum("gn,ng->g", weights, logs) / weights.sum(axis=1)
    return result
