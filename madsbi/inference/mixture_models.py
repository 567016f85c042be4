"""Likelihood models of a mixture of processes: factorised, pooled, and the two oracles.

All four give a :class:`~madsbi.inference.model.LikelihoodModel` on the data events x
(paper App. D, eqs. 56–59, for any number of processes, θ-dependent ones included):

- :func:`factorised_model`: the process classifier's shares D_c(x)
  (:class:`~madsbi.estimators.classifier.ProcessClassifier`) and one derivative estimator per
  θ-dependent process (R_c = 1 for a θ-independent one), one component per process;
- :func:`pooled_model`: one derivative estimator trained on all processes
  (:func:`~madsbi.inference.processes.pooled_training_set`), which learns the mixture's
  C_e = Σ_c D_c(x) C^c(x) directly: one component of ν0 = Σ_c ν_c0;
- :func:`oracle_labelled_model`: each event's process and its exact coefficients, the
  extended likelihood of (z, c): the shares are one-hot;
- :func:`oracle_unlabelled_model`: exact per-process coefficients with learned shares.

Rates: ρ̂_c is the mean of the component's C^c over its process's θ0 sample (eq. 34, exact
for exact coefficients); ``exact_poisson=True`` puts the exact ρ_c (of that sample's exact
coefficients) into the Poisson term. A factorised model whose ρ̂_c ≠ ρ_P,c is not of the form
C_e·Φ (:mod:`madsbi.inference.mixture`); without ``exact_poisson`` it is, and
:func:`madsbi.inference.mixture.collapse` turns it into one component for the compiled scans.

The yields ν_c0 must be those the shares were trained for (the class totals of the training
weights, F L σ_c(θ0)): a process scaled by its own factor needs its sample scaled as well
(:meth:`~madsbi.inference.processes.ProcessSample.scaled`) before training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from madsbi._validate import FloatArray, IntArray, as_float_array
from madsbi.errors import InputError
from madsbi.inference.model import Component, Features, LikelihoodModel
from madsbi.inference.processes import ProcessSample, mixture_rate
from madsbi.inference.rate import RateModel


class RatioEstimator(Protocol):
    """A per-event ratio C_e (M, N, K) of inputs x.

    For example a :class:`~madsbi.estimators.derivative.DerivativeEstimator`.
    """

    def event_coefficients(self, x: Any) -> FloatArray:
        """C_e per member, (M, N, K)."""


class ShareEstimator(Protocol):
    """Process shares D_c(x) (a :class:`~madsbi.estimators.classifier.ProcessClassifier`)."""

    @property
    def classes(self) -> tuple[str, ...]:
        """The process names in class order."""

    def event_fractions(self, x: Any) -> FloatArray:
        """D_c(x), (N, C)."""


def _constant(members: int, n: int, k: int) -> FloatArray:
    c = np.zeros((members, n, k))
    c[..., 0] = 1.0
    return c


def _members(arrays: Sequence[FloatArray | None]) -> int:
    counts = {a.shape[0] for a in arrays if a is not None} - {1}
    if len(counts) > 1:
        raise InputError(f"coefficients: members {sorted(counts)} differ between processes")
    return counts.pop() if counts else 1


def mixture_model(
    fractions: Any,
    coefficients: Sequence[FloatArray | None],
    samples: Sequence[ProcessSample],
    sample_coefficients: Sequence[FloatArray | None],
    yields: Any,
    features: Features,
    *,
    exact_poisson: bool = False,
    weights: Any | None = None,
    n_observed: float | None = None,
    backend: str = "auto",
) -> LikelihoodModel:
    """One component per process from shares and per-process coefficients.

    Parameters
    ----------
    fractions : (N, C)
        f_c(x_e) of the data events.
    coefficients : sequence of (M, N, K), (N, K) or None
        C^c_e of the data events per process; None: θ-independent (1, 0, …, 0).
    samples : sequence of ProcessSample
        Each process's θ0 sample (its rates).
    sample_coefficients : sequence of (M, N_c, K), (N_c, K) or None
        C^c of each process's own sample (ρ̂_c = their v-weighted mean); None: θ-independent.
    yields : (C,)
        ν_c0.
    features : callable
        The common Φ(θ).
    exact_poisson : bool
        ρ_P,c = the exact rate of each θ-dependent sample
        (:meth:`~madsbi.inference.processes.ProcessSample.rate`).
    weights, n_observed, backend
        As :class:`~madsbi.inference.model.LikelihoodModel`.

    Raises
    ------
    InputError
        Lengths that disagree.
    """
    nu = as_float_array(yields, "yields", (len(samples),))
    n_proc = len(samples)
    if not (len(coefficients) == len(sample_coefficients) == n_proc):
        raise InputError(f"coefficients: expected {n_proc} entries per process")
    k = samples[0].coefficients.shape[1]
    f = as_float_array(fractions, "fractions")
    if f.ndim != 2 or f.shape[1] != n_proc:
        raise InputError(f"fractions: expected (N, {n_proc}), got {f.shape}")
    n = f.shape[0]
    data = [None if c is None else np.asarray(c, float).reshape(-1, n, k) for c in coefficients]
    m = _members(data)
    components = []
    for i, p in enumerate(samples):
        c = data[i]
        own = sample_coefficients[i]
        if c is None or not p.sigma0 > 0:  # θ-independent, or switched off (ν_c0 = 0)
            coeff = _constant(m, n, k) if c is None else np.broadcast_to(c, (m, n, k)).copy()
            rate, poisson = RateModel(_constant(1, 1, k)[0]), None
        else:
            coeff = np.broadcast_to(c, (m, n, k)).copy()
            rate = RateModel.from_event_coefficients(
                np.asarray(own, float).reshape(-1, p.n_events, k), p.weights
            )
            poisson = p.rate() if exact_poisson else None
        components.append(
            Component(p.name, coeff, features, rate, float(nu[i]), poisson, True, f[:, i].copy())
        )
    w = None if weights is None else as_float_array(weights, "weights", (n,))
    return LikelihoodModel(tuple(components), w, n_observed, (), backend)


def factorised_model(
    x: Any,
    classifier: ShareEstimator,
    ratios: Mapping[str, RatioEstimator | None],
    samples: Sequence[ProcessSample],
    yields: Any,
    features: Features,
    **kwargs: Any,
) -> LikelihoodModel:
    """Eq. 59 generalised: the classifier's D_c(x) and a learned ratio per θ-dependent process.

    ``samples`` in the classifier's class order; ``ratios[name]`` None (or absent) for a
    θ-independent process. Keywords as :func:`mixture_model`.
    """
    names = [p.name for p in samples]
    if list(classifier.classes) != names:
        raise InputError(f"samples: expected the classifier's order {classifier.classes}")
    data, own = [], []
    for p in samples:
        est = ratios.get(p.name)
        data.append(None if est is None else est.event_coefficients(x))
        own.append(None if est is None else est.event_coefficients(p.x))
    fractions = classifier.event_fractions(x)
    return mixture_model(fractions, data, samples, own, yields, features, **kwargs)


def pooled_model(
    x: Any,
    estimator: RatioEstimator,
    samples: Sequence[ProcessSample],
    yields: Any,
    features: Features,
    *,
    exact_poisson: bool = False,
    weights: Any | None = None,
    n_observed: float | None = None,
    backend: str = "auto",
) -> LikelihoodModel:
    """One network for the mixture: C_e = R̂(x_e), ρ̂ = Σ_c (ν_c0/ν0) ⟨R̂⟩_c, ν0 = Σ_c ν_c0.

    ``exact_poisson``: ρ_P = Σ_c (ν_c0/ν0) ρ_c with the samples' exact rates.
    """
    nu = as_float_array(yields, "yields", (len(samples),))
    rates = [
        RateModel.from_event_coefficients(estimator.event_coefficients(p.x), p.weights)
        if p.sigma0 > 0
        else RateModel.build(np.eye(p.coefficients.shape[1])[0])
        for p in samples
    ]
    rate = mixture_rate(rates, nu)
    poisson = mixture_rate([p.rate() for p in samples], nu) if exact_poisson else None
    return LikelihoodModel.single(
        estimator.event_coefficients(x),
        features,
        rate,
        expected_events0=float(nu.sum()),
        weights=weights,
        poisson_rate=poisson,
        log1p=True,
        n_observed=n_observed,
        name="pooled",
        backend=backend,
    )


def one_hot(labels: Any, n_classes: int) -> FloatArray:
    """Shares that know each event's process: (N, C) rows of 0 and one 1."""
    lab = np.asarray(labels)
    if lab.ndim != 1 or not np.issubdtype(lab.dtype, np.integer):
        raise InputError(f"labels: expected a 1D integer array, got {lab.dtype} {lab.shape}")
    if lab.size and (lab.min() < 0 or lab.max() >= n_classes):
        raise InputError(f"labels: expected classes in [0, {n_classes})")
    out = np.zeros((lab.shape[0], n_classes))
    out[np.arange(lab.shape[0]), lab] = 1.0
    return out


def oracle_labelled_model(
    labels: Any,
    own_ratios: Any,
    samples: Sequence[ProcessSample],
    yields: Any,
    features: Features,
    **kwargs: Any,
) -> LikelihoodModel:
    """The oracle of p(z, c|θ): each data event's process ``labels`` (N,) and its exact C_e.

    ``own_ratios`` (N, K): c_e/c_e0 of each data event in its own process (1, 0, … for a
    θ-independent one). Rates exact (ρ̂_c = ρ_c), so the model collapses to C_e = own ratios.
    """
    own = as_float_array(own_ratios, "own_ratios", (None, samples[0].coefficients.shape[1]))
    f = one_hot(labels, len(samples))
    if f.shape[0] != own.shape[0]:
        raise InputError(f"labels: {f.shape[0]} events, own_ratios has {own.shape[0]}")
    data = [own if p.theta_dependent else None for p in samples]
    exact = [p.ratios() if p.theta_dependent else None for p in samples]
    return mixture_model(f, data, samples, exact, yields, features, **kwargs)


def oracle_unlabelled_model(
    fractions: Any,
    exact: Sequence[FloatArray | None],
    samples: Sequence[ProcessSample],
    yields: Any,
    features: Features,
    **kwargs: Any,
) -> LikelihoodModel:
    """Exact per-process coefficients C^c_e (N, K) of the data events with shares D_c(x).

    The truth that does not know the label: ``exact[c]`` None for a θ-independent process;
    :func:`own_or` fills a process's column for the events of other processes.
    """
    own = [p.ratios() if p.theta_dependent else None for p in samples]
    data = [None if e is None else as_float_array(e, "exact") for e in exact]
    return mixture_model(fractions, data, samples, own, yields, features, **kwargs)


def own_or(
    labels: Any, index: int, own_ratios: Any, other: Callable[[IntArray], FloatArray]
) -> FloatArray:
    """C^c_e of process ``index`` for every data event: exact for its own events, else ``other``.

    ``other(rows)`` gives (len(rows), K) for the row indices of the events of other processes
    (a learned ratio of those events, or an analytic one).

    Raises
    ------
    InputError
        ``labels`` and ``own_ratios`` of different lengths, or ``other`` of the wrong shape.
    """
    lab = np.asarray(labels)
    out = np.array(as_float_array(own_ratios, "own_ratios", (lab.shape[0], None)), copy=True)
    rows = np.flatnonzero(lab != index)
    if rows.size:
        filled = np.asarray(other(rows), dtype=float)
        if filled.shape != (rows.size, out.shape[1]):
            raise InputError(f"other: expected ({rows.size}, {out.shape[1]}), got {filled.shape}")
        out[rows] = filled
    return out
