"""MadGraph's built-in NNPDF2.3 PDFs (``pdlabel`` nn23lo, nn23lo1, nn23nlo) without LHAPDF.

MadGraph ships the central members of three NNPDF2.3QED sets as text grids
(``<MG5_DIR>/Template/LO/lib/Pdfdata/NNPDF23_*_mem0.grid``, copied into every process
directory's ``lib/Pdfdata``) and evaluates them with its Fortran ``NNPDFDriver.f``
(``Source/PDF``). :class:`NNPDFGrid` reads such a grid and evaluates x·f(x, Q) with the same
interpolation: clamp x and Q² to the grid, bracket both by bisection, take 4 x nodes and 2
Q² nodes around the point (shifted inside at the grid's ends), and interpolate a polynomial
through them, cubic in log x (in x from x = 0.1 on) and linear in log Q². The Fortran uses
Neville's algorithm (``lh_polin2``); the same polynomial is evaluated here in Lagrange form,
vectorised over points, so values agree to rounding (≈ 1e-15 relative).

Flavours follow MadGraph's ``pdg2pdf``: PDG ids 1–6 quarks, negative for antiquarks,
21 the gluon, 22 (or 7) the photon; :meth:`NNPDFGrid.f` returns f = (x·f)/x, as MadGraph
multiplies its matrix elements with.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import InputError, MissingFileError

#: The grid file of each built-in NNPDF ``pdlabel`` (``Source/PDF/pdfwrap.f``).
GRID_FILES = {
    "nn23lo": "NNPDF23_lo_as_0119_qed_mem0.grid",
    "nn23lo1": "NNPDF23_lo_as_0130_qed_mem0.grid",
    "nn23nlo": "NNPDF23nlo_as_0119_qed_mem0.grid",
}
#: α_s(M_Z) MadGraph sets with each ``pdlabel`` (``pdfwrap.f``).
ASMZ = {"nn23lo": 0.119, "nn23lo1": 0.130, "nn23nlo": 0.119}
#: Below this x the interpolation is in log x, above it in x (``xch`` of NNPDFDriver.f).
X_CHANGE = 0.1
#: Polynomial orders in x and in Q² (``M``, ``N`` of NNPDFDriver.f).
ORDER_X, ORDER_Q2 = 4, 2
#: Environment variable naming a grid file or a folder of grids (checked first).
GRID_ENV = "MADSBI_PDF_GRID"


def _numbers(line: str) -> list[str]:
    return line.replace(",", " ").split()


@dataclass(frozen=True, eq=False)
class NNPDFGrid:
    """One member of an NNPDF ``.grid`` file in MadGraph's (LHAPDF-5 ``NNPDF20int``) format.

    Attributes
    ----------
    path : str
        The file read.
    x : ndarray, shape (n_x,)
        x nodes.
    q2 : ndarray, shape (n_q2,)
        Q² nodes in GeV².
    xfx : ndarray, shape (n_x, n_q2, n_flavours)
        x·f at the nodes, flavours −6 … 6 (t̄ … t) and, with 14 columns, the photon.
    alphas_mz : float
        α_s(M_Z) written in the header (``Parameterlist``).
    """

    path: str
    x: FloatArray
    q2: FloatArray
    xfx: FloatArray
    alphas_mz: float

    @classmethod
    def read(cls, path: str | Path, member: int = 0) -> NNPDFGrid:
        """Read member ``member`` (0: the central one) of a grid file (``.gz`` too).

        Raises
        ------
        MissingFileError
            If the file does not exist.
        InputError
            If it is not an NNPDF grid (no ``NNPDF20int`` section, counts that do not add
            up) or has no such member.
        """
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"PDF grid not found: {path}")
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as handle:
            lines = [ln.strip() for ln in handle if ln.strip()]
        try:
            return cls._parse(str(path), lines, member)
        except (ValueError, IndexError, StopIteration) as exc:
            raise InputError(f"{path}: not an NNPDF grid in MadGraph's format ({exc})") from None

    @classmethod
    def _parse(cls, path: str, lines: list[str], member: int) -> NNPDFGrid:
        at = next(i for i, ln in enumerate(lines) if ln.startswith("'Parameterlist:'"))
        n_members = int(_numbers(lines[at + 1])[1])  # Fortran: read line, mem, line, alphas
        alphas_mz = float(_numbers(lines[at + 2])[0])
        at = next(i for i, ln in enumerate(lines) if ln.startswith("'NNPDF20int"))
        n_flavours = 14 if lines[at].startswith("'NNPDF20intqed'") else 13
        at += 2
        n_x = int(lines[at])
        x = np.array([float(v) for v in lines[at + 1 : at + 1 + n_x]])
        at += 1 + n_x
        n_q2 = int(lines[at])
        q2 = np.array([float(v) for v in lines[at + 2 : at + 2 + n_q2]])
        at += 2 + n_q2 + 1  # one line before the Q² nodes and one after them are skipped
        if not 0 <= member <= n_members:
            raise InputError(f"{path}: member {member} requested, the grid has 0..{n_members}")
        rows = n_x * n_q2
        body = lines[at + member * rows : at + (member + 1) * rows]
        if len(body) != rows or any(len(ln.split()) != n_flavours for ln in body[:1]):
            raise ValueError(f"expected {rows} rows of {n_flavours} values")
        values = np.array(" ".join(body).split(), dtype=np.float64)
        if values.size != rows * n_flavours:
            raise ValueError(f"expected {rows} rows of {n_flavours} values")
        if x.size < ORDER_X or q2.size < ORDER_Q2 or np.any(np.diff(x) <= 0):
            raise ValueError("too few or unsorted nodes")
        return cls(path, x, q2, values.reshape(n_x, n_q2, n_flavours), alphas_mz)

    @property
    def has_photon(self) -> bool:
        """Whether the grid holds the photon (NNPDF2.3QED: 14 columns)."""
        return int(self.xfx.shape[2]) == 14

    def _column(self, pdg: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        pdg = np.asarray(pdg, dtype=np.int64)
        column = np.where(np.abs(pdg) == 21, 0, pdg)
        column = np.where((np.abs(pdg) == 22) | (np.abs(pdg) == 7), 7, column)
        bad = (np.abs(column) > 6) & (column != 7)
        if self.has_photon is False:
            bad |= column == 7
        if np.any(bad):
            raise InputError(
                f"pdg: no parton density for PDG id {int(pdg[np.argmax(bad)])} in {self.path}"
            )
        return column + 6

    def xfx_at(self, pdg: Any, x: Any, q: Any) -> FloatArray:
        """x·f(x, Q) of partons ``pdg`` as MadGraph's ``NNevolvePDF`` gives it.

        Parameters
        ----------
        pdg, x, q : array_like
            PDG ids, momentum fractions and scales Q in GeV (broadcast together).

        Returns
        -------
        ndarray
            The values x·f, frozen at the grid's edges in x and Q² as in the Fortran.
        """
        pdg, x, q = np.broadcast_arrays(np.asarray(pdg), np.asarray(x, float), np.asarray(q, float))
        column = self._column(pdg.ravel())
        xv = np.clip(x.ravel(), self.x[0], self.x[-1])
        q2 = np.clip(q.ravel() ** 2, self.q2[0], self.q2[-1])
        n_x, n_q2 = self.x.size, self.q2.size
        # Bisection as in the Fortran: the last node <= the value (1-based there).
        ix = np.searchsorted(self.x, xv, side="right")  # 1-based lower bracket
        iq = np.searchsorted(self.q2, q2, side="right")
        first_x = np.clip(ix - ORDER_X // 2, 0, n_x - ORDER_X)  # 0-based first stencil node
        first_q = np.clip(iq - ORDER_Q2 // 2, 0, n_q2 - ORDER_Q2)
        in_log = xv < X_CHANGE
        nodes_x = first_x[:, None] + np.arange(ORDER_X)
        x_nodes = np.where(in_log[:, None], np.log(self.x[nodes_x]), self.x[nodes_x])
        x_at = np.where(in_log, np.log(xv), xv)
        nodes_q = first_q[:, None] + np.arange(ORDER_Q2)
        q_nodes = np.log(self.q2[nodes_q])
        q_at = np.log(q2)
        weights_x = _lagrange(x_nodes, x_at)
        weights_q = _lagrange(q_nodes, q_at)
        table = self.xfx[nodes_x[:, :, None], nodes_q[:, None, :], column[:, None, None]]
        value = np.einsum("ni,nj,nij->n", weights_x, weights_q, table)
        return np.asarray(value.reshape(x.shape), dtype=np.float64)

    def f(self, pdg: Any, x: Any, q: Any) -> FloatArray:
        """The density f(x, Q) = x·f / x (what MadGraph's ``pdg2pdf`` returns)."""
        x_arr = np.asarray(x, dtype=np.float64)
        return self.xfx_at(pdg, x_arr, q) / x_arr


def _lagrange(nodes: FloatArray, at: FloatArray) -> FloatArray:
    """Lagrange basis weights, shape (n, order), of the polynomial through ``nodes`` at ``at``."""
    order = nodes.shape[1]
    weights = np.ones_like(nodes)
    for i in range(order):
        for j in range(order):
            if i != j:
                weights[:, i] *= (at - nodes[:, j]) / (nodes[:, i] - nodes[:, j])
    return weights


def lagrange_reference(nodes: list[float], values: list[float], at: float) -> float:
    """Neville's algorithm as in ``lh_polint`` of NNPDFDriver.f (plain reference, one point).

    ``ns`` is kept 1-based as in the Fortran; arrays are indexed ``[ns - 1]``.
    """
    n = len(nodes)
    c, d = list(values), list(values)
    ns = 1 + min(range(n), key=lambda i: abs(at - nodes[i]))
    y = values[ns - 1]
    ns -= 1
    for m in range(1, n):
        for i in range(n - m):
            ho, hp = nodes[i] - at, nodes[i + m] - at
            den = (c[i + 1] - d[i]) / (ho - hp)
            d[i], c[i] = hp * den, ho * den
        if 2 * ns < n - m:
            dy = c[ns]
        else:
            dy = d[ns - 1]
            ns -= 1
        y += dy
    return y


def find_grid(pdlabel: str, *, search: list[str | Path] | None = None) -> Path:
    """Locate MadGraph's grid file of a built-in NNPDF ``pdlabel``.

    Looks in ``$MADSBI_PDF_GRID`` (the file itself, or a folder holding it), the folders in
    ``search`` (``lib/Pdfdata`` below each is tried too, so a process directory works), and
    ``$MG5_DIR/Template/LO/lib/Pdfdata``.

    Raises
    ------
    InputError
        If ``pdlabel`` is not a built-in NNPDF set.
    MissingFileError
        If the grid is nowhere to be found; the message lists where it looked.
    """
    if pdlabel not in GRID_FILES:
        raise InputError(
            f"pdlabel: madsbi computes PDF weights for MadGraph's built-in sets "
            f"{sorted(GRID_FILES)} only, got {pdlabel!r} (LHAPDF sets: let MadGraph's "
            "systematics module write the weights)"
        )
    name = GRID_FILES[pdlabel]
    places: list[Path] = []
    env = os.environ.get(GRID_ENV)
    if env and Path(env).is_file():
        return Path(env)  # named explicitly: taken whatever its name
    if env:
        places.append(Path(env))
    for folder in search or []:
        places += [Path(folder), Path(folder) / "lib" / "Pdfdata"]
    if os.environ.get("MG5_DIR"):
        places.append(Path(os.environ["MG5_DIR"]) / "Template" / "LO" / "lib" / "Pdfdata")
    for place in places:
        for candidate in (place, place / name, place / f"{name}.gz"):
            if candidate.is_file() and candidate.name.startswith(name):
                return candidate
    raise MissingFileError(
        f"PDF grid {name} (pdlabel {pdlabel}) not found in {[str(p) for p in places]}; set "
        f"MG5_DIR to the MadGraph installation or {GRID_ENV} to the grid file"
    )
