"""Writing a trained analysis: one self-describing directory, no pickles.

Layout (``FORMAT_VERSION`` 1)::

    analysis.json            manifest: parameters, θ0, features (names, order, level: parton
                             or reco; parton when absent), processes,
                             projection, estimators (path, kind, standardisation), rate model,
                             data split, fit defaults, the study config, the training support
                             of the features (:mod:`madsbi.analysis.support`) and, at reco
                             level, how the stores were simulated
                             (:mod:`madsbi.analysis.provenance`)
    estimators/<method>/     estimator.json + weights.pt (state dicts, weights-only)
    rate_events.npz          the rate model's events: every observable, exact coefficients,
                             MIS weights v_e at θ0 (pb)
    split.npz                the test indices of every training store

Everything numeric is float64, so a loaded analysis reproduces the training run's numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, IntArray
from madsbi.analysis.provenance import common_simulation
from madsbi.analysis.support import (
    RATE_EVENTS,
    TrainingSupport,
    categorical_features,
    training_support,
)
from madsbi.errors import InputError

FORMAT = "madsbi-analysis"
FORMAT_VERSION = 1
MANIFEST_NAME = "analysis.json"
RATE_EVENTS_NAME = "rate_events.npz"
SPLIT_NAME = "split.npz"


@dataclass(frozen=True)
class StoreRecord:
    """One training store: where it was, its hash, its generation point and split sizes."""

    path: str
    sha256: str
    process: str
    n_events: int
    theta_gen: tuple[float, ...]
    sigma_gen_pb: float
    test_indices: IntArray
    validation_indices: IntArray | None = None

    def describe(self) -> dict[str, Any]:
        """The JSON part (indices go to ``split.npz``)."""
        n_test = int(self.test_indices.shape[0])
        n_val = 0 if self.validation_indices is None else int(self.validation_indices.shape[0])
        return {
            "path": self.path,
            "sha256": self.sha256,
            "process": self.process,
            "n_events": self.n_events,
            "theta_gen": list(self.theta_gen),
            "sigma_gen_pb": self.sigma_gen_pb,
            "n_test": n_test,
            "n_validation": n_val,
            "n_train": self.n_events - n_test - n_val,
        }


@dataclass(frozen=True)
class RateEvents:
    """The rate model's events (the test split of every store, with MIS weights)."""

    observables: Mapping[str, FloatArray]
    coefficients: FloatArray
    mis_weights: FloatArray
    channels: Sequence[str] = field(default_factory=tuple)


def _standardisation(networks: Mapping[str, Any]) -> dict[str, Any]:
    """Input and target standardisation of every network, for the manifest (also in weights)."""
    out = {}
    for name, net in networks.items():
        out[name] = {
            "inputs": {
                "mean": net.inputs.mean.tolist(),
                "scale": net.inputs.scale.tolist(),
            },
            "targets": {
                "mean": net.targets.mean.tolist(),
                "scale": net.targets.scale.tolist(),
            },
        }
    return out


def write_analysis(
    path: str | Path,
    *,
    estimators: Mapping[str, Any],
    parameters: Sequence[str],
    theta0: FloatArray,
    features: Sequence[str],
    projection: str,
    stores: Sequence[StoreRecord],
    rate_events: RateEvents,
    split: Mapping[str, Any],
    defaults: Mapping[str, Any],
    config: Mapping[str, Any],
    level: str = "parton",
    poisson_rate: str = "learned",
    support: TrainingSupport | None = None,
    simulation: Mapping[str, Any] | None = None,
) -> Path:
    """Write the analysis directory ``path`` (replacing its manifest last, atomically).

    Parameters
    ----------
    estimators : mapping of method name → estimator
        Raw (unprojected) estimators with ``save`` and ``networks``.
    projection : {"keep_reference", "full", "none"}
        How the per-event quadratic forms are made non-negative before scanning.
    split : mapping
        Seed and fractions of the split (the indices come from ``stores``).
    defaults : mapping
        Luminosity (fb⁻¹), rate factor, θ ranges and grid sizes for fits.
    level : {"parton", "reco"}
        Where the features come from (``/parton`` fields or ``/reco/x`` columns).
    poisson_rate : {"learned", "exact"}
        ρ_P(θ) of the fit's Poisson factor: each method's own ρ̂ or the rate events' exact
        σ(θ)/σ(θ0).
    support : TrainingSupport, optional
        The features' training support (:func:`madsbi.analysis.support.training_support` of
        the training events); default: that of the rate events.
    simulation : mapping, optional
        How the reco stores were simulated (selection, shower, card, pythia); default, at
        reco level: read from the training stores' ``reco_config`` when they are found and
        agree.
    """
    from madsbi.estimators.io import estimator_kind

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, estimator in estimators.items():
        relative = f"estimators/{name}"
        estimator.save(out / relative)
        entries[name] = {
            "path": relative,
            "kind": estimator_kind(out / relative),
            "standardisation": _standardisation(estimator.networks),
        }
    arrays = {
        f"obs_{k}": np.asarray(v, dtype=np.float64) for k, v in rate_events.observables.items()
    }
    arrays["coefficients"] = np.asarray(rate_events.coefficients, dtype=np.float64)
    arrays["mis_weights"] = np.asarray(rate_events.mis_weights, dtype=np.float64)
    _savez(out / RATE_EVENTS_NAME, arrays)
    split_arrays = {}
    for i, s in enumerate(stores):
        split_arrays[f"test_{i}"] = np.asarray(s.test_indices, dtype=np.int64)
        if s.validation_indices is not None:
            split_arrays[f"validation_{i}"] = np.asarray(s.validation_indices, dtype=np.int64)
    _savez(out / SPLIT_NAME, split_arrays)
    sigma0 = float(np.sum(rate_events.mis_weights))
    if simulation is None and level == "reco":
        try:
            simulation = common_simulation([s.path for s in stores], str(out))
        except InputError:
            simulation = None  # stores simulated differently: nothing to reproduce
    if support is None:
        selection = None if simulation is None else simulation.get("selection")
        categorical = categorical_features(features, [s.process for s in stores], selection)
        present = [f for f in features if f in rate_events.observables]
        support = training_support(rate_events.observables, present, categorical, RATE_EVENTS)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "parameters": list(parameters),
        "theta0": np.asarray(theta0, dtype=np.float64).tolist(),
        "features": list(features),
        "level": level,
        "observables": sorted(rate_events.observables),
        "processes": sorted({s.process for s in stores}),
        "projection": {
            "kind": "none" if projection == "none" else "NonNegativeRatio",
            "keep_reference": projection == "keep_reference",
        },
        "estimators": entries,
        "rate_model": {
            "method": "multiple importance weighting (balance heuristic) over the test splits",
            "sigma0_pb": sigma0,
            "file": RATE_EVENTS_NAME,
            "n_events": int(np.asarray(rate_events.mis_weights).shape[0]),
            "poisson": poisson_rate,
        },
        "split": {**dict(split), "file": SPLIT_NAME, "stores": [s.describe() for s in stores]},
        "defaults": dict(defaults),
        "config": dict(config),
        "support": support.to_dict(),
    }
    if simulation is not None:
        manifest["simulation"] = dict(simulation)
    tmp = out / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, default=_json_default))
    os.replace(tmp, out / MANIFEST_NAME)
    return out


def _savez(path: Path, arrays: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    msg = f"not JSON serialisable: {type(value).__name__}"
    raise TypeError(msg)
