"""Training sets of a mixture of processes at θ0: classifier data and the pooled regression.

Each process c (signal, a θ-dependent background such as ZZ, a θ-independent one such as
the fakes) comes as a :class:`ProcessSample`: its selected events' inputs x_e, their exact
coefficients c_e in the analysis's common basis (a store of fewer parameters embedded by
:mod:`madsbi.events.embed`; a θ-independent one has c_e = (c_e0, 0, …, 0)) and their weights
v_e at θ0 in pb, Σ_e v_e = σ_c(θ0) after the selection (events generated elsewhere are
reweighted by :func:`madsbi.inference.rate.mis_weights`). The expected yields are then
ν_c0 = F L Σ_{e∈c} v_e.

Why these weights. With every event weighted by v_e, the training distribution of (x, z, c)
is Σ_c ν_c0 p_c(x, z|θ0) up to one constant, so

- the weighted cross-entropy over the labels c is minimised by the shares
  D_c(x) = ν_c0 p_c(x|θ0)/Σ_c' ν_c'0 p_c'(x|θ0) (:func:`classifier_data`);
- the weighted MSE of the targets t_k(z, c) = c_k/c_0 of each event's own process (zero
  for a θ-independent one) is minimised by
  E[t_k|x] = Σ_c D_c(x) E_c[t_k(z)|x] = Σ_c D_c(x) C^c_k(x),
  the coefficients of the mixture's dσ(x|θ)/dσ(x|θ0) = Σ_c D_c(x) C^c(x)·φ(θ − θ0)
  (:func:`pooled_training_set`): one derivative network learns the mixture's R(x|θ) directly.

Equal weights per event instead (each process's sample size as its prior) would learn the
shares of the sample sizes, not of the cross-sections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, IntArray, as_float_array
from madsbi.errors import InputError, WeightError
from madsbi.inference.rate import FB_PER_PB, GeneratedSample, RateModel, expected_events
from madsbi.inference.rate import mis_weights as _mis_weights


@dataclass(frozen=True, eq=False)
class ProcessSample:
    """The selected events of one process at θ0.

    Attributes
    ----------
    name : str
    x : (N, d)
        Network inputs.
    coefficients : (N, K)
        Exact c_e in the common basis φ(θ − θ0), c_e0 > 0.
    weights : (N,)
        v_e at θ0 (pb): Σ_e v_e = σ_c(θ0) of the selection, Σ_e v_e c_e·φ/c_e0 = σ̂_c(θ).
    """

    name: str
    x: FloatArray
    coefficients: FloatArray
    weights: FloatArray

    @classmethod
    def build(
        cls,
        name: str,
        x: Any,
        coefficients: Any,
        weights: Any,
        *,
        n_coefficients: int | None = None,
    ) -> ProcessSample:
        """Validate; a θ-independent (N, 1) column becomes (c_e0, 0, …, 0) of ``n_coefficients``.

        Raises
        ------
        InputError
            Shapes that disagree, K = 1 without ``n_coefficients``, non-finite values.
        WeightError
            c_e0 ≤ 0 or negative weights.
        """
        xa = as_float_array(x, f"{name}: x")
        xa = xa[:, None] if xa.ndim == 1 else xa
        n = xa.shape[0]
        c = as_float_array(coefficients, f"{name}: coefficients", (n, None))
        if n_coefficients is not None and c.shape[1] != n_coefficients:
            if c.shape[1] != 1:
                raise InputError(
                    f"{name}: coefficients have {c.shape[1]} columns, the analysis has "
                    f"{n_coefficients} (embed the store: madsbi store embed)"
                )
            c = np.concatenate([c, np.zeros((n, n_coefficients - 1))], axis=1)
        w = as_float_array(weights, f"{name}: weights", (n,))
        if (c[:, 0] <= 0).any():
            row = int(np.argmax(c[:, 0] <= 0))
            raise WeightError(f"{name}: c_e0 must be > 0; event {row} has {c[row, 0]}")
        if (w < 0).any():
            raise WeightError(f"{name}: weights must be >= 0; event {int(np.argmax(w < 0))}")
        return cls(str(name), xa, c, w)

    @property
    def n_events(self) -> int:
        """N."""
        return int(self.x.shape[0])

    @property
    def sigma0(self) -> float:
        """σ_c(θ0) of the selection (pb): Σ_e v_e."""
        return float(self.weights.sum())

    @property
    def theta_dependent(self) -> bool:
        """Whether any event has a coefficient beyond c_e0."""
        return bool(np.any(self.coefficients[:, 1:] != 0))

    def ratios(self) -> FloatArray:
        """C_e = c_e/c_e0 (N, K): the joint targets and the exact per-event ratio form."""
        result: FloatArray = self.coefficients / self.coefficients[:, :1]
        return result

    def rate(self) -> RateModel:
        """ρ_c(θ) = σ̂_c(θ)/σ̂_c(θ0) from these events' exact coefficients (eq. 34, exact)."""
        return RateModel.from_event_coefficients(self.ratios(), self.weights)

    def scaled(self, factor: float) -> ProcessSample:
        """The same events with σ_c scaled by ``factor`` ≥ 0 (a K-factor, or 0: switched off)."""
        if not (np.isfinite(factor) and factor >= 0):
            raise InputError(f"{self.name}: factor must be finite and >= 0, got {factor}")
        return ProcessSample(self.name, self.x, self.coefficients, self.weights * float(factor))


def reference_sample(
    name: str,
    x: Any,
    coefficients: Any,
    weights: Any,
    *,
    theta_gen: Any,
    sigma_gen: float,
    theta0: Any,
    n_generated: int = 0,
    weight_total: float = 0.0,
    n_coefficients: int | None = None,
) -> ProcessSample:
    """Selected events generated at θ_gen, reweighted to θ0 by their exact coefficients.

    ``weights`` are the generation weights of the selected events; ``n_generated`` and
    ``weight_total`` those of the whole generated sample (defaults: the events are all of it),
    ``sigma_gen`` its σ(θ_gen) in pb (see :class:`madsbi.inference.rate.GeneratedSample`).
    """
    theta0 = as_float_array(theta0, "theta0", (None,))
    k = n_coefficients or (len(theta0) + 1) * (len(theta0) + 2) // 2
    raw = ProcessSample.build(name, x, coefficients, np.ones(np.shape(x)[0]), n_coefficients=k)
    sample = GeneratedSample(
        raw.coefficients,
        as_float_array(weights, f"{name}: weights", (raw.n_events,)),
        as_float_array(theta_gen, "theta_gen", (len(theta0),)),
        float(sigma_gen),
        channel=name,
        n_generated=n_generated,
        weight_total=weight_total,
    )
    (v,) = _mis_weights([sample], theta0)
    return ProcessSample(raw.name, raw.x, raw.coefficients, v)


def from_reco_samples(
    name: str, samples: Sequence[Any], theta0: Any, *, n_coefficients: int | None = None
) -> ProcessSample:
    """One process from reco samples of its stores (``RecoSample``-like), pooled by MIS.

    Each sample needs ``x``, ``coefficients``, ``weights`` (fiducial, pb), ``theta_gen``,
    ``sigma_gen`` and ``n_parents``; stores generated at different points (SM and BSM) are
    combined by the balance heuristic as one channel, so Σ v_e = σ̂_fid(θ0).

    Raises
    ------
    InputError
        No samples.
    """
    if not samples:
        raise InputError(f"{name}: no samples")
    theta0 = as_float_array(theta0, "theta0", (None,))
    k = n_coefficients or (len(theta0) + 1) * (len(theta0) + 2) // 2
    built = [
        ProcessSample.build(name, s.x, s.coefficients, s.weights, n_coefficients=k) for s in samples
    ]
    generated = [
        GeneratedSample(
            b.coefficients,
            b.weights,
            s.theta_gen,
            float(s.sigma_gen),
            channel=name,
            n_generated=int(s.n_parents),
            weight_total=float(s.sigma_gen),
        )
        for b, s in zip(built, samples, strict=True)
    ]
    v = np.concatenate(_mis_weights(generated, theta0))
    x = np.concatenate([b.x for b in built])
    c = np.concatenate([b.coefficients for b in built])
    return ProcessSample(str(name), x, c, v)


def expected_yields(
    processes: Sequence[ProcessSample], luminosity: float, rate_factor: float = 1.0
) -> FloatArray:
    """ν_c0 = F L σ_c(θ0) per process (L in fb⁻¹, σ in pb), (C,)."""
    sigma = np.array([p.sigma0 for p in processes]) * FB_PER_PB
    return expected_events(luminosity, sigma, rate_factor)


def _check(processes: Sequence[ProcessSample]) -> None:
    if not processes:
        raise InputError("processes: expected at least one")
    names = [p.name for p in processes]
    if len(set(names)) != len(names):
        raise InputError(f"processes: names must be distinct, got {names}")
    dims = {(p.x.shape[1], p.coefficients.shape[1]) for p in processes}
    if len(dims) != 1:
        raise InputError(f"processes: inputs or coefficients differ in width {sorted(dims)}")


def labels(processes: Sequence[ProcessSample]) -> IntArray:
    """The class label (index into ``processes``) of every event of the concatenation."""
    _check(processes)
    return np.concatenate([np.full(p.n_events, i, dtype=np.int64) for i, p in enumerate(processes)])


def classifier_data(
    processes: Sequence[ProcessSample],
) -> tuple[FloatArray, IntArray, FloatArray]:
    """Inputs (N, d), labels (N,) and weights v_e (N,) of the process classifier.

    The class totals of the weights are σ_c(θ0) ∝ ν_c0, so the classifier learns the shares
    D_c(x) of the likelihood (module docstring).

    Raises
    ------
    WeightError
        A process with Σ v_e = 0 (the classifier needs every class).
    """
    lab = labels(processes)
    for p in processes:
        if not p.sigma0 > 0:
            raise WeightError(f"{p.name}: σ(θ0) = 0; leave the process out of the classifier")
    x = np.concatenate([p.x for p in processes])
    w = np.concatenate([p.weights for p in processes])
    return x, lab, w


def pooled_training_set(
    processes: Sequence[ProcessSample],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The pooled derivative-learning set: inputs, each event's own process's C_e, weights.

    ``HypothesisSample.build(*pooled_training_set(processes))`` trained with
    :meth:`~madsbi.estimators.derivative.DerivativeEstimator.fit` learns Σ_c D_c(x) C^c(x),
    the mixture's per-event coefficients (module docstring). Events of processes with zero
    weight are left out; the weights are v_e scaled to mean 1.
    """
    _check(processes)
    kept = [p for p in processes if p.sigma0 > 0]
    if not kept:
        raise WeightError("processes: every process has σ(θ0) = 0")
    x = np.concatenate([p.x for p in kept])
    c = np.concatenate([p.ratios() for p in kept])
    w = np.concatenate([p.weights for p in kept])
    return x, c, w / w.mean()


def mixture_rate(rates: Sequence[RateModel], expected_events0: Any) -> RateModel:
    """ρ(θ) = ν(θ)/ν0 = Σ_c ν_c0 ρ_c(θ)/Σ_c ν_c0 of rates with 1 or M rows each.

    Raises
    ------
    InputError
        Lengths that differ, ν0 not > 0, members that do not broadcast.
    """
    nu = as_float_array(expected_events0, "expected_events0", (len(rates),))
    if not nu.sum() > 0 or (nu < 0).any():
        raise InputError(f"expected_events0: expected >= 0 with a positive sum, got {nu}")
    rows = {r.coefficients.shape[0] for r in rates} - {1}
    if len(rows) > 1:
        raise InputError(f"rates: members {sorted(rows)} do not broadcast")
    s = sum(n * r.coefficients for n, r in zip(nu, rates, strict=True)) / nu.sum()
    return RateModel(np.asarray(s, dtype=np.float64))
