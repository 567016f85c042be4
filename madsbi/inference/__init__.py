"""Inference: likelihood assembly, grid scans, limits and coverage (paper App. A).

Every estimator ends in R(x_e|θ, θ0) = C_e·Φ(θ) (docs/design.md); :func:`scan` sums
log R over events for a θ grid with the compiled kernel :func:`log_ratio_sums` and adds the
rate ρ(θ) = σ(θ)/σ(θ0) of a :class:`RateModel`; :class:`ScanResult` gives the mean log r
and the full likelihood ratio with the Poisson term (eq. 49), profiled over nuisance
parameters by :func:`profile_log_likelihood`; :mod:`.limits` turns it into
q(θ), p-values, best fits and intervals; :func:`run_coverage` runs the toys of eq. 53 (as
dense algebra, :mod:`.dense`); :mod:`.binned` holds the histogram and rate-only baselines.
"""

from __future__ import annotations

from madsbi.inference.binned import BinnedModel, binned_scan, rate_only_scan
from madsbi.inference.coverage import CoverageResult, dense_coverage, run_coverage
from madsbi.inference.gridscan import GridScanResult, log_ratio_sums
from madsbi.inference.likelihood import (
    RateModel,
    RatioModel,
    ScanResult,
    exact_event_coefficients,
    expected_events,
    scan,
)
from madsbi.inference.limits import (
    asimov_weights,
    best_fit,
    chi2_cdf,
    chi2_quantile,
    confidence_region,
    intervals_1d,
    p_value,
    q_statistic,
)
from madsbi.inference.profile import ProfileResult, profile_log_likelihood

__all__ = [
    "BinnedModel",
    "CoverageResult",
    "GridScanResult",
    "ProfileResult",
    "RateModel",
    "RatioModel",
    "ScanResult",
    "asimov_weights",
    "best_fit",
    "binned_scan",
    "chi2_cdf",
    "chi2_quantile",
    "confidence_region",
    "dense_coverage",
    "exact_event_coefficients",
    "expected_events",
    "intervals_1d",
    "log_ratio_sums",
    "p_value",
    "profile_log_likelihood",
    "q_statistic",
    "rate_only_scan",
    "run_coverage",
    "scan",
]
