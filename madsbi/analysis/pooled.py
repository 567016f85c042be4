"""The pooled mixture of an analysis with background components (``madsbi fit --method pooled``).

The alternative to the factorised mixture of :mod:`madsbi.analysis.components` (paper App. D):
instead of a process classifier and one ratio per process, **one** derivative-learning
ensemble is trained on the selected events of every process (the signal's classifier stores,
or the ``pooled_signal`` stores of :func:`~madsbi.analysis.backgrounds.add_backgrounds`, and
every background's), each event with its own process's exact joint targets
C_e = c_e/c_e0 and its cross-section weight v_e
(:func:`madsbi.inference.processes.pooled_training_set`), the targets scaled as the
analysis's signal network scales its own (:func:`target_scale_column`). It learns the
mixture's per-event ratio directly,

    R̂(x|θ) = Σ_c D_c(x) C^c(x)·φ(θ − θ0),

with the shares D_c of the training's cross-sections (the backgrounds' ``scale`` at the time
of training, recorded as ``components.pooled.scales``). ``madsbi analysis-backgrounds
--pooled`` trains it (:func:`train_pooled`) next to the factorised components and saves it
in ``components/pooled``. The network replaces the signal's own, so it needs as many signal
events: the factorised mixture reuses the analysis's large signal network, the pooled one
should learn from the analysis's training stores (``--pooled-signal``), not only from the
classifier's smaller signal sample.

The fit (:func:`pooled_models`, :func:`madsbi.inference.mixture_models.pooled_model`) has one
component of ν0 = Σ_c ν_c0, with ν_c0 in the data's selection as the factorised fit takes
them (the signal's from its rate events and the data's rate factor, a background's from its
events and its ``scale``; a switched-off process is left out), the normalisation
ρ̂(θ) = Σ_c (ν_c0/ν0) ⟨R̂⟩_c (each process's own events, v-weighted) and, for an analysis
with ``poisson: exact``, ρ_P(θ) = Σ_c (ν_c0/ν0) ρ_c(θ) with each process's exact rate. The
ensemble's members' mean is the central estimate, each member one row of the band.

A background ``scale`` or a rate factor at the fit other than the training's changes ν_c0
and the rates but not the shares inside the network: the fit warns (retrain with the new
scales). Nuisances of single components (per-process normalisations, a shape declared on the
signal alone) cannot act on the one component: :func:`drop_if_nuisances` refuses pooled with
them, or leaves it out of the default methods.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.analysis.component_spec import SIGNAL
from madsbi.analysis.components import (
    Loaded,
    Mixture,
    background_yields,
    fit_mixture,
    fit_shares,
    load_components,
)
from madsbi.analysis.overlay import COMPONENTS_DIR
from madsbi.errors import InputError, MadSBIWarning

if TYPE_CHECKING:
    from madsbi.analysis.load import Analysis
    from madsbi.analysis.nuisances import NuisanceSpec
    from madsbi.analysis.prepare import FitData
    from madsbi.inference.model import LikelihoodModel

#: The method name of ``madsbi fit`` and ``madsbi coverage``.
POOLED = "pooled"
#: Where the ensemble is saved, relative to the analysis directory.
DIRECTORY = f"{COMPONENTS_DIR}/pooled"


def has_pooled(analysis: Analysis) -> bool:
    """Whether the analysis has a pooled ensemble (``components.pooled``)."""
    entry = analysis.manifest.get("components")
    return entry is not None and entry.get("pooled") is not None


def require_pooled(analysis: Analysis) -> None:
    """Refuse the pooled method for an analysis without its ensemble.

    Raises
    ------
    InputError
        Naming the analysis and the command that adds the ensemble.
    """
    if has_pooled(analysis):
        return
    what = "background components" if analysis.manifest.get("components") else "components"
    raise InputError(
        f"method {POOLED!r}: the analysis {analysis.path} has no pooled ensemble (its "
        f"{what} lack components.pooled); train it with madsbi analysis-backgrounds BASE OUT "
        "--background NAME=STORES --signal STORES --pooled"
    )


#: ``BackgroundTraining.pooled_target_scale``: the feature the signal network scales by.
AUTO = "auto"


def target_scale_column(root: Path, manifest: Mapping[str, Any], feature: str | None) -> int | None:
    """The feature column that scales the pooled ensemble's targets (None: unscaled).

    ``feature``: a feature's name, None or ``"none"`` (unscaled), or ``"auto"``: the column of
    the analysis's first estimator (its ``scale_column``, e.g. m_T^WZ of the reco analyses;
    None when it has none).

    Raises
    ------
    InputError
        A name that is not among the analysis's features.
    """
    import json

    from madsbi.analysis.overlay import files_root
    from madsbi.analysis.schema import member_path

    features = list(manifest["features"])
    if feature is None or feature == "none":
        return None
    if feature != AUTO:
        if feature not in features:
            raise InputError(
                f"pooled_target_scale: {feature!r} is not among the analysis's features {features}"
            )
        return features.index(feature)
    name, entry = next(iter(manifest["estimators"].items()))
    path = member_path(files_root(root, manifest), entry["path"], f"estimators.{name}.path")
    column = json.loads((path / "estimator.json").read_text(encoding="utf-8")).get("scale_column")
    return None if column is None else int(column)


def train_pooled(
    samples: Sequence[Any],
    scales: Mapping[str, float],
    columns: Sequence[int],
    theta0: FloatArray,
    settings: Any,
    out: Path,
    *,
    scale_column: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train the pooled ensemble on ``samples`` and save it; the manifest's ``components.pooled``.

    Parameters
    ----------
    samples : sequence of ProcessSample
        The signal first, then every background (all observables as inputs).
    scales : mapping name → factor
        Each background's ``scale``: its events' weights are scaled by it (0: left out).
    columns : sequence of int
        The analysis's features among the samples' inputs.
    theta0 : (n,)
    settings : BackgroundTraining
        ``pooled_hidden`` (default ``hidden``), ``members``, ``pooled_epochs``,
        ``batch_size``, ``patience`` (early stopping on a validation split), ``seed``,
        ``device``.
    out : Path
        The analysis directory.
    scale_column : int, optional
        The feature (index among the analysis's features) whose smooth function scales the
        targets (:class:`~madsbi.estimators.target_scale.TargetScale`, issue 25), as the
        signal network of a reco analysis does with m_T^WZ; None: unscaled targets.
    progress : bool
    """
    from madsbi.estimators.data import HypothesisSample
    from madsbi.estimators.derivative import DerivativeEstimator
    from madsbi.estimators.trainer import TrainingConfig
    from madsbi.inference.processes import pooled_training_set
    from madsbi.nn.build import NetworkConfig

    scaled = [samples[0], *(p.scaled(float(scales[p.name])) for p in samples[1:])]
    x, c, w = pooled_training_set(scaled)
    targets = [k for k in range(1, c.shape[1]) if np.any(c[:, k] != 0)]
    hidden = tuple(settings.pooled_hidden or settings.hidden)
    network = NetworkConfig(kind="ensemble", hidden=hidden, members=settings.members)
    training = TrainingConfig(
        epochs=settings.pooled_epochs,
        batch_size=settings.batch_size,
        patience=settings.patience,
        seed=settings.seed,
        device=settings.device,
    )
    estimator = DerivativeEstimator(
        theta0, len(columns), network, targets=targets, scale_column=scale_column
    )
    start = time.perf_counter()
    fitted = estimator.fit(
        HypothesisSample.build(x[:, list(columns)], c, w), training, progress=progress
    )
    seconds = time.perf_counter() - start
    estimator.save(out / DIRECTORY)
    return {
        "ratio": DIRECTORY,
        "scales": {p.name: float(scales[p.name]) for p in samples[1:]},
        "n_events": {p.name: p.n_events for p in scaled if p.sigma0 > 0},
        "training": {
            "hidden": list(hidden),
            "members": settings.members,
            "epochs": settings.pooled_epochs,
            "batch_size": settings.batch_size,
            "patience": settings.patience,
            "validation_fraction": training.validation_fraction,
            "seed": settings.seed,
            "targets": targets,
            "scale_column": scale_column,
            "best_epoch": {k: h.best_epoch for k, h in fitted.items()},
            "seconds": seconds,
        },
    }


@dataclass
class _Row:
    """One row of the ensemble for :func:`~madsbi.inference.mixture_models.pooled_model`.

    The members' mean (``member`` None) or one member; the networks run once per input
    array, shared by every row through ``cache`` (keyed by the array, which it keeps).
    """

    estimator: Any
    member: int | None
    cache: dict[int, tuple[Any, FloatArray]] = field(default_factory=dict)

    def event_coefficients(self, x: Any) -> FloatArray:
        """C_e of the row, (1, N, K)."""
        if id(x) not in self.cache:
            c = np.asarray(self.estimator.event_coefficients(x), dtype=np.float64)
            self.cache[id(x)] = (x, c)
        c = self.cache[id(x)][1]
        if self.member is None:
            result: FloatArray = c.mean(0, keepdims=True)
            return result
        return c[self.member : self.member + 1]


def drop_if_nuisances(
    chosen: list[str], specs: Sequence[NuisanceSpec], *, explicit: bool
) -> list[str]:
    """``chosen`` without ``pooled`` when a fit's nuisance acts on single components.

    The pooled model has one component for the whole mixture, so a nuisance on named
    components (a per-process normalisation, a shape of the signal alone) cannot act on it;
    one on all components (the luminosity, a shape declared without components, which acts
    alike on every process of a mixture) can. Asked for
    explicitly (``explicit``) that is an error; among the default methods pooled is left out
    with a warning (``--stat-only`` keeps it).

    Raises
    ------
    InputError
        ``pooled`` asked for with such nuisances.
    """
    if POOLED not in chosen:
        return chosen
    names = [s.name for s in specs if s.components]
    if not names:
        return chosen
    message = (
        f"method {POOLED!r}: the nuisances {names} act on single components; the pooled model "
        "has one component for the whole mixture"
    )
    if explicit:
        raise InputError(f"{message} (fit it with --stat-only, or the factorised methods)")
    warnings.warn(f"{message}: left out of the default methods", MadSBIWarning, stacklevel=3)
    return [m for m in chosen if m != POOLED]


def _warn_scales(loaded: Loaded, data: FitData) -> None:
    spec = loaded.spec.pooled
    if spec is None:  # pragma: no cover - require_pooled ran first
        return
    changed = {b.name: b.scale for b in loaded.backgrounds if b.scale != spec.scales[b.name]}
    if changed or data.rate_factor != 1.0:
        warnings.warn(
            f"method {POOLED!r}: its network learned the shares of the background scales "
            f"{spec.scales} and the signal's rate factor 1; the fit uses {changed or 'those'} "
            f"and {data.rate_factor:g}: the yields follow, the per-event shares do not "
            "(retrain with madsbi analysis-backgrounds --scale ... --pooled)",
            MadSBIWarning,
            stacklevel=3,
        )


def pooled_models(
    analysis: Analysis, data: FitData
) -> tuple[list[LikelihoodModel], float, Mixture]:
    """Models of the central estimate and every member, the signal's ν_sel(θ0), the mixture.

    Module docstring; the mixture lists each process's ν_c0 and Poisson rate (exact with
    ``poisson: exact``, else the ensemble's ⟨R̂⟩_c) for ``fit.json``, whose yields sum to the
    model's ν(θ), and the classifier's data shares.

    Raises
    ------
    InputError
        An analysis without the pooled ensemble (:func:`require_pooled`).

    Warns
    -----
    MadSBIWarning
        Background scales or a rate factor other than the training's.
    """
    from madsbi.inference.mixture_models import pooled_model
    from madsbi.inference.processes import ProcessSample
    from madsbi.inference.rate import FB_PER_PB, RateModel, expected_events
    from madsbi.theory.polynomial import polynomial_features

    require_pooled(analysis)
    loaded = load_components(analysis)
    if loaded is None or loaded.pooled is None:  # pragma: no cover - require_pooled ran
        raise InputError(f"{analysis.path}: no pooled ensemble")
    _warn_scales(loaded, data)

    def phi(grid: FloatArray) -> FloatArray:
        return polynomial_features(grid, analysis.theta0)

    x_signal, v_signal = analysis.rate_event_features(data.selections)
    c_signal, _ = analysis.exact_rate_events(data.selections)
    lumi = data.luminosity_fb * FB_PER_PB
    nu_signal = float(expected_events(lumi, float(v_signal.sum()), data.rate_factor))
    samples = [ProcessSample(SIGNAL, x_signal, c_signal, v_signal)]
    names, nus = [SIGNAL], [nu_signal]
    for b in loaded.backgrounds:
        keep, v, nu = background_yields(data, b)
        names.append(b.name)
        nus.append(nu)
        if nu > 0:
            samples.append(
                ProcessSample(b.name, b.inputs(analysis.features, keep), b.ratios[keep], v)
            )
    active = np.array([nu for nu in nus if nu > 0])
    exact = analysis.poisson_rate == "exact"
    on_data = np.asarray(loaded.pooled.event_coefficients(data.features), dtype=np.float64)
    cache: dict[int, tuple[Any, FloatArray]] = {id(data.features): (data.features, on_data)}
    models = [
        pooled_model(
            data.features,
            _Row(loaded.pooled, m, cache),
            samples,
            active,
            phi,
            exact_poisson=exact,
            weights=data.weights,
            n_observed=data.n_observed,
        )
        for m in [None, *range(on_data.shape[0])]
    ]
    central = _Row(loaded.pooled, None, cache)
    by_name = {p.name: p for p in samples}
    rates = []
    for name in names:
        p = by_name.get(name)
        if p is None:  # switched off: ν_c = 0 everywhere, the rate is never used
            rates.append(RateModel(np.eye(c_signal.shape[1])[:1]))
        elif exact:
            rates.append(p.rate())
        else:
            rates.append(
                RateModel.from_event_coefficients(central.event_coefficients(p.x), p.weights)
            )
    shares = fit_shares(analysis, data, loaded)
    mixture = fit_mixture(analysis, data, loaded, (names, nus, rates), phi, shares)
    return models, nu_signal, mixture
