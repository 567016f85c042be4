"""The rate model's MC error at the points of a fit (issue 25 item 2), for ``fit.json``.

An analysis's rate model is a pool of events with MIS weights v_e and exact coefficients
(``rate_events.npz``): σ̂_sel(θ) = Σ_e v_e R_e(θ) over the events that pass the fit's
selection. Its relative MC error, that of ρ̂ = σ̂(θ)/σ̂(θ0) and the pool's effective size at θ
(:func:`madsbi.inference.rate.rate_mc_error`) travel with every fit: at each method's best fit
and at every ``at`` point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.inference.rate import rate_mc_error
from madsbi.theory.polynomial import polynomial_features

if TYPE_CHECKING:
    from madsbi.analysis.data import Selection
    from madsbi.analysis.load import Analysis

KEYS = ("sigma_relative", "ratio_relative", "n_eff")


def rate_errors(
    analysis: Analysis,
    selections: Sequence[Selection],
    best_fit: FloatArray,
    points: Sequence[FloatArray],
) -> dict[str, Any]:
    """``{"best_fit": {...}, "points": [{...}, ...]}``, each with :data:`KEYS`.

    Parameters
    ----------
    analysis : Analysis
    selections : the fit's selections (the data's and its channel's)
    best_fit : (n,)
        θ̂ of one method.
    points : (n,) each
        The ``at`` points.
    """
    c, v = analysis.exact_rate_events(selections)
    thetas = np.vstack([np.asarray(best_fit, dtype=np.float64), *points])
    ratios = polynomial_features(thetas, analysis.theta0) @ c.T
    errors = rate_mc_error(v, ratios)
    entries = [{k: float(errors[k][g]) for k in KEYS} for g in range(thetas.shape[0])]
    return {"best_fit": entries[0], "points": entries[1:]}
