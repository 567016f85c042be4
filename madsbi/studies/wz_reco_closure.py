"""Closure of the reco-level study: Asimov fits of BSM reco stores, jointly and per channel.

The BSM stores (``[analysis] bsm_store``: one, or one per process, all generated at
``bsm_point``) are fitted as Asimov data at the study's luminosity, their fiducial weights
scaled to ν(θ_BSM) = K L σ_fid(θ_BSM). The joint fit takes every store against the model of
the channels they cover (all of them: the study's own model, whose rates add the channels);
with several stores each is also fitted alone against its channel's model: its pooled
events' exact rate (or its learned ⟨R̂⟩), its own ρ̂ and ν0 = K L σ_fid,c(θ0). A correct
analysis has θ_BSM inside the 95 % region in every fit. The maximum is searched over
:func:`madsbi.studies.wz_reco_limits.closure_box` by
:func:`madsbi.inference.search.maximise` (zoomed grid, then a
Nelder–Mead polish from the grid's best point, θ0 and θ_BSM).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray, IntArray
from madsbi.inference.likelihood import RateModel
from madsbi.inference.limits import chi2_quantile
from madsbi.inference.rate import FB_PER_PB
from madsbi.studies.wz_reco_data import StoreSet
from madsbi.studies.wz_reco_limits import Inputs, closure_box, log_full, own_rate

if TYPE_CHECKING:
    from madsbi.studies.wz_reco import RecoAnalysis


def _rates(
    study: RecoAnalysis, inputs: Inputs, name: str, rows: IntArray | None
) -> tuple[RateModel, RateModel, float]:
    """(ρ_P, ρ̂, ν0) of a method over the pool's ``rows`` (None: the whole pool)."""
    coefficients, rate, _ = inputs[name]
    if rows is None:
        return rate, own_rate(study, coefficients.mean(0)), study.nu0
    weights = study.pool.weights[rows]
    own = RateModel.from_event_coefficients(coefficients.mean(0)[rows], weights)
    if name == "truth" or study.config.analysis.rate_model == "exact":
        rate = RateModel.from_event_coefficients(study.truth_pool[rows], weights)
    else:
        rate = own
    return rate, own, study.expected_events(float(weights.sum()))


def _fit(
    study: RecoAnalysis,
    inputs: Inputs,
    bsm: StoreSet,
    rows: IntArray | None,
    box: tuple[FloatArray, FloatArray],
) -> dict[str, Any]:
    """Q(θ_BSM) and θ̂ of every method for the Asimov data ``bsm`` against the pool's ``rows``."""
    from madsbi.inference.search import maximise

    a = study.config.analysis
    point = np.asarray(a.bsm_point, dtype=np.float64)
    weights = bsm.weights * (a.luminosity_fb * FB_PER_PB * a.rate_factor)  # Σ = ν(θ_BSM)
    truth = bsm.coefficients / bsm.coefficients[:, :1]
    threshold = chi2_quantile(0.95, point.shape[0])
    out: dict[str, Any] = {}
    for name, (_, _, log1p) in inputs.items():
        if name == "truth":
            c = truth
        else:
            c = np.asarray(study.models[name].event_coefficients(bsm.x)).mean(0)
        rate, own, nu0 = _rates(study, inputs, name, rows)

        def ll(thetas: FloatArray, c: FloatArray = c, own: RateModel = own,
               rate: RateModel = rate, log1p: bool = log1p,
               nu0: float = nu0) -> FloatArray:  # fmt: skip
            values: FloatArray = log_full(study, c, rate, own, thetas, log1p, weights, nu0)[0]
            return values

        theta_hat, ll_hat = maximise(ll, *box, candidates=(study.theta0, point))
        q_bsm = float(max(0.0, -2.0 * (float(ll(point[None])[0]) - ll_hat)))
        out[name] = {
            "q_at_bsm_point": q_bsm,
            "inside_95": q_bsm <= threshold,
            "theta_hat": np.asarray(theta_hat).tolist(),
        }
    return out


def closure(study: RecoAnalysis, inputs: Inputs) -> dict[str, Any]:
    """Asimov fits of the BSM reco store(s): q(θ_BSM), inside the 95 % region or not.

    One store: the keys of a single fit. Several (one per process): the joint fit at the
    top level (``stores``, ``theta_gen`` per store) and under ``channels`` each process's
    own fit (``store``, ``theta_gen``, ``n_entries``, ``expected_events``,
    ``expected_events0``, ``methods``).

    Raises
    ------
    ConfigError
        Two BSM stores of one process, or one whose process the analysis does not have.
    """
    a = study.config.analysis
    bsm = StoreSet.read(a.bsm_stores, "bsm_store", one_per_channel=True)
    point = np.asarray(a.bsm_point, dtype=np.float64)
    box = closure_box(a.ranges, point)
    lumi = a.luminosity_fb * FB_PER_PB * a.rate_factor
    channels = [study.pool.channel_index(s.process) for s in bsm.samples]
    # The joint model: the study's own (every channel) when the stores cover every channel.
    rows = None
    if len(set(channels)) < len(study.pool.channels):
        rows = np.flatnonzero(np.isin(study.pool.channel, channels))
    out: dict[str, Any] = {
        "available": True,
        "store": " + ".join(str(s.path) for s in bsm.samples),
        "n_entries": int(bsm.x.shape[0]),
        "bsm_point": point.tolist(),
        "theta_gen": (
            bsm.first.theta_gen.tolist()
            if len(bsm.samples) == 1
            else [s.theta_gen.tolist() for s in bsm.samples]
        ),
        "expected_events": float((bsm.weights * lumi).sum()),
        "fit_box": [box[0].tolist(), box[1].tolist()],
        "threshold_95": chi2_quantile(0.95, point.shape[0]),
        "methods": _fit(study, inputs, bsm, rows, box),
    }
    if len(bsm.samples) > 1:
        out["stores"] = [str(s.path) for s in bsm.samples]
        out["channels"] = {}
        for sample, k in zip(bsm.samples, channels, strict=True):
            alone = StoreSet.of([sample], "bsm_store")
            rows_k = study.pool.mask(k)
            out["channels"][study.pool.channels[k]] = {
                "store": str(sample.path),
                "n_entries": int(sample.x.shape[0]),
                "theta_gen": sample.theta_gen.tolist(),
                "expected_events": float((sample.weights * lumi).sum()),
                "expected_events0": study.expected_events(float(study.pool.weights[rows_k].sum())),
                "methods": _fit(study, inputs, alone, rows_k, box),
            }
    return out
