"""The Monte Carlo error of the reco rate model (issue 25 item 2).

The rate model's σ̂_fid(θ) = Σ_e v_e R_e(θ) comes from a finite pool of reco stores
(:func:`madsbi.studies.wz_reco_data.rate_pool`). With n observed events a relative error δ of
the expected events moves q by about n δ², so the error must be known where the likelihood is
evaluated: at θ0, at the closure points and along each axis of the analysis ranges. The
errors are those of :func:`madsbi.inference.rate.cross_section` (the selected entries are
the passed part of each store's generated parents), per channel and for the channels' sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.inference.rate import GeneratedSample, cross_section

#: Points per axis of the ranges at which the error is reported.
AXIS_POINTS = 9


def generated_samples(samples: Sequence[Any]) -> list[GeneratedSample]:
    """Each reco sample as MIS sees it: its passed parents out of its generated parents.

    Per parent (:func:`madsbi.studies.wz_reco_train.parent_sample`): a smeared store's copies
    of one parent are one independent event (their weights summed), so the MC errors count
    parents, not copies; an unsmeared store has one entry per parent.
    """
    from madsbi.studies.wz_reco_train import parent_sample

    return [parent_sample(s)[0] for s in samples]


def _errors(
    samples: list[GeneratedSample], theta0: FloatArray, thetas: FloatArray
) -> dict[str, Any]:
    est = cross_section(samples, theta0, thetas)
    return {
        "sigma_pb": est.sigma.tolist(),
        "sigma_relative_error": (est.sigma_error / est.sigma).tolist(),
        "ratio": est.ratio.tolist(),
        "ratio_relative_error": (est.ratio_error / est.ratio).tolist(),
    }


def rate_error_report(
    samples: Sequence[Any],
    theta0: FloatArray,
    names: Sequence[str],
    ranges: Sequence[Sequence[float]],
    points: Mapping[str, Sequence[float]],
) -> dict[str, Any]:
    """Relative MC errors of σ̂_fid(θ) and ρ̂(θ) = σ̂(θ)/σ̂(θ0) of the rate pool.

    Parameters
    ----------
    samples
        The pool's reco samples (test stores and rate stores: ``RecoSample``).
    theta0, names, ranges
        The reference point, the parameter names and the analysis ranges.
    points
        Named points (θ0 is added as ``"theta0"``).

    Returns
    -------
    dict
        ``points``: the named points; ``axes``: per parameter the values along its range (the
        others at θ0); each with ``total`` and per channel ``sigma_pb``,
        ``sigma_relative_error``, ``ratio``, ``ratio_relative_error``.
    """
    generated = generated_samples(samples)
    channels = sorted({g.channel for g in generated})
    named = {"theta0": [float(v) for v in theta0], **{k: list(v) for k, v in points.items()}}
    grids: dict[str, FloatArray] = {"points": np.asarray(list(named.values()), dtype=float)}
    for i, name in enumerate(names):
        line = np.repeat(np.asarray(theta0, dtype=float)[None], AXIS_POINTS, axis=0)
        line[:, i] = np.linspace(ranges[i][0], ranges[i][1], AXIS_POINTS)
        grids[name] = line
    report: dict[str, Any] = {"points": {"names": list(named)}, "axes": {}}
    for key, grid in grids.items():
        entry: dict[str, Any] = {"theta": grid.tolist(), "total": _errors(generated, theta0, grid)}
        if len(channels) > 1:
            entry["channels"] = {
                c: _errors([g for g in generated if g.channel == c], theta0, grid) for c in channels
            }
        if key == "points":
            report["points"].update(entry)
        else:
            report["axes"][key] = entry
    return report
