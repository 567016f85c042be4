"""Predictive densities and uncertainties of a BINN from weight draws (Sec. 3, 3.5).

- :func:`predictive_density`: p(x) and σ_pred(x) at given phase-space points from M weight
  draws θ_i ~ q(θ) (eq. 32).
- :func:`marginal_histograms`: marginalised densities p(o) and σ_pred(o) of observables o(x)
  from M weight draws × N events (Sec. 3.5), either with new latent points for every draw
  or with the same N latent points for all draws.
- :func:`generate_events`: events with their per-event σ_pred/p (eq. 2).

Every function draws with its own seeded generator, so results are reproducible, and leaves
the Bayesian layers in their training mode ("local") afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.generative.inn import INN
from madsbi.nn.bayesian import resample_weights, set_mode

#: Events per forward pass when evaluating or sampling.
CHUNK = 16_384

Observables = Callable[[FloatArray], Mapping[str, FloatArray]]


@dataclass(frozen=True)
class PredictiveDensity:
    """Density at points x from M weight draws: ``draws`` (M, n), mean p and σ_pred (n,)."""

    draws: FloatArray
    mean: FloatArray
    std: FloatArray


@dataclass(frozen=True)
class MarginalHistogram:
    """Normalised histograms of one observable from M weight draws.

    ``draws`` (M, n_bins) are densities (counts / (N · bin width)); ``mean`` and ``std``
    over draws are p(o) and σ_pred(o) of eq. 33–34.
    """

    edges: FloatArray
    draws: FloatArray

    @property
    def mean(self) -> FloatArray:
        """p(o) per bin."""
        result: FloatArray = self.draws.mean(0)
        return result

    @property
    def std(self) -> FloatArray:
        """σ_pred(o) per bin (zero for a single draw)."""
        if self.draws.shape[0] < 2:
            return np.zeros(self.draws.shape[1])
        result: FloatArray = self.draws.std(0, ddof=1)
        return result


@dataclass(frozen=True)
class GeneratedEvents:
    """Generated events x (n, dim) with p(x) and σ_pred(x) from the weight draws (eq. 2)."""

    x: FloatArray
    density: FloatArray
    sigma: FloatArray

    @property
    def sigma_over_p(self) -> FloatArray:
        """Relative uncertainty σ_pred/p per event."""
        result: FloatArray = self.sigma / np.maximum(self.density, np.finfo(np.float64).tiny)
        return result


@contextmanager
def weight_draws(model: INN, seed: int) -> Iterator[torch.Generator]:
    """Put ``model`` into shared-draw mode; yields the generator for :func:`next_draw`."""
    was_training = model.training
    model.eval()
    set_mode(model, "sample")
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    try:
        yield generator
    finally:
        set_mode(model, "local")
        model.train(was_training)


def next_draw(model: INN, generator: torch.Generator) -> None:
    """Draw one weight set θ_i ~ q(θ) shared by all events (no-op for a plain INN)."""
    resample_weights(model, generator)


def _check_draws(n_draws: int) -> None:
    if n_draws < 1:
        raise InputError(f"n_draws: expected >= 1, got {n_draws}")


def _density(model: INN, x: torch.Tensor) -> FloatArray:
    out = [model.log_prob(x[i : i + CHUNK]).exp() for i in range(0, x.shape[0], CHUNK)]
    result: FloatArray = torch.cat(out).cpu().numpy().astype(np.float64)
    return result


@torch.no_grad()
def predictive_density(
    model: INN, x: object, n_draws: int = 30, seed: int = 0
) -> PredictiveDensity:
    """p(x) and σ_pred(x) of eq. 32 from ``n_draws`` weight draws.

    Parameters
    ----------
    model : INN
        A trained (B)INN; a plain INN gives σ_pred = 0.
    x : array_like, shape (n, dim)
        Phase-space points.
    n_draws : int
        Weight draws M (paper: 30–50).
    seed : int
        Seed of the weight draws.

    Returns
    -------
    PredictiveDensity
    """
    _check_draws(n_draws)
    points = as_float_array(x, "x", (None, model.dim))
    dtype = model.dtype
    device = model.device
    tensor = torch.as_tensor(points, dtype=dtype, device=device)
    draws = []
    with weight_draws(model, seed) as generator:
        for _ in range(n_draws if model.config.bayesian else 1):
            next_draw(model, generator)
            draws.append(_density(model, tensor))
    stacked = np.stack(draws)
    std = stacked.std(0, ddof=1) if stacked.shape[0] > 1 else np.zeros(points.shape[0])
    return PredictiveDensity(stacked, stacked.mean(0), std)


def _sample(
    model: INN, n: int, generator: torch.Generator, latent: torch.Tensor | None
) -> FloatArray:
    chunks = []
    device = model.device
    dtype = model.dtype
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        if latent is None:
            z = torch.randn(size, model.dim, generator=generator, device=device, dtype=dtype)
        else:
            z = latent[start : start + size]
        x, _ = model(z)
        chunks.append(x.cpu().numpy().astype(np.float64))
    return np.concatenate(chunks)


@torch.no_grad()
def marginal_histograms(
    model: INN,
    observables: Observables,
    bins: Mapping[str, object],
    *,
    n_draws: int = 30,
    n_samples: int = 100_000,
    fixed_latent: bool = False,
    seed: int = 0,
) -> dict[str, MarginalHistogram]:
    """Marginalised densities and σ_pred of observables from M draws × N events (Sec. 3.5).

    For each weight draw θ_i, N events x_j = G(z_j; θ_i) are generated and every observable
    is histogrammed; mean and standard deviation over the M histograms approximate p(o) and
    σ_pred(o) (eq. 33–34). With ``fixed_latent`` the same z_j serve every draw (the second
    procedure of Sec. 3.5: fewer statistical fluctuations, N effective points).

    Parameters
    ----------
    model : INN
    observables : callable
        Maps events (n, dim) to ``{name: values (n,)}``.
    bins : mapping of name to bin edges
        One entry per observable to histogram.
    n_draws, n_samples : int
        M and N.
    fixed_latent : bool
        Reuse the latent points for all draws.
    seed : int

    Returns
    -------
    dict of str to MarginalHistogram
    """
    _check_draws(n_draws)
    if n_samples < 1:
        raise InputError(f"n_samples: expected >= 1, got {n_samples}")
    edges = {name: as_float_array(e, f"bins[{name!r}]", (None,)) for name, e in bins.items()}
    for name, e in edges.items():
        if e.shape[0] < 2 or np.any(np.diff(e) <= 0):
            raise InputError(f"bins[{name!r}]: expected at least 2 increasing edges")
    per_draw: dict[str, list[FloatArray]] = {name: [] for name in edges}
    with weight_draws(model, seed) as generator:
        latent_generator = torch.Generator(device=generator.device).manual_seed(seed + 1)
        latent = None
        if fixed_latent:
            latent = torch.randn(
                n_samples,
                model.dim,
                generator=latent_generator,
                device=model.device,
                dtype=model.dtype,
            )
        for _ in range(n_draws if model.config.bayesian else 1):
            next_draw(model, generator)
            x = _sample(model, n_samples, latent_generator, latent)
            values = observables(x)
            for name, e in edges.items():
                if name not in values:
                    raise InputError(f"bins: no observable {name!r}; have {sorted(values)}")
                counts, _ = np.histogram(values[name], bins=e)
                per_draw[name].append(counts / (n_samples * np.diff(e)))
    return {name: MarginalHistogram(edges[name], np.stack(per_draw[name])) for name in edges}


@torch.no_grad()
def generate_events(model: INN, n: int, *, n_draws: int = 30, seed: int = 0) -> GeneratedEvents:
    """``n`` events from the BINN with p(x) and σ_pred(x) per event (eq. 2).

    The events are split into ``n_draws`` equal parts, each generated with its own weight
    draw, i.e. drawn from the predictive density ∫dθ q(θ) p(x|θ); every event is then
    evaluated under all ``n_draws`` weight draws (eq. 32).
    """
    _check_draws(n_draws)
    if n < 1:
        raise InputError(f"n: expected >= 1 events, got {n}")
    parts = []
    with weight_draws(model, seed) as generator:
        latent_generator = torch.Generator(device=generator.device).manual_seed(seed + 1)
        m = n_draws if model.config.bayesian else 1
        sizes = [n // m + (1 if i < n % m else 0) for i in range(m)]
        for size in sizes:
            next_draw(model, generator)
            if size:
                parts.append(_sample(model, size, latent_generator, None))
    x = np.concatenate(parts)
    density = predictive_density(model, x, n_draws=n_draws, seed=seed + 2)
    return GeneratedEvents(x, density.mean, density.std)
