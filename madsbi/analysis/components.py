"""The likelihood models of a fit: the signal alone, or the signal and its background components.

:func:`method_models` gives the :class:`~madsbi.inference.model.LikelihoodModel` of one method
(central estimate first, then each member) for :func:`madsbi.analysis.fit.fit`. A signal-only
analysis gets one component, exactly as before. An analysis with a ``"components"`` entry
(:mod:`madsbi.analysis.component_spec`, built by :mod:`madsbi.analysis.backgrounds`) gets the
factorised mixture of paper App. D (eq. 59 generalised), one component per process:

- shares f_c(x_e) = a_c D_c(x_e) / Σ_c' a_c' D_c'(x_e) from the process classifier's D_c(x)
  (trained with the class totals ``sigma_train_pb``), a_c = F_c σ_c / σ_c,train re-weighting
  them to the cross-sections of the fit (F_c: the data's rate factor for the signal, the
  background's ``scale``; σ_c over the process's whole rate sample), since D_c ∝ ν_c0 p_c(x);
- the signal's per-event ratio, rates and ν0 those of the signal-only fit of the method (each
  member of the signal's ensemble is one row; the backgrounds enter with their central
  estimates);
- a θ-dependent background's learned ratio (its derivative estimator on the data, each
  feature clipped to the range of the process's events: :meth:`Background.clipped`), ρ̂_c = its
  mean over the process's own events, ρ_P,c their exact rate (with ``poisson: exact``, else
  ρ̂_c), ν_c0 = L F_c σ_c,sel(θ0) in the data's selection; a θ-independent one R_c = 1.

Components whose ν_c0 is 0 contribute nothing to either term and are left out, so an analysis
whose backgrounds are switched off (``scale = 0``) fits exactly as its signal-only self. With
ρ̂_c ≠ ρ_P,c the mixture is not of the form C_e·Φ (:mod:`madsbi.inference.mixture`): it is
evaluated by :meth:`~madsbi.inference.model.LikelihoodModel.log_likelihood` (NumPy, float64).
:meth:`Mixture.yields` gives each component's ν_c(θ) for ``fit.json``.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.analysis.component_report import EDGES_GEV, OBSERVABLE, StackInputs, bin_index
from madsbi.analysis.component_spec import SIGNAL, ComponentsSpec, parse_components
from madsbi.analysis.data import selection_mask
from madsbi.analysis.nuisances import COMPONENT
from madsbi.analysis.schema import load_npz, member_path
from madsbi.errors import InputError, StoreFormatError
from madsbi.inference.model import Component, LikelihoodModel
from madsbi.inference.rate import FB_PER_PB, RateModel, expected_events

if TYPE_CHECKING:
    from madsbi.analysis.load import Analysis
    from madsbi.analysis.prepare import FitData

EXACT = "exact"


@dataclass(frozen=True, eq=False)
class Background:
    """A background process of an analysis, loaded: its events at θ0 and its learned ratio."""

    name: str
    observables: dict[str, FloatArray]
    ratios: FloatArray
    weights: FloatArray
    estimator: Any | None
    sigma_train_pb: float
    scale: float

    def inputs(self, features: list[str], keep: Any) -> FloatArray:
        """The selected events' network inputs (N, d)."""
        return np.stack([self.observables[f][keep] for f in features], axis=1)

    def clipped(self, x: FloatArray, features: list[str]) -> FloatArray:
        """Inputs x (N, d) clipped per feature to the range of this process's events.

        Its ratio was trained there only: outside, a network extrapolates without bound (a
        feature that is constant in its events, such as the W lepton's flavour of ZZ → 4ℓ
        with an escaping muon, standardises by a zero width). Data events outside the range
        are of other processes (their share D_c(x) is ≈ 0), so clipping changes the
        likelihood only through those negligible shares.
        """
        low = np.array([self.observables[f].min() for f in features])
        high = np.array([self.observables[f].max() for f in features])
        result: FloatArray = np.clip(x, low, high)
        return result


@dataclass(frozen=True, eq=False)
class Loaded:
    """The components of an analysis: the classifier, every background, the pooled ensemble.

    ``pooled``: the ensemble of :mod:`madsbi.analysis.pooled` (None when not trained).
    """

    spec: ComponentsSpec
    classifier: Any
    backgrounds: tuple[Background, ...]
    pooled: Any | None = None


_CACHE: weakref.WeakKeyDictionary[Any, Loaded] = weakref.WeakKeyDictionary()


def components_spec(analysis: Analysis) -> ComponentsSpec | None:
    """The analysis's parsed ``"components"`` (None for a signal-only analysis)."""
    try:
        return parse_components(
            analysis.manifest.get("components"), str(analysis.path / "analysis.json")
        )
    except InputError as exc:
        raise StoreFormatError(str(exc)) from None


def component_names(analysis: Analysis) -> tuple[str, ...]:
    """The components an analysis's nuisances may name: ``signal`` and its backgrounds."""
    spec = components_spec(analysis)
    return (COMPONENT,) if spec is None else tuple(spec.names)


def load_components(analysis: Analysis) -> Loaded | None:
    """Load (once per analysis object) the classifier, the backgrounds and the pooled ensemble.

    Raises
    ------
    StoreFormatError
        A bad entry or events file; a classifier whose classes or inputs are not the
        analysis's; a pooled ensemble of other inputs.
    CheckpointError, MissingFileError
        A network that cannot be loaded.
    """
    spec = components_spec(analysis)
    if spec is None:
        return None
    if analysis in _CACHE:
        return _CACHE[analysis]
    from madsbi.estimators.classifier import ProcessClassifier
    from madsbi.estimators.loading import load_any_estimator
    from madsbi.inference.likelihood import NonNegativeRatio

    root = analysis.path
    where = str(root / "analysis.json")
    classifier = ProcessClassifier.load(member_path(root, spec.classifier, "components.classifier"))
    if list(classifier.classes) != spec.names or classifier.n_inputs != len(analysis.features):
        raise StoreFormatError(
            f"{where}: components.classifier has the classes {list(classifier.classes)} and "
            f"{classifier.n_inputs} inputs; the manifest names {spec.names} and the analysis "
            f"has {len(analysis.features)} features"
        )
    projection = analysis.manifest["projection"]
    k = analysis.theta0.shape[0]
    n_coef = (k + 1) * (k + 2) // 2
    loaded = []
    for b in spec.backgrounds:
        field = f"components.backgrounds.{b.name}"
        arrays = load_npz(member_path(root, b.events, f"{field}.events"), f"{field}.events")
        weights = arrays.get("weights")
        ratios = arrays.get("coefficients")
        if weights is None or ratios is None or ratios.shape != (weights.shape[0], n_coef):
            raise StoreFormatError(
                f"{where}: {field}.events: expected weights (N,) and coefficients (N, {n_coef})"
            )
        observables = {key[4:]: v for key, v in arrays.items() if key.startswith("obs_")}
        missing = [f for f in analysis.features if f not in observables]
        if missing:
            raise StoreFormatError(f"{where}: {field}.events: no obs_ arrays for {missing}")
        estimator = None
        if b.ratio is not None:
            estimator = load_any_estimator(member_path(root, b.ratio, f"{field}.ratio"))
            if projection["kind"] != "none":
                keep_ref = bool(projection["keep_reference"])
                estimator = NonNegativeRatio.wrap(estimator, keep_reference=keep_ref)
        loaded.append(
            Background(
                b.name,
                observables,
                np.asarray(ratios, np.float64),
                np.asarray(weights, np.float64),
                estimator,
                b.sigma_train_pb,
                b.scale,
            )
        )
    pooled = None
    if spec.pooled is not None:
        pooled = load_any_estimator(member_path(root, spec.pooled.ratio, "components.pooled.ratio"))
        if getattr(pooled, "n_inputs", len(analysis.features)) != len(analysis.features):
            raise StoreFormatError(
                f"{where}: components.pooled.ratio takes {pooled.n_inputs} inputs, the "
                f"analysis has {len(analysis.features)} features"
            )
        if projection["kind"] != "none":
            keep_ref = bool(projection["keep_reference"])
            pooled = NonNegativeRatio.wrap(pooled, keep_reference=keep_ref)
    result = Loaded(spec, classifier, tuple(loaded), pooled)
    _CACHE[analysis] = result
    return result


@dataclass(frozen=True, eq=False)
class Mixture:
    """The components of a fit's model for ``fit.json``: names, ν_c0 and Poisson rates.

    ``stack`` and ``reliability``: the figures' summaries
    (:mod:`madsbi.analysis.component_report`), None when they cannot be made.
    """

    names: tuple[str, ...]
    expected_events0: tuple[float, ...]
    rates: tuple[RateModel, ...]
    features: Any
    shares: tuple[float, ...]
    stack: StackInputs | None = None
    reliability: dict[str, Any] | None = None

    def yields(self, theta: Any) -> dict[str, float]:
        """ν_c(θ) = ν_c0 ρ_P,c(θ) of every component (0 for a switched-off one)."""
        grid = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        phi = self.features(grid)
        return {
            name: float(nu * rate.ratio(phi)[0, 0]) if nu > 0 else 0.0
            for name, nu, rate in zip(self.names, self.expected_events0, self.rates, strict=True)
        }

    def report(self, best_fit: FloatArray, parameters: list[str]) -> dict[str, Any]:
        """The ``components`` entry of a method in ``fit.json``."""
        sm = np.zeros(len(parameters))
        out = {
            "names": list(self.names),
            "expected_events0": dict(zip(self.names, self.expected_events0, strict=True)),
            "data_share": dict(zip(self.names, self.shares, strict=True)),
            "yields_best_fit": self.yields(best_fit),
            "yields_sm": self.yields(sm),
        }
        if self.stack is not None:
            out["stack"] = self.stack.report(best_fit)
        if self.reliability is not None:
            out["reliability"] = self.reliability
        return out


def method_models(
    analysis: Analysis, data: FitData, method: str, *, collapse: bool = True
) -> tuple[list[LikelihoodModel], float, Mixture | None]:
    """Likelihood models of the central estimate (first) and every member, ν_sel(θ0), mixture.

    ``collapse``: a mixture whose every component has ρ_P,c = ρ̂_c (an analysis with
    ``poisson: learned``) is exactly of the form C_e·Φ and becomes one component
    (:func:`madsbi.inference.mixture.collapse`) for the compiled scans; with exact Poisson
    rates it stays a mixture (NumPy).

    The oracle methods that read the data's hidden truth, and the reliability curve, are
    added by :func:`madsbi.analysis.oracles.fit_models` (what ``madsbi fit`` calls).

    Raises
    ------
    StoreFormatError
        The exact method on data without coefficients or with another θ0.
    """
    models, nu0, signal_rate = _signal_models(analysis, data, method)
    loaded = load_components(analysis)
    if loaded is None:
        return models, nu0, None
    mixed, mixture = _with_backgrounds(analysis, data, loaded, models, signal_rate)
    if collapse and all(c.poisson_rate is None for m in mixed for c in m.components):
        from madsbi.inference.mixture import collapse as collapsed

        # κ_c = ρ_P,c/ρ̂_c = 1 for every component and θ: the check on θ0 holds everywhere
        mixed = [collapsed(m, analysis.theta0[None]) for m in mixed]
    return mixed, nu0, mixture


def _signal_models(
    analysis: Analysis, data: FitData, method: str
) -> tuple[list[LikelihoodModel], float, RateModel]:
    from madsbi.inference.likelihood import exact_event_coefficients

    if method == EXACT:
        if data.coefficients is None:
            raise StoreFormatError(
                f"{data.description['store']}: the exact ratio needs /parton/coefficients"
            )
        if not np.allclose(data.theta0, analysis.theta0, rtol=0, atol=1e-12):
            raise StoreFormatError(
                f"{data.description['store']}: θ0 {data.theta0.tolist()} differs from the "
                f"analysis's {analysis.theta0.tolist()}; the exact coefficients are not comparable"
            )
        from madsbi.theory.polynomial import polynomial_features

        rate, sigma = analysis.exact_rate_model(data.selections)
        rows = [(exact_event_coefficients(data.coefficients), rate)]

        def features(grid: FloatArray) -> FloatArray:
            return polynomial_features(grid, analysis.theta0)

        log1p = True
        poisson = None
    else:
        model = analysis.models[method]
        members = np.asarray(model.event_coefficients(data.features), dtype=np.float64)
        central, sigma = analysis.rate_model(method, data.selections, central=True)
        every, _ = analysis.rate_model(method, data.selections, central=False)
        rows = [(members.mean(0), central)]
        rows += [(members[m], every.member(m)) for m in range(members.shape[0])]
        features = model.grid_features
        log1p = bool(model.log1p)
        poisson = (
            analysis.exact_rate_model(data.selections)[0]
            if analysis.poisson_rate == "exact"
            else None
        )
    nu0 = float(expected_events(data.luminosity_fb * FB_PER_PB, sigma, data.rate_factor))
    models = [
        LikelihoodModel.single(
            c,
            features,
            rate,
            expected_events0=nu0,
            weights=data.weights,
            poisson_rate=poisson,
            log1p=log1p,
            n_observed=data.n_observed,
            name=COMPONENT,
        )
        for c, rate in rows
    ]
    return models, nu0, (poisson if poisson is not None else rows[0][1])


def background_yields(data: FitData, b: Background) -> tuple[Any, FloatArray, float]:
    """A background's events in the data's selection: the mask, v_e (pb) and ν_c0."""
    keep = selection_mask(b.observables, data.selections, b.weights.shape[0])
    v = b.weights[keep]
    lumi = data.luminosity_fb * FB_PER_PB
    nu = float(expected_events(lumi, float(v.sum()), b.scale)) if b.scale > 0 else 0.0
    return keep, v, nu


def fit_shares(analysis: Analysis, data: FitData, loaded: Loaded) -> FloatArray:
    """f_c(x_e) = a_c D_c(x_e)/Σ a_c' D_c'(x_e) of the data events (module docstring), (N, C)."""
    factors = [data.rate_factor * analysis.sigma0_pb / loaded.spec.signal_sigma_train_pb]
    for b in loaded.backgrounds:
        nu = background_yields(data, b)[2]
        # a process without events in the selection has no share there either
        factors.append(b.scale * float(b.weights.sum()) / b.sigma_train_pb if nu > 0 else 0.0)
    d = np.asarray(loaded.classifier.event_fractions(data.features), dtype=np.float64)
    weighted = d * np.asarray(factors)[None, :]
    result: FloatArray = weighted / weighted.sum(axis=1, keepdims=True)
    return result


def fit_mixture(
    analysis: Analysis,
    data: FitData,
    loaded: Loaded,
    components: tuple[Sequence[str], Sequence[float], Sequence[RateModel]],
    phi: Any,
    shares: FloatArray,
    reliability: dict[str, Any] | None = None,
) -> Mixture:
    """The :class:`Mixture` of a fit: names, ν_c0 and rates, the data's mean shares, the stack.

    ``shares`` (N, C) are each data event's component fractions; the mixture records their
    weighted mean over the data.
    """
    names, nus, rates = components
    w = np.ones(shares.shape[0]) if data.weights is None else np.asarray(data.weights)
    return Mixture(
        tuple(names),
        tuple(float(x) for x in nus),
        tuple(rates),
        phi,
        tuple(float(x) for x in (w @ shares) / w.sum()),
        stack_of(analysis, data, loaded),
        reliability,
    )


def stack_of(analysis: Analysis, data: FitData, loaded: Loaded) -> StackInputs | None:
    """The m_T^WZ stack's inputs (:mod:`madsbi.analysis.component_report`); None without it."""
    from madsbi.theory.polynomial import polynomial_features

    if OBSERVABLE not in analysis.features:
        return None
    column = analysis.features.index(OBSERVABLE)
    lumi = data.luminosity_fb * FB_PER_PB
    x, v = analysis.rate_event_features(data.selections)
    c, _ = analysis.exact_rate_events(data.selections)
    bins, weights, coefficients = (
        [bin_index(x[:, column], EDGES_GEV)],
        [lumi * data.rate_factor * v],
        [c],
    )
    for b in loaded.backgrounds:
        keep, vb, _ = background_yields(data, b)
        bins.append(bin_index(b.observables[OBSERVABLE][keep], EDGES_GEV))
        weights.append(lumi * b.scale * vb)
        coefficients.append(b.ratios[keep])

    def phi(grid: FloatArray) -> FloatArray:
        return polynomial_features(grid, analysis.theta0)

    return StackInputs(
        tuple(loaded.spec.names),
        tuple(bins),
        tuple(weights),
        tuple(coefficients),
        phi,
        bin_index(data.features[:, column], EDGES_GEV),
        np.asarray(data.weights, dtype=np.float64),
    )


def _with_backgrounds(
    analysis: Analysis,
    data: FitData,
    loaded: Loaded,
    models: list[LikelihoodModel],
    signal_rate: RateModel,
) -> tuple[list[LikelihoodModel], Mixture]:
    """The signal-only models with the background components added (module docstring)."""
    from madsbi.theory.polynomial import polynomial_features

    n = data.features.shape[0]
    signal = models[0].components[0]
    comps: list[tuple[Background, FloatArray, RateModel, RateModel | None, float]] = []
    for b in loaded.backgrounds:
        keep, v, nu = background_yields(data, b)
        if b.estimator is None or not nu > 0:
            k = b.ratios.shape[1]
            unit = RateModel(np.eye(k)[:1])
            coefficients = np.broadcast_to(np.eye(k)[0], (n, k)).copy()
            comps.append((b, coefficients, unit, None, nu))
            continue
        own = np.asarray(b.estimator.event_coefficients(b.inputs(analysis.features, keep)))
        rate = RateModel.from_event_coefficients(own.mean(0, keepdims=True), v)
        exact = RateModel.from_event_coefficients(b.ratios[keep], v)
        poisson = exact if analysis.poisson_rate == "exact" else None
        inputs = b.clipped(data.features, analysis.features)
        coefficients = np.asarray(b.estimator.event_coefficients(inputs)).mean(0)
        comps.append((b, coefficients, rate, poisson, nu))
    shares = fit_shares(analysis, data, loaded)
    names = (SIGNAL, *(b.name for b, *_ in comps))
    nus = (signal.expected_events0, *(nu for *_, nu in comps))
    rates = (signal_rate, *((p if p is not None else r) for _, _, r, p, _ in comps))

    def phi(grid: FloatArray) -> FloatArray:
        return polynomial_features(grid, analysis.theta0)

    mixture = fit_mixture(analysis, data, loaded, (names, nus, rates), phi, shares)
    active = [i for i, (*_, nu) in enumerate(comps) if nu > 0]
    if not active:
        return models, mixture
    out = []
    for model in models:
        s = model.components[0]
        members = s.n_members
        parts = [replace(s, event_fractions=shares[:, 0].copy())]
        for i in active:
            b, c, rate, poisson, nu = comps[i]
            parts.append(
                Component(
                    b.name,
                    np.broadcast_to(c, (members, n, c.shape[1])).copy(),
                    phi,
                    rate,
                    nu,
                    poisson,
                    True,
                    shares[:, i + 1].copy(),
                )
            )
        out.append(replace(model, components=tuple(parts)))
    return out, mixture
