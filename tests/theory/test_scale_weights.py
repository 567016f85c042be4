"""μ_R/μ_F factors from <mgrwt> information and MadGraph's α_s running (theory.scale_weights)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from madsbi.errors import InputError, WeightError
from madsbi.theory.pdf_grid import NNPDFGrid
from madsbi.theory.scale_weights import (
    SCALE_VARIATIONS,
    AlphaS,
    LoScaleInfo,
    scale_factors,
    scale_weight,
)

DATA = Path(__file__).parents[1] / "data" / "theory"


@pytest.fixture(scope="module")
def grid() -> NNPDFGrid:
    return NNPDFGrid.read(DATA / "NNPDF23_lo_as_0130_qed_mem0_crop.grid.gz")


def info(
    n_qcd: int,
    mu: list[float],
    parton: list[tuple[int, float, int, float]],
    *,
    history: list[tuple[int, float, float]] | None = None,
) -> LoScaleInfo:
    """LoScaleInfo of events (pdg1, x1, pdg2, x2) at μ_R = μ_F = mu; an optional clustering
    step (pdg, x, q) before the hard parton on beam 1 (a matched sample)."""
    n = len(mu)
    width = 2 if history else 1
    pdg = np.zeros((2, n, width), dtype=np.int64)
    x = np.ones((2, n, width))
    q = np.ones((2, n, width))
    counts = np.ones((2, n), dtype=np.int64)
    for e, (p1, x1, p2, x2) in enumerate(parton):
        pdg[0, e, 0], x[0, e, 0], q[0, e, 0] = p1, x1, mu[e]
        pdg[1, e, 0], x[1, e, 0], q[1, e, 0] = p2, x2, mu[e]
        if history:
            hp, hx, hq = history[e]
            pdg[0, e, :2], x[0, e, :2], q[0, e, :2] = (hp, p1), (hx, x1), (hq, mu[e])
            counts[0, e] = 2
    return LoScaleInfo(
        n_qcd=np.full(n, n_qcd),
        mu_r=np.array(mu, dtype=np.float64),
        pdg=pdg,
        x=x,
        q=q,
        n_pdf=counts,
        totfact=np.ones(n),
    )


def test_alphas_matches_madgraph_fortran() -> None:
    points = json.loads((DATA / "nnpdf23lo1_fortran_reference.json").read_text())["points"]
    q = np.array([p["q"] for p in points])
    ref = np.array([p["alphas"] for p in points])
    np.testing.assert_allclose(AlphaS(0.130)(q), ref, rtol=1e-14)


def test_alphas_at_mz_and_thresholds() -> None:
    alphas = AlphaS(0.130)
    assert alphas(91.188) == pytest.approx(0.130, rel=1e-15)
    values = alphas(np.array([1.0, 2.0, 10.0, 1000.0]))
    assert np.all(np.diff(values) < 0)  # asymptotic freedom, through both thresholds
    one_loop = AlphaS(0.130, nloop=1)(1000.0)
    b0 = 0.61009394851893
    assert one_loop == pytest.approx(0.130 / (1 + 0.130 * b0 * 2 * math.log(1000 / 91.188)))
    assert math.isnan(float(alphas(0.5)))  # MadGraph's running fails there too
    with pytest.raises(InputError, match="scales > 0"):
        alphas(0.0)
    with pytest.raises(InputError, match="asmz"):
        AlphaS(1.5)
    with pytest.raises(InputError, match="nloop"):
        AlphaS(0.118, nloop=4)


def test_no_alphas_means_no_mu_r_dependence(grid: NNPDFGrid) -> None:
    events = info(0, [150.0, 400.0], [(2, 0.05, -1, 0.02), (-1, 0.3, 2, 0.004)])
    factors = scale_factors(events, grid, AlphaS(0.130))
    names = list(SCALE_VARIATIONS)
    for name in ("mu_r_up", "mu_r_down"):
        np.testing.assert_array_equal(factors[:, names.index(name)], 1.0)
    # a pure μ_F variation equals the joint one when μ_R does not enter
    np.testing.assert_array_equal(
        factors[:, names.index("mu_f_up")], factors[:, names.index("mu_rf_up")]
    )


def test_factors_are_pdf_and_alphas_ratios(grid: NNPDFGrid) -> None:
    alphas = AlphaS(0.130)
    mu = [120.0, 700.0]
    partons = [(21, 0.08, 2, 0.01), (1, 0.2, 21, 0.03)]
    events = info(2, mu, partons)
    factors = scale_factors(events, grid, alphas, {"a": (2.0, 0.5), "b": (0.5, 2.0)})
    for e, (p1, x1, p2, x2) in enumerate(partons):
        for j, (kr, kf) in enumerate(((2.0, 0.5), (0.5, 2.0))):
            pdf = grid.f(p1, x1, kf * mu[e]) * grid.f(p2, x2, kf * mu[e])
            pdf0 = grid.f(p1, x1, mu[e]) * grid.f(p2, x2, mu[e])
            a = (alphas(kr * mu[e]) / alphas(mu[e])) ** 2
            assert factors[e, j] == pytest.approx(float(a * pdf / pdf0), rel=1e-13)


def test_antiproton_beam_and_no_pdf(grid: NNPDFGrid) -> None:
    events = info(0, [200.0], [(2, 0.1, 2, 0.05)])
    alphas = AlphaS(0.130)
    ppbar = scale_weight(events, 1.0, 1.0, grid, alphas, beams=(1, -1))
    assert ppbar[0] == pytest.approx(float(grid.f(2, 0.1, 200.0) * grid.f(-2, 0.05, 200.0)))
    lepton = scale_weight(events, 1.0, 2.0, grid, alphas, beams=(1, 0))
    assert lepton[0] == pytest.approx(float(grid.f(2, 0.1, 400.0)))


def test_clustering_history_of_matched_samples(grid: NNPDFGrid) -> None:
    # get_lo_wgt: extra f(x_i, s)/f(x_{i+1}, s) at s = min(q_i, k_F μ_F)
    events = info(0, [300.0], [(21, 0.1, 2, 0.02)], history=[(2, 0.05, 80.0)])
    weight = scale_weight(events, 1.0, 2.0, grid, AlphaS(0.130))
    hard = grid.f(21, 0.1, 600.0) * grid.f(2, 0.02, 600.0)
    ratio = grid.f(2, 0.05, 80.0) / grid.f(2, 0.1, 80.0)
    assert weight[0] == pytest.approx(float(hard * ratio), rel=1e-13)


def test_vanishing_pdf_is_refused(grid: NNPDFGrid) -> None:
    events = info(0, [200.0, 200.0], [(2, 0.1, 2, 0.05), (5, 1.0, 2, 0.05)])
    with pytest.raises(WeightError, match="event 11"):
        scale_factors(events, grid, AlphaS(0.130), first_event=10)
