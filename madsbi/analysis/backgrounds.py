"""Background components attached to a trained signal analysis (``madsbi analysis-backgrounds``).

:func:`add_backgrounds` copies a trained reco analysis and gives it the factorised mixture of
paper App. D (eq. 59 generalised to several processes, θ-dependent ones included; issue 26):

- the selected events of every process are read from its reco stores (the passed ``/reco``
  entries with their parents' exact coefficients, recentred to the analysis's θ0 where a store
  was expanded elsewhere) and pooled by multiple importance sampling over the stores'
  generation points (:func:`madsbi.inference.processes.from_reco_samples`), so each event has
  its weight v_e at θ0 (pb) and Σ v_e = σ_c(θ0) of the selection; the signal's channels (W⁺Z,
  W⁻Z: one process text each) are pooled per process and joined;
- a :class:`~madsbi.estimators.classifier.ProcessClassifier` over the signal and the backgrounds is
  trained on the analysis's features with those weights, so it learns
  D_c(x) = ν_c0 p_c(x|θ0)/Σ_c' ν_c'0 p_c'(x|θ0);
- every θ-dependent background gets its own derivative-learning ratio (a small
  :class:`~madsbi.estimators.derivative.DerivativeEstimator` ensemble on its exact joint
  targets; only the coefficients that are not zero for all its events get a network), a
  θ-independent one none (R = 1);
- each background's events (all observables, exact C_e = c_e/c_e0, v_e) go to
  ``components/<name>/events.npz``: the fit takes each process's rates and ν_c0 from them in
  the data's selection, as it does the signal's from ``rate_events.npz``;
- with ``pooled``, one more derivative ensemble on the events of every process, each with its
  own exact targets and weight v_e (:mod:`madsbi.analysis.pooled`), in ``components/pooled``.

The signal's own networks and rate model stay as they are. ``analysis.json`` gains the
``"components"`` entry (:mod:`madsbi.analysis.component_spec`) with the stores, their
digests and detector cards, and the training; ``madsbi fit`` then fits the mixture
(:mod:`madsbi.analysis.components`). Every store must be of the analysis's parameter space
(a store of fewer parameters is embedded first with ``madsbi store embed``) and of its
selection.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.analysis.component_spec import KIND, SIGNAL
from madsbi.analysis.overlay import COMPONENTS_DIR
from madsbi.analysis.schema import read_manifest, validate_manifest
from madsbi.errors import InputError

DIRECTORY = COMPONENTS_DIR


@dataclass(frozen=True)
class BackgroundTraining:
    """Network sizes and training settings of the classifier, the ratios and the pooled one.

    ``pooled_hidden`` (None: ``hidden``), ``pooled_epochs`` and ``pooled_target_scale``: the
    pooled ensemble of :mod:`madsbi.analysis.pooled`, trained only when asked for
    (``add_backgrounds(pooled=True)``); its targets are scaled by a smooth function of the
    feature ``pooled_target_scale`` ("auto": the one the analysis's signal network uses, e.g.
    m_T^WZ; None or "none": unscaled; :func:`madsbi.analysis.pooled.target_scale_column`).
    Every network stops early on a validation split (``patience`` epochs without a better
    validation loss).
    """

    hidden: tuple[int, ...] = (64, 64)
    members: int = 2
    classifier_epochs: int = 40
    ratio_epochs: int = 60
    pooled_epochs: int = 60
    pooled_hidden: tuple[int, ...] | None = None
    pooled_target_scale: str | None = "auto"
    batch_size: int = 256
    patience: int = 8
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True, eq=False)
class _Store:
    """The selected events of one reco store, in the analysis's space."""

    path: Path
    x: FloatArray
    coefficients: FloatArray
    weights: FloatArray
    theta_gen: FloatArray
    sigma_gen: float
    n_parents: int
    process: str
    record: dict[str, Any]


def read_process_store(
    name: str,
    path: str | Path,
    parameters: Sequence[str],
    theta0: FloatArray,
    observables: Sequence[str],
    selection: str | None,
) -> _Store:
    """Read one store of process ``name`` for an analysis (module docstring).

    Raises
    ------
    InputError
        The store's parameters are not the analysis's (naming the process and the store, and
        suggesting ``madsbi store embed``), or it was selected by another selection.
    MissingFileError, StoreFormatError
        No such store; no passed entries; no coefficients.
    """
    from madsbi.analysis.data import file_sha256
    from madsbi.events.reco import read_reco
    from madsbi.events.store import open_store
    from madsbi.theory.polynomial import recentre_coefficients

    with open_store(path) as store:
        names = list(store.meta.space.names)
        attributes = dict(store.meta.attributes)
    if names != list(parameters):
        fewer = set(names) < set(parameters)
        hint = (
            f"embed it first: madsbi store embed {path} OUT.h5 --parameters {','.join(parameters)}"
            if fewer
            else "simulate or embed it in the analysis's parameter space (madsbi store embed)"
        )
        raise InputError(
            f"{name}: {path}: the store's parameters {names} are not the analysis's "
            f"{list(parameters)}; {hint}"
        )
    entries = read_reco(path, columns=observables, need_coefficients=True)
    if selection is not None and entries.selection not in (None, selection):
        raise InputError(
            f"{name}: {path}: selected by {entries.selection!r}, the analysis by {selection!r}"
        )
    c = np.asarray(entries.coefficients, dtype=np.float64)  # need_coefficients: never None
    if not np.allclose(entries.theta0, theta0, rtol=0, atol=1e-12):
        c = recentre_coefficients(c, entries.theta0, theta0)
    config = json.loads(str(attributes.get("reco_config", "{}")))
    record = {
        "path": str(Path(path).resolve()),
        "sha256": file_sha256(Path(path)),
        "process": entries.process,
        "n_entries": entries.n_events,
        "n_parents": entries.n_parents,
        "theta_gen": entries.theta_gen.tolist(),
        "card": config.get("card"),
        "seed": config.get("seed"),
    }
    x = np.stack([entries.column(o) for o in observables], axis=1)
    return _Store(
        Path(path),
        x,
        c,
        entries.fiducial_weights,
        entries.theta_gen,
        float(entries.sigma_gen),
        entries.n_parents,
        entries.process,
        record,
    )


def process_sample(name: str, stores: Sequence[_Store], theta0: FloatArray) -> Any:
    """One :class:`~madsbi.inference.processes.ProcessSample` of the stores, MIS per process text.

    Stores of the same process (generated at different points) are pooled by the balance
    heuristic; different processes (the signal's channels) are joined.
    """
    from madsbi.inference.processes import ProcessSample, from_reco_samples

    groups: dict[str, list[_Store]] = {}
    for s in stores:
        groups.setdefault(s.process, []).append(s)
    k = stores[0].coefficients.shape[1]
    parts = [from_reco_samples(name, g, theta0, n_coefficients=k) for g in groups.values()]
    return ProcessSample(
        name,
        np.concatenate([p.x for p in parts]),
        np.concatenate([p.coefficients for p in parts]),
        np.concatenate([p.weights for p in parts]),
    )


def _training(settings: BackgroundTraining, epochs: int) -> Any:
    from madsbi.estimators.trainer import TrainingConfig

    return TrainingConfig(
        epochs=epochs,
        batch_size=settings.batch_size,
        patience=settings.patience,
        seed=settings.seed,
        device=settings.device,
    )


def add_backgrounds(
    source: str | Path,
    destination: str | Path | None,
    backgrounds: Mapping[str, Sequence[str | Path]],
    signal: Sequence[str | Path],
    *,
    training: BackgroundTraining | None = None,
    scales: Mapping[str, float] | None = None,
    card: str | None = None,
    overlay: bool = False,
    pooled: bool = False,
    pooled_signal: Sequence[str | Path] = (),
    progress: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Train and attach the background components (module docstring) to a reco analysis.

    Parameters
    ----------
    source : path or shipped name
        A trained reco-level analysis (signal only).
    destination : path, optional
        A new or empty directory for the copy with components; None: ``source`` itself
        (refused for a shipped analysis).
    backgrounds : mapping name → store paths
        The reco stores of each background process (SM and BSM stores of one process are
        pooled by MIS).
    signal : sequence of store paths
        Signal reco stores for the classifier (not the data to fit, nor the analysis's
        training stores).
    training : BackgroundTraining, optional
    scales : mapping name → factor, optional
        σ_c factors at the fit (default 1; 0 switches a process off).
    card : str, optional
        The detector card recorded as the simulation of the components (default: the
        stores' recorded card, when they agree).
    overlay : bool
        Write only the components and a manifest naming ``source`` as the base
        (:mod:`madsbi.analysis.overlay`), not a copy of its trained files.
    pooled : bool
        Also train the pooled ensemble (:mod:`madsbi.analysis.pooled`) on every process's
        events, saved in ``components/pooled`` (``madsbi fit --method pooled``).
    pooled_signal : sequence of store paths
        The signal stores of the pooled ensemble (default: ``signal``). The pooled network
        replaces the signal's own, so it may learn from as many signal events (e.g. the
        analysis's training stores; recorded as ``components.pooled.signal_stores``).
    progress : bool
        Show progress bars.

    Returns
    -------
    (Path, dict)
        The analysis directory and its ``"components"`` entry.

    Raises
    ------
    InputError
        Not a reco analysis; no background or no signal store; a background named
        ``signal``; a store of other parameters (naming the process) or selection; a
        ``pooled_target_scale`` that is not a feature.
    OutputError
        ``destination`` is not new or empty.
    """
    from madsbi.analysis.names import analysis_path
    from madsbi.analysis.overlay import BASE_KEY, derived
    from madsbi.estimators.classifier import ProcessClassifier
    from madsbi.estimators.data import HypothesisSample
    from madsbi.estimators.derivative import DerivativeEstimator
    from madsbi.inference.processes import classifier_data, expected_yields
    from madsbi.nn.build import NetworkConfig

    settings = training or BackgroundTraining()
    root = analysis_path(source)
    manifest = read_manifest(root)
    if manifest.get("level") != "reco":
        raise InputError(f"{root}: background components need a reco-level analysis")
    if not backgrounds:
        raise InputError("backgrounds: name at least one (NAME=STORE[,STORE...])")
    if not signal:
        raise InputError("signal: give the signal stores the classifier learns from")
    if SIGNAL in backgrounds:
        raise InputError(f"backgrounds: {SIGNAL!r} is the signal's name")
    parameters = list(manifest["parameters"])
    theta0 = np.asarray(manifest["theta0"], dtype=np.float64)
    features = list(manifest["features"])
    observables = list(dict.fromkeys([*features, *(manifest.get("observables") or [])]))
    columns = [observables.index(f) for f in features]
    selection = (manifest.get("simulation") or {}).get("selection")
    if pooled:  # checked before any store is read (the source's own files root)
        from madsbi.analysis.pooled import target_scale_column

        column = target_scale_column(root, manifest, settings.pooled_target_scale)

    def read(name: str, paths: Sequence[str | Path]) -> tuple[Any, list[dict[str, Any]]]:
        if not paths:
            raise InputError(f"{name}: no stores")
        stores = [
            read_process_store(name, p, parameters, theta0, observables, selection) for p in paths
        ]
        return process_sample(name, stores, theta0), [s.record for s in stores]

    samples, records = {}, {}
    for name, paths in [(SIGNAL, signal), *backgrounds.items()]:
        samples[name], records[name] = read(name, paths)
    names = list(samples)
    processes = [samples[n] for n in names]
    pooled_signal_sample, pooled_records = samples[SIGNAL], None
    if pooled and pooled_signal:
        pooled_signal_sample, pooled_records = read(SIGNAL, pooled_signal)
    out, base_entry = derived(root, destination, overlay=overlay)
    if base_entry is not None:
        manifest[BASE_KEY] = base_entry
    network = NetworkConfig(kind="ensemble", hidden=settings.hidden, members=settings.members)
    x, labels, weights = classifier_data(processes)
    classifier = ProcessClassifier(names, len(features), network, seed=settings.seed)
    history = classifier.fit(
        x[:, columns],
        labels,
        weights,
        _training(settings, settings.classifier_epochs),
        progress=progress,
    )
    classifier.save(out / DIRECTORY / "classifier")
    luminosity = float(manifest["defaults"]["luminosity_fb"])
    nu = expected_yields(processes, luminosity)
    scale = dict(scales or {})
    unknown = sorted(set(scale) - set(backgrounds))
    if unknown:
        raise InputError(f"scales: {unknown} are not among the backgrounds {list(backgrounds)}")
    entries = []
    for i, name in enumerate(names[1:], start=1):
        p = samples[name]
        base = f"{DIRECTORY}/{name}"
        (out / base).mkdir(parents=True, exist_ok=True)
        ratios = p.ratios()
        arrays = {f"obs_{o}": p.x[:, j] for j, o in enumerate(observables)}
        np.savez(out / base / "events.npz", coefficients=ratios, weights=p.weights, **arrays)
        entry: dict[str, Any] = {
            "name": name,
            "events": f"{base}/events.npz",
            "ratio": None,
            "sigma_train_pb": p.sigma0,
            "scale": float(scale.get(name, 1.0)),
            "theta_dependent": p.theta_dependent,
            "n_events": p.n_events,
            "expected_events0": float(nu[i]),
            "stores": records[name],
        }
        if p.theta_dependent:
            targets = [k for k in range(1, ratios.shape[1]) if np.any(ratios[:, k] != 0)]
            estimator = DerivativeEstimator(theta0, len(features), network, targets=targets)
            fitted = estimator.fit(
                HypothesisSample.build(p.x[:, columns], ratios, p.weights / p.weights.mean()),
                _training(settings, settings.ratio_epochs),
                progress=progress,
            )
            estimator.save(out / base / "ratio")
            entry["ratio"] = f"{base}/ratio"
            entry["ratio_training"] = {
                "targets": targets,
                "best_epoch": {k: h.best_epoch for k, h in fitted.items()},
            }
        entries.append(entry)
    if pooled:
        from madsbi.analysis.pooled import train_pooled

        factors = {b["name"]: b["scale"] for b in entries}
        trained = train_pooled(
            [pooled_signal_sample, *processes[1:]], factors, columns, theta0, settings, out,
            scale_column=column, progress=progress,
        )  # fmt: skip
        if pooled_records is not None:
            trained["signal_stores"] = pooled_records
    cards = sorted({str(r["card"]) for rs in records.values() for r in rs})
    manifest["components"] = {
        "kind": KIND,
        "classifier": f"{DIRECTORY}/classifier",
        "signal": {
            "name": SIGNAL,
            "sigma_train_pb": samples[SIGNAL].sigma0,
            "n_events": samples[SIGNAL].n_events,
            "expected_events0": float(nu[0]),
            "stores": records[SIGNAL],
        },
        "backgrounds": entries,
        "simulation": {
            "card": card or (cards[0] if len(cards) == 1 else None),
            "cards": cards,
            "selection": selection,
        },
        "training": {
            "hidden": list(settings.hidden),
            "members": settings.members,
            "classifier_epochs": settings.classifier_epochs,
            "ratio_epochs": settings.ratio_epochs,
            "batch_size": settings.batch_size,
            "patience": settings.patience,
            "seed": settings.seed,
            "classifier_best_epoch": {k: h.best_epoch for k, h in history.items()},
        },
    }
    if pooled:
        manifest["components"]["pooled"] = trained
    validate_manifest(manifest, out)
    tmp = out / "analysis.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / "analysis.json")
    return out, manifest["components"]
