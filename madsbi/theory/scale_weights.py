"""Exact per-event μ_R / μ_F variation factors from MadGraph's ``<mgrwt>`` information.

At LO an event's weight is |M|² · α_s(μ_R)^n · f₁(x₁, μ_F₁) f₂(x₂, μ_F₂) / flux (for MLM-matched
samples times the clustering factors). MadGraph run with ``use_syst = True`` writes, per
event, n (``<rscale>``), μ_R, and per beam the parton, x and μ_F (``<pdfrwt>``), so the weight
at scales k_R·μ_R, k_F·μ_F is the nominal one times

    r(k_R, k_F) = [α_s(k_R μ_R) / α_s(μ_R)]^n · Π_beams f(x, k_F μ_F) / f(x, μ_F)

(with the extra PDF ratios at the clustering scales of matched samples, as in MadGraph's
``systematics.py``, ``get_lo_wgt``). This module computes r with MadGraph's own PDF grid
(:mod:`madsbi.theory.pdf_grid`) and α_s running (``alfas_functions.f``), so no LHAPDF is
needed. The factors are exact: the matrix element does not depend on the scales at LO
(for processes without α_s, such as W±Z, μ_R drops out and r depends on μ_F only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import InputError, WeightError
from madsbi.theory.pdf_grid import NNPDFGrid

#: Named (k_R, k_F) scale variations: "up" multiplies a scale by 2, "down" by ½; ``mu_rf``
#: varies both together (what MadGraph's ``scalefact`` does).
SCALE_VARIATIONS: dict[str, tuple[float, float]] = {
    "mu_f_up": (1.0, 2.0),
    "mu_f_down": (1.0, 0.5),
    "mu_r_up": (2.0, 1.0),
    "mu_r_down": (0.5, 1.0),
    "mu_rf_up": (2.0, 2.0),
    "mu_rf_down": (0.5, 0.5),
    "mu_r_up_mu_f_down": (2.0, 0.5),
    "mu_r_down_mu_f_up": (0.5, 2.0),
}

# alfas_functions.f (R. K. Ellis): heavy-quark thresholds, M_Z, and the β-function constants
# for nf = 3, 4, 5; NEWTON1 stops when the relative step is below 5e-4.
_CMASS, _BMASS, _ZMASS = 1.42, 4.7, 91.188
_B0 = {3: 0.716197243913527, 4: 0.66314559621623, 5: 0.61009394851893}
_C1 = {3: 0.565884242104515, 4: 0.49019722472304, 5: 0.40134724779695}
_C2 = {3: 0.453013579178645, 4: 0.30879037953664, 5: 0.14942733137107}
_DEL = {3: 1.22140465909230, 4: 0.99743079911360, 5: 0.66077962451190}
_TOL = 5e-4


def _newton(t: FloatArray, a_in: FloatArray | float, nloop: int, nf: int) -> FloatArray:
    """``NEWTON1``: α_s at log-distance t = ln(Q²/Q0²) from α_s(Q0) = a_in (1–3 loops)."""
    b0, c1, c2, de = _B0[nf], _C1[nf], _C2[nf], _DEL[nf]
    a_in = np.broadcast_to(np.asarray(a_in, dtype=np.float64), t.shape)
    a_out = a_in / (1.0 + a_in * b0 * t)
    if nloop == 1:
        return np.asarray(a_out, dtype=np.float64)
    a_out = a_in / (1.0 + b0 * a_in * t + c1 * a_in * np.log(1.0 + a_in * b0 * t))

    def f2(a: FloatArray) -> FloatArray:
        return np.asarray(1.0 / a + c1 * np.log((c1 * a) / (1.0 + c1 * a)), dtype=np.float64)

    def f3(a: FloatArray) -> FloatArray:
        return np.asarray(
            1.0 / a
            + 0.5 * c1 * np.log((c2 * a**2) / (1.0 + c1 * a + c2 * a**2))
            - (c1**2 - 2.0 * c2) / de * np.arctan((2.0 * c2 * a + c1) / de),
            dtype=np.float64,
        )

    active = np.ones(t.shape, dtype=bool)
    for _ in range(100):
        a = a_out[active]
        if nloop == 2:
            f = b0 * t[active] + f2(a_in[active]) - f2(a)
            fp = 1.0 / (a**2 * (1.0 + c1 * a))
        else:
            f = b0 * t[active] + f3(a_in[active]) - f3(a)
            fp = 1.0 / (a**2 * (1.0 + c1 * a + c2 * a**2))
        a_out[active] = a - f / fp
        still = np.abs(f / fp / a) > _TOL
        active[np.flatnonzero(active)[~still]] = False
        if not active.any():
            break
    return np.asarray(a_out, dtype=np.float64)


@dataclass(frozen=True)
class AlphaS:
    """MadGraph's α_s(Q) (``ALPHAS`` of ``alfas_functions.f``): n-loop running from α_s(M_Z).

    Attributes
    ----------
    asmz : float
        α_s(M_Z); MadGraph takes it from the PDF (0.130 for ``nn23lo1``).
    nloop : int
        Loops of the running; MadGraph uses 2 with its built-in PDFs (``pdfwrap.f``).
    """

    asmz: float
    nloop: int = 2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.asmz) and 0 < self.asmz < 1):
            raise InputError(f"asmz: expected a number in (0, 1), got {self.asmz!r}")
        if self.nloop not in (1, 2, 3):
            raise InputError(f"nloop: expected 1, 2 or 3, got {self.nloop!r}")

    def __call__(self, q: Any) -> FloatArray:
        """α_s at scales ``q`` (GeV, > 0); NaN below ≈ 0.67 GeV, where the running fails."""
        q = np.asarray(q, dtype=np.float64)
        if np.any(~(q > 0)):
            raise InputError(f"q: α_s needs scales > 0, got {q[~(q > 0)].ravel()[:3]}")
        t_b = np.array([2.0 * math.log(_BMASS / _ZMASS)])
        amb = float(_newton(t_b, self.asmz, self.nloop, 5)[0])
        t_c = np.array([2.0 * math.log(_CMASS / _BMASS)])
        amc = float(_newton(t_c, amb, self.nloop, 4)[0])
        flat = q.ravel()
        out = np.empty_like(flat)
        for mask, ref, a_ref, nf in (
            (flat < _CMASS, _CMASS, amc, 3),
            ((flat >= _CMASS) & (flat < _BMASS), _BMASS, amb, 4),
            (flat >= _BMASS, _ZMASS, self.asmz, 5),
        ):
            if mask.any():
                with np.errstate(all="ignore"):  # NaN where MadGraph's running fails too
                    out[mask] = _newton(2.0 * np.log(flat[mask] / ref), a_ref, self.nloop, nf)
        return np.asarray(out.reshape(q.shape), dtype=np.float64)


@dataclass(frozen=True)
class LoScaleInfo:
    """The ``<mgrwt>`` information of n events (MadGraph LO, ``use_syst = True``).

    Attributes
    ----------
    n_qcd : ndarray of int, shape (n,)
        Power of α_s(μ_R) in the weight (``<rscale>``'s first number).
    mu_r : ndarray, shape (n,)
        μ_R in GeV.
    pdg, x, q : ndarray, shape (2, n, L)
        Per beam: parton ids, momentum fractions and scales of ``<pdfrwt>``; the last used
        entry of each is the hard process's parton at μ_F, earlier ones (matched samples) the
        clustering history. Unused entries: pdg 0.
    n_pdf : ndarray of int, shape (2, n)
        Used entries per beam (0: no PDF on that beam).
    totfact : ndarray, shape (n,)
        ``<totfact>``: MadGraph's product of the PDFs (and clustering factors) at the
        nominal scales.
    """

    n_qcd: np.ndarray[Any, Any]
    mu_r: FloatArray
    pdg: np.ndarray[Any, Any]
    x: FloatArray
    q: FloatArray
    n_pdf: np.ndarray[Any, Any]
    totfact: FloatArray

    @property
    def n_events(self) -> int:
        """Number of events."""
        return int(self.mu_r.shape[0])


def _beam_factor(
    info: LoScaleInfo, beam: int, sign: int, k_f: float, grid: NNPDFGrid
) -> FloatArray:
    """Π of the PDFs of one beam at k_F·μ_F, as ``get_lo_wgt`` (α_s-emission factor 1)."""
    n = info.n_events
    factor = np.ones(n)
    count = info.n_pdf[beam]
    has = count > 0
    if sign == 0 or not has.any():
        return factor
    rows = np.flatnonzero(has)
    last = count[rows] - 1
    mu_f = info.q[beam, rows, last]
    pdg = info.pdg[beam, rows, last]
    pdg = np.where(pdg == -21, 21, pdg)
    value = grid.f(sign * pdg, info.x[beam, rows, last], k_f * mu_f)
    factor[rows] = np.where(pdg == 0, 1.0, value)
    for i in range(int(count.max()) - 1):  # clustering history of matched samples
        sel = rows[count[rows] - 1 > i]
        if not sel.size:
            break
        scale = np.minimum(info.q[beam, sel, i], k_f * info.q[beam, sel, count[sel] - 1])
        pdg_i = sign * np.where(info.pdg[beam, sel, i] == -21, 21, info.pdg[beam, sel, i])
        num = grid.f(pdg_i, info.x[beam, sel, i], scale)
        den = grid.f(pdg_i, info.x[beam, sel, i + 1], scale)
        factor[sel] *= np.where(pdg_i == 0, 1.0, num / den)
    return factor


def scale_weight(
    info: LoScaleInfo,
    k_r: float,
    k_f: float,
    grid: NNPDFGrid,
    alphas: AlphaS,
    *,
    beams: tuple[int, int] = (1, 1),
) -> FloatArray:
    """The scale-dependent part of each event's weight at k_R·μ_R, k_F·μ_F.

    α_s(k_R μ_R)^n times the PDFs (``get_lo_wgt`` of MadGraph's ``systematics.py``, with
    ``alpsfact`` = 1 so the ``<asrwt>`` factors cancel in ratios). ``beams`` are the signs
    of the beams' ``lpp`` (1 proton, −1 antiproton, 0 no PDF).
    """
    weight = np.asarray(alphas(k_r * info.mu_r) ** info.n_qcd, dtype=np.float64)
    for beam, sign in enumerate(beams):
        weight = weight * _beam_factor(info, beam, sign, k_f, grid)
    return weight


def scale_factors(
    info: LoScaleInfo,
    grid: NNPDFGrid,
    alphas: AlphaS,
    variations: Mapping[str, tuple[float, float]] | None = None,
    *,
    beams: tuple[int, int] = (1, 1),
    first_event: int = 0,
) -> FloatArray:
    """Per-event factors r_v = w_v / w of named (k_R, k_F) variations, shape (n, V).

    Parameters
    ----------
    info : LoScaleInfo
        The events' ``<mgrwt>`` information.
    grid, alphas : NNPDFGrid, AlphaS
        The PDF and α_s the events were generated with.
    variations : mapping, optional
        Name → (k_R, k_F); default ``SCALE_VARIATIONS``.
    beams : tuple of int
        Signs of ``lpp1``, ``lpp2``.
    first_event : int
        Index of the first event (for error messages).

    Raises
    ------
    WeightError
        If an event's nominal PDF product is not positive and finite, or a factor is not
        finite (the message names the event).
    """
    variations = SCALE_VARIATIONS if variations is None else variations
    nominal = scale_weight(info, 1.0, 1.0, grid, alphas, beams=beams)
    invalid = np.flatnonzero(~(np.isfinite(nominal) & (nominal > 0)))
    if invalid.size:
        raise WeightError(
            f"event {first_event + int(invalid[0])}: the nominal PDF·α_s product is "
            f"{nominal[invalid[0]]:.4g}; scale factors need it > 0"
        )
    out = np.empty((info.n_events, len(variations)))
    for j, (k_r, k_f) in enumerate(variations.values()):
        out[:, j] = scale_weight(info, k_r, k_f, grid, alphas, beams=beams) / nominal
    bad = np.argwhere(~np.isfinite(out))
    if bad.size:
        row, col = (int(v) for v in bad[0])
        raise WeightError(
            f"event {first_event + row}: the {list(variations)[col]} factor is not finite"
        )
    return out
