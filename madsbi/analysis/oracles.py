"""The two truths of a background fit on labelled pseudo-data (issue 26 item 2).

``madsbi store mix`` keeps each event's source apart from the data, in ``/truth/mix``
(:mod:`madsbi.events.mix`, truth for validation only). For an analysis with background
components (:mod:`madsbi.analysis.components`) ``madsbi fit`` then offers two methods that
read it, next to the learned ones:

- ``oracle``: the extended likelihood of (z, c), which knows each event's process c_e and its
  exact coefficients, p(z, c|θ) ∝ σ_c(θ) p_c(z|θ):

      log r(θ) = Σ_e log[ν_{c_e}(θ) R_{c_e}(z_e|θ) / (ν_{c_e}0 ρ_{c_e}(θ))] − (ν(θ) − ν0),

  R_c = C_e·φ(θ − θ0) with the exact C_e = c_e/c_e0 of the event's parent, ρ_c the exact rate
  of process c over its MC events in the data's selection (the signal's rate events, each
  background's events) and ν_c(θ) = ν_c0 ρ_c(θ): the mixture with one-hot shares;
- ``truth_learned_d``: the truth that does not know the label, as the toy comparison of
  ``madsbi.studies.toy_mixture_compare`` built it ("oracle: exact + learned D"): the fit's
  learned shares f_c(x) (the classifier's D_c re-weighted to the fit's cross-sections) and per
  process c the coefficients C^c_e exact for the events of process c and the learned ratio of
  process c for the others (the signal's: the central estimate of the analysis's first method;
  a background's: its own ratio network; a θ-independent one 1), so
  C_e = Σ_c f_c(x_e) C^c_e; rates exact as for the oracle.

Both are one row (no ensemble members) and collapse to one C_e·Φ component (all rates exact,
ρ̂_c = ρ_P,c), so they scan with the compiled kernels. An input of the mix maps to a
component by its ``--names`` entry, else by its process text (the signal's processes, or
the process of a background's recorded stores). :func:`madsbi.analysis.oracles.data_truth`
also gives the weights that take each labelled event back to θ0, which the reliability curve
uses (:mod:`madsbi.analysis.component_report`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray, IntArray
from madsbi.analysis.component_spec import SIGNAL
from madsbi.analysis.data import selection_mask
from madsbi.errors import InputError

if TYPE_CHECKING:
    from madsbi.analysis.components import Loaded, Mixture
    from madsbi.analysis.load import Analysis
    from madsbi.analysis.prepare import FitData
    from madsbi.inference.model import LikelihoodModel

ORACLE = "oracle"
TRUTH_LEARNED_D = "truth_learned_d"
#: The methods of ``madsbi fit`` that read the hidden truth.
METHODS = (ORACLE, TRUTH_LEARNED_D)


@dataclass(frozen=True)
class DataTruth:
    """The hidden labels of the fitted data events (rows of ``FitData``).

    ``labels``: component index (signal 0, backgrounds in order); ``own``: exact
    C_e = c_e/c_e0 (N, K) in the analysis's basis at its θ0, in the event's own process
    ((1, 0, …) for a θ-independent one); ``to_theta0``: 1/R_c(z_e|θ_drawn), the weight that
    takes the event back to θ0; ``held_out``: no input is a store the analysis, its
    classifier, its background ratios or its pooled ensemble were trained on.
    """

    labels: IntArray
    own: FloatArray
    to_theta0: FloatArray
    held_out: bool
    inputs: tuple[str, ...]


def _component_processes(analysis: Analysis) -> list[set[str]]:
    entry = analysis.manifest["components"]
    signal = set(analysis.processes) | {s.get("process") for s in entry["signal"].get("stores", [])}
    return [signal] + [
        {s.get("process") for s in b.get("stores", [])} for b in entry["backgrounds"]
    ]


def _component_of(record: dict[str, Any], names: list[str], processes: list[set[str]]) -> int:
    where = f"/truth/mix input {record['path']}"
    if record.get("name"):
        if record["name"] not in names:
            raise InputError(f"{where}: named {record['name']!r}, not a component of {names}")
        return names.index(record["name"])
    matches = [i for i, p in enumerate(processes) if record.get("process") in p]
    if len(matches) != 1:
        raise InputError(
            f"{where}: its process matches the components {[names[i] for i in matches]}; "
            f"name each input (madsbi store mix --names, one of {names})"
        )
    return matches[0]


def _trained_digests(analysis: Analysis) -> set[str]:
    manifest = analysis.manifest
    digests = {s["sha256"] for s in manifest["split"]["stores"]}
    entry = manifest["components"]
    for s in [*entry["signal"].get("stores", []), *(
        st for b in entry["backgrounds"] for st in b.get("stores", [])
    ), *(entry.get("pooled") or {}).get("signal_stores", [])]:  # fmt: skip
        digests.add(s.get("sha256"))
    return digests


def data_truth(analysis: Analysis, data: FitData) -> DataTruth | None:
    """The data's hidden labels in the fit's rows (None when the store has none).

    Raises
    ------
    InputError
        Data read through a test split; a truth that does not match the store's rows or the
        fit's selection; an input that maps to no component or to several (module
        docstring); a θ-dependent input of other parameters than the analysis's.
    """
    from madsbi.events.mix_truth import read_truth
    from madsbi.events.reco import read_reco
    from madsbi.theory.polynomial import polynomial_features, recentre_coefficients

    path = data.description.get("store")
    if path is None or not Path(str(path)).is_file():  # data built in memory: no hidden truth
        return None
    truth = read_truth(path)
    if truth is None:
        return None
    if data.description["events_used"] != "all events":
        raise InputError(f"{path}: the truth needs every event of the store as data")
    entries = read_reco(path, columns=[s.name for s in data.selections])
    if entries.n_entries != truth.process.shape[0] or entries.n_events != entries.n_entries:
        raise InputError(f"{path}: /truth/mix has {truth.process.shape[0]} rows, /reco differs")
    columns = {s.name: entries.column(s.name) for s in data.selections}
    keep = selection_mask(columns, data.selections, entries.n_events)
    if int(keep.sum()) != data.features.shape[0]:
        raise InputError(f"{path}: the truth's selected rows do not match the fitted events")
    names = [SIGNAL, *(b["name"] for b in analysis.manifest["components"]["backgrounds"])]
    processes = _component_processes(analysis)
    k = analysis.theta0.shape[0]
    n_coef = (k + 1) * (k + 2) // 2
    process = truth.process[keep]
    coefficients = truth.coefficients[keep]
    labels = np.zeros(process.shape[0], dtype=np.int64)
    own = np.zeros((process.shape[0], n_coef))
    own[:, 0] = 1.0
    to_theta0 = np.ones(process.shape[0])
    for j, record in enumerate(truth.inputs):
        rows = np.flatnonzero(process == j)
        if rows.size == 0:
            continue
        labels[rows] = _component_of(record, names, processes)
        if record["theta_independent"]:
            continue
        if list(record["parameters"]) != analysis.parameters:
            raise InputError(
                f"/truth/mix input {record['path']}: parameters {record['parameters']}, the "
                f"analysis has {analysis.parameters} (madsbi store embed before mixing)"
            )
        c = coefficients[rows, :n_coef]
        theta0 = np.asarray(record["theta0"], dtype=np.float64)
        if not np.allclose(theta0, analysis.theta0, rtol=0, atol=1e-12):
            c = recentre_coefficients(c, theta0, analysis.theta0)
        if (c[:, 0] <= 0).any():
            raise InputError(f"/truth/mix input {record['path']}: c_0 ≤ 0 for some event")
        own[rows] = c / c[:, :1]
        drawn = np.array([[record["theta_drawn"][p] for p in analysis.parameters]])
        r = own[rows] @ polynomial_features(drawn, analysis.theta0)[0]
        to_theta0[rows] = np.divide(1.0, r, out=np.zeros_like(r), where=r > 0)
    digests = {r.get("sha256") for r in truth.inputs}
    held_out = not (digests & _trained_digests(analysis))
    return DataTruth(labels, own, to_theta0, held_out, tuple(r["path"] for r in truth.inputs))


def fit_models(
    analysis: Analysis, data: FitData, method: str
) -> tuple[list[LikelihoodModel], float, Mixture | None]:
    """The models of one method of ``madsbi fit``, oracles included.

    :func:`madsbi.analysis.oracles.oracle_models` for an oracle method,
    :func:`madsbi.analysis.pooled.pooled_models` for ``pooled``, else
    :func:`madsbi.analysis.components.method_models`; the reliability curve added.

    Raises
    ------
    InputError
        An oracle method for a signal-only analysis or data without hidden truth; ``pooled``
        for an analysis without its ensemble.
    StoreFormatError
        As :func:`~madsbi.analysis.components.method_models`.
    """
    from madsbi.analysis.components import fit_shares, load_components, method_models
    from madsbi.analysis.pooled import POOLED, pooled_models

    loaded = load_components(analysis)
    if method in METHODS:
        if loaded is None:
            raise InputError(f"--method {method}: needs an analysis with background components")
        return oracle_models(analysis, data, method, loaded)
    mixture: Mixture | None
    if method == POOLED:
        models, nu0, mixture = pooled_models(analysis, data)
    else:
        models, nu0, mixture = method_models(analysis, data, method)
    if mixture is None or loaded is None:
        return models, nu0, mixture
    calibration = truth_reliability(analysis, data, fit_shares(analysis, data, loaded))
    return models, nu0, replace(mixture, reliability=calibration)


def truth_reliability(
    analysis: Analysis, data: FitData, shares: FloatArray
) -> dict[str, Any] | None:
    """The classifier's reliability on the data's hidden labels; None without them.

    A truth that cannot be matched to the components gives None and no error: it serves
    only the figure of a learned method's fit.
    """
    from madsbi.analysis.component_report import reliability

    try:
        truth = data_truth(analysis, data)
    except InputError:
        return None
    if truth is None:
        return None
    names = [SIGNAL, *(b["name"] for b in analysis.manifest["components"]["backgrounds"])]
    w = np.asarray(data.weights, dtype=np.float64) * truth.to_theta0
    extra = {"held_out": truth.held_out, "inputs": list(truth.inputs)}
    return reliability(shares, truth.labels, w, names) | extra


def oracle_models(
    analysis: Analysis, data: FitData, method: str, loaded: Loaded
) -> tuple[list[LikelihoodModel], float, Mixture]:
    """The ``oracle`` or ``truth_learned_d`` model (module docstring), ν_sel,0 of the signal.

    Raises
    ------
    InputError
        Another method name, or data without ``/truth/mix`` (naming ``madsbi store mix``).
    """
    from madsbi.analysis.components import background_yields, fit_mixture, fit_shares
    from madsbi.inference.mixture import collapse
    from madsbi.inference.mixture_models import one_hot
    from madsbi.inference.model import Component, LikelihoodModel
    from madsbi.inference.rate import FB_PER_PB, RateModel, expected_events
    from madsbi.theory.polynomial import polynomial_features

    if method not in METHODS:
        raise InputError(f"method: expected one of {METHODS}, got {method!r}")
    truth = data_truth(analysis, data)
    if truth is None:
        raise InputError(
            f"--method {method}: {data.description['store']} has no hidden labels "
            "(/truth/mix); mix the data with madsbi store mix"
        )

    def phi(grid: FloatArray) -> FloatArray:
        return polynomial_features(grid, analysis.theta0)

    signal_rate, sigma = analysis.exact_rate_model(data.selections)
    nu0 = float(expected_events(data.luminosity_fb * FB_PER_PB, sigma, data.rate_factor))
    rates, nus = [signal_rate], [nu0]
    for b in loaded.backgrounds:
        keep, v, nu = background_yields(data, b)
        # a switched-off process (ν_c0 = 0) is left out below; its rate is never used
        rates.append(
            RateModel.from_event_coefficients(b.ratios[keep], v) if nu > 0 else signal_rate
        )
        nus.append(nu)
    names = [SIGNAL, *(b.name for b in loaded.backgrounds)]
    learned_shares = fit_shares(analysis, data, loaded)
    if method == ORACLE:
        shares = one_hot(truth.labels, len(names))
        unlabelled = None
    else:
        shares = learned_shares
        unlabelled = _learned_ratios(analysis, data, loaded)
    components = []
    for i, name in enumerate(names):
        if not nus[i] > 0:
            continue
        c = truth.own.copy()
        others = truth.labels != i
        c[others] = 0.0
        c[others, 0] = 1.0
        learned = None if unlabelled is None else unlabelled[i]
        if learned is not None:
            c[others] = learned[others]
        components.append(
            Component(name, c[None], phi, rates[i], nus[i], None, True, shares[:, i].copy())
        )
    w = data.weights
    model = LikelihoodModel(tuple(components), w, data.n_observed, (), "auto")
    collapsed = collapse(model, analysis.theta0[None])
    calibration = truth_reliability(analysis, data, learned_shares)
    mixture = fit_mixture(analysis, data, loaded, (names, nus, rates), phi, shares, calibration)
    return [collapsed], nu0, mixture


def _learned_ratios(analysis: Analysis, data: FitData, loaded: Loaded) -> list[FloatArray | None]:
    """Each component's learned C^c (N, K) on the data (members' mean); None: R = 1."""
    method = analysis.methods[0]
    signal = np.asarray(analysis.models[method].event_coefficients(data.features)).mean(0)
    out: list[FloatArray | None] = [signal]
    for b in loaded.backgrounds:
        if b.estimator is None:
            out.append(None)
            continue
        inputs = b.clipped(data.features, analysis.features)
        out.append(np.asarray(b.estimator.event_coefficients(inputs), dtype=np.float64).mean(0))
    return out
