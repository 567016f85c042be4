"""Theory variations (μ_R, μ_F, PDF) of each event, as ``/parton/theory_variations``.

The dataset holds, per event and named variation v, the factor r_v = w_v / w by which the
variation changes the event's weight (dimensionless; attribute ``names``). At LO the factor
does not depend on θ (scales and PDFs multiply the whole |M|²), so the weight of event e at
θ under variation v is r_v,e · c_e·φ(θ − θ0): ratios survive re-centring, merging and the
``event_norm = sum`` rescaling unchanged. Two sources, tried in this order:

1. **MadGraph's systematics weights** (``systematics_program = systematics``, needs LHAPDF):
   the ``<weight id=... MUR=... MUF=... PDF=...>`` entries of the ``<initrwgt>`` weight
   groups and every event's ``<wgt>`` values; r_v = wgt / event weight.
2. **The ``<mgrwt>`` blocks** (``use_syst = True``, ``systematics_program = none``, a built-in
   NNPDF ``pdlabel``): x, μ_F, μ_R and the α_s power per event, from which
   :func:`madsbi.theory.scale_weights.scale_factors` computes the (k_R, k_F) variations of
   ``SCALE_VARIATIONS`` with MadGraph's own PDF grid
   (:func:`madsbi.theory.pdf_grid.find_grid`). If the grid cannot be found the store is
   written without variations and a warning is logged.

Names: ``mu_r_up`` (μ_R × 2), ``mu_f_down`` (μ_F × ½), ``mu_rf_up`` (both × 2, as
``scalefact = 2``), ``mu_r_up_mu_f_down``…, ``pdf_<lhaid>`` for a PDF member, ``dyn<n>``
for another dynamical scale choice, ``alps_x<k>`` for the emission scale; unknown
combinations keep MadGraph's id (``mg_<id>``).
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.cards import parse_run_card
from madsbi.errors import LheFormatError, MissingFileError, WeightError
from madsbi.events.lhe import LheChunk, LheHeader
from madsbi.theory.pdf_grid import ASMZ, GRID_FILES, NNPDFGrid, find_grid
from madsbi.theory.scale_weights import SCALE_VARIATIONS, AlphaS, LoScaleInfo, scale_factors

logger = logging.getLogger(__name__)

#: The store field (in ``/parton``) and its attribute of column names.
FIELD = "theory_variations"

#: One parsed ``<mgrwt>`` block: (n_qcd, μ_R, {beam: <pdfrwt> numbers}, totfact).
MgrwtRecord = tuple[int, float, dict[int, list[float]], float]

_WEIGHT_TAG = re.compile(r"<weight\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"([A-Za-z_]+)\s*=\s*(['\"])(.*?)\2")


@dataclass(frozen=True)
class SystematicsWeight:
    """One ``<weight>`` written by MadGraph's systematics module.

    Attributes
    ----------
    id : str
        Its weight id.
    mur, muf : float
        Factors on μ_R and μ_F.
    pdf : int
        LHAPDF id of the PDF member.
    dyn : int
        Dynamical scale choice (−1: the one of the run).
    alps : float
        Factor on the emission scales (``ALPSFACT``).
    """

    id: str
    mur: float
    muf: float
    pdf: int
    dyn: int = -1
    alps: float = 1.0


def variation_name(
    mur: float, muf: float, *, pdf: int = 0, nominal_pdf: int = 0, dyn: int = -1, alps: float = 1
) -> str:
    """The store name of a variation (module docstring); "" for the nominal itself."""
    parts: list[str] = []
    labels = {2.0: "up", 0.5: "down"}
    if mur == muf != 1 and mur in labels:
        parts.append(f"mu_rf_{labels[mur]}")
    else:
        for tag, k in (("mu_r", mur), ("mu_f", muf)):
            if k != 1:
                parts.append(f"{tag}_{labels[k]}" if k in labels else f"{tag}_x{k:g}")
    if dyn != -1:
        parts.append(f"dyn{dyn}")
    if alps != 1:
        parts.append(f"alps_x{alps:g}")
    if pdf != nominal_pdf or not parts:
        parts.append(f"pdf_{pdf}")
    return "_".join(parts)


def systematics_weights(header: LheHeader) -> list[SystematicsWeight]:
    """The weights of ``<initrwgt>`` that carry MadGraph's ``MUR``/``MUF`` attributes."""
    found: list[SystematicsWeight] = []
    for match in _WEIGHT_TAG.finditer(header.text):
        attrs = {k.upper(): v for k, _, v in _ATTR.findall(match.group(1))}
        if "ID" not in attrs or "MUR" not in attrs or "MUF" not in attrs:
            continue
        try:
            found.append(
                SystematicsWeight(
                    id=attrs["ID"],
                    mur=float(attrs["MUR"]),
                    muf=float(attrs["MUF"]),
                    pdf=int(attrs.get("PDF", "0")),
                    dyn=int(attrs.get("DYN_SCALE", "-1")),
                    alps=float(attrs.get("ALPSFACT", "1")),
                )
            )
        except ValueError:
            raise LheFormatError(
                f"<initrwgt>: weight '{attrs['ID']}' has a MUR/MUF/PDF attribute that is not a "
                f"number: {match.group(0)}"
            ) from None
    return found


def _nominal_pdf(weights: list[SystematicsWeight], lhaid: str) -> int:
    """The PDF the events were generated with: that of the first pure scale variation."""
    for w in weights:
        if (w.mur, w.muf) != (1.0, 1.0) and w.dyn == -1 and w.alps == 1:
            return w.pdf
    return int(lhaid) if lhaid.strip().lstrip("-").isdigit() else weights[0].pdf


def _names(weights: list[SystematicsWeight], nominal_pdf: int) -> list[str]:
    names: list[str] = []
    for w in weights:
        name = variation_name(
            w.mur, w.muf, pdf=w.pdf, nominal_pdf=nominal_pdf, dyn=w.dyn, alps=w.alps
        )
        names.append(name if name not in names else f"mg_{w.id}")
    return names


def _floats(text: str) -> list[float]:
    return [float(v.replace("D", "E").replace("d", "e")) for v in text.split()]


def _parse_mgrwt(lines: list[str], event: int) -> MgrwtRecord:
    """(n_qcd, μ_R, {beam: pdfrwt numbers}, totfact) of one ``<mgrwt>`` block."""
    body = "\n".join(lines)
    try:
        rscale = re.search(r"<rscale>(.*?)</rscale>", body, re.DOTALL)
        total = re.search(r"<totfact>(.*?)</totfact>", body, re.DOTALL)
        if rscale is None or total is None:
            raise ValueError("no <rscale> or <totfact>")
        n_qcd, mu_r = rscale.group(1).split()
        beams = {
            int(b): _floats(v)
            for b, v in re.findall(r"<pdfrwt\s+beam=[\"']?(\d)[\"']?\s*>(.*?)</pdfrwt>", body)
        }
        if sorted(beams) != [1, 2]:
            raise ValueError("needs <pdfrwt> of beams 1 and 2")
        return int(n_qcd), _floats(mu_r)[0], beams, _floats(total.group(1))[0]
    except ValueError as exc:
        raise LheFormatError(f"event {event}: unreadable <mgrwt> block ({exc}): {body}") from None


def iter_mgrwt(path: str | Path) -> Iterator[MgrwtRecord | None]:
    """Stream each event's parsed ``<mgrwt>`` block (None for an event without one)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"LHE file not found: {path}")
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", errors="replace") as handle:
        block: list[str] = []
        event, inside, parsed = 0, False, None
        for line in handle:
            if "<mgrwt>" in line:
                inside, block = True, []
            elif "</mgrwt>" in line:
                inside, parsed = False, _parse_mgrwt(block, event)
            elif inside:
                block.append(line)
            elif "</event>" in line:
                yield parsed
                event, parsed = event + 1, None


def lo_scale_info(records: list[MgrwtRecord]) -> LoScaleInfo:
    """Pack parsed ``<mgrwt>`` records into a :class:`madsbi.theory.scale_weights.LoScaleInfo`."""
    n = len(records)
    counts = np.array([[int(r[2][b][0]) for r in records] for b in (1, 2)], dtype=np.int64)
    width = max(1, int(counts.max(initial=1)))
    pdg = np.zeros((2, n, width), dtype=np.int64)
    x = np.ones((2, n, width))
    q = np.ones((2, n, width))
    for e, (_, _, beams, _) in enumerate(records):
        for b in (0, 1):
            values, k = beams[b + 1], int(counts[b, e])
            pdg[b, e, :k] = values[1 : 1 + k]
            x[b, e, :k] = values[1 + k : 1 + 2 * k]
            q[b, e, :k] = values[1 + 2 * k : 1 + 3 * k]
    return LoScaleInfo(
        n_qcd=np.array([r[0] for r in records], dtype=np.int64),
        mu_r=np.array([r[1] for r in records], dtype=np.float64),
        pdg=pdg,
        x=x,
        q=q,
        n_pdf=counts,
        totfact=np.array([r[3] for r in records], dtype=np.float64),
    )


class TheoryVariations:
    """Per-chunk theory-variation factors for :func:`madsbi.events.convert.convert_lhe`.

    ``names`` is ``{}`` (nothing to store) or ``{FIELD: [...]}``; :meth:`arrays` gives the
    chunk's ``{FIELD: (n, V) array}`` (or ``{}``).
    """

    def __init__(self, header: LheHeader, source: str | Path) -> None:
        self.names: dict[str, list[str]] = {}
        self._columns: list[int] = []
        self._stream: Iterator[Any] | None = None
        self._source = Path(source)
        run = parse_run_card(header.run_card)
        weights = systematics_weights(header)
        if weights:
            ids = header.weight_ids
            nominal_pdf = _nominal_pdf(weights, run.get("lhaid", "0"))
            self._columns = [ids.index(w.id) for w in weights]
            self.names = {FIELD: _names(weights, nominal_pdf)}
            return
        pdlabel = run.get("pdlabel", "").strip().lower()
        if run.get("use_syst", "").strip().lower() not in ("true", "t", ".true.") or (
            pdlabel not in GRID_FILES
        ):
            return
        self._stream = iter_mgrwt(self._source)
        self._pending = next(self._stream, None)
        if self._pending is None:  # use_syst without <mgrwt> blocks: nothing to compute
            self._stream = None
            return
        try:
            self._grid = NNPDFGrid.read(find_grid(pdlabel, search=[self._source.parent]))
        except MissingFileError as exc:
            logger.warning("%s: no μ_F/μ_R variations stored: %s", self._source, exc)
            self._stream = None
            return
        lpp = tuple(run.get(f"lpp{b}", "1").strip() for b in (1, 2))
        if not all(v in ("1", "-1", "0") for v in lpp):
            logger.warning("%s: no μ_F/μ_R variations: beams lpp = %s", self._source, lpp)
            self._stream = None
            return
        self._alphas = AlphaS(ASMZ[pdlabel])
        self._beams = (int(lpp[0]), int(lpp[1]))
        self.names = {FIELD: list(SCALE_VARIATIONS)}

    def arrays(self, chunk: LheChunk) -> dict[str, FloatArray]:
        """The factors of the chunk's events (``{}`` when nothing is stored)."""
        if not self.names:
            return {}
        if self._stream is None:
            rwgt = chunk.arrays["rwgt"][:, self._columns]
            weight = chunk.arrays["weight"][:, None]
            if np.any(weight == 0):
                row = int(np.flatnonzero(weight[:, 0] == 0)[0])
                raise WeightError(f"event {chunk.start + row}: weight 0, no variation ratios")
            return {FIELD: rwgt / weight}
        records = []
        for i in range(chunk.n_events):
            record = self._pending if i == 0 else next(self._stream, None)
            if record is None:
                raise LheFormatError(
                    f"{self._source}: event {chunk.start + i} has no <mgrwt> block, "
                    "the first one had (use_syst = True)"
                )
            records.append(record)
        self._pending = next(self._stream, None)
        info = lo_scale_info(records)
        return {
            FIELD: scale_factors(
                info, self._grid, self._alphas, beams=self._beams, first_event=chunk.start
            )
        }
