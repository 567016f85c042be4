"""MadGraph's NNPDF2.3 grid read and interpolated as its Fortran does (madsbi.theory.pdf_grid).

The references were computed by MadGraph 3.5.7's own ``NNPDFDriver.f`` (``NNevolvePDF``) on
the full ``NNPDF23_lo_as_0130_qed_mem0.grid``; the shipped grid is that file cropped to
x ≳ 1e-4 and 24 < Q < 2700 GeV (same format), which gives identical values inside.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from madsbi.errors import InputError, MissingFileError
from madsbi.theory.pdf_grid import (
    GRID_FILES,
    NNPDFGrid,
    _lagrange,
    find_grid,
    lagrange_reference,
)

DATA = Path(__file__).parents[1] / "data" / "theory"
CROP = DATA / "NNPDF23_lo_as_0130_qed_mem0_crop.grid.gz"
REFERENCE = DATA / "nnpdf23lo1_fortran_reference.json"


@pytest.fixture(scope="module")
def grid() -> NNPDFGrid:
    return NNPDFGrid.read(CROP)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    points = json.loads(REFERENCE.read_text())["points"]
    return {k: np.array([p[k] for p in points]) for k in ("pdg", "x", "q", "xfx", "alphas")}


def test_grid_header_and_shape(grid: NNPDFGrid) -> None:
    assert grid.alphas_mz == 0.13
    assert grid.has_photon
    assert grid.xfx.shape == (grid.x.size, grid.q2.size, 14)
    assert grid.x[-1] == 1.0
    assert np.all(np.diff(grid.q2) > 0)


def test_matches_madgraph_fortran(grid: NNPDFGrid, reference: dict[str, np.ndarray]) -> None:
    ours = grid.xfx_at(reference["pdg"], reference["x"], reference["q"])
    np.testing.assert_allclose(ours, reference["xfx"], rtol=1e-13, atol=1e-300)


def test_f_is_xfx_over_x(grid: NNPDFGrid) -> None:
    x = np.array([0.01, 0.2])
    np.testing.assert_allclose(
        grid.f([2, 21], x, [100.0, 100.0]) * x, grid.xfx_at([2, 21], x, 100.0)
    )


def test_gluon_and_photon_ids(grid: NNPDFGrid) -> None:
    # 21 and -21 are the gluon (column 0), 22 and 7 the photon
    g = grid.xfx_at([21, -21], 0.05, 200.0)
    assert g[0] == g[1] > 1.0
    a = grid.xfx_at([22, 7], 0.05, 200.0)
    assert a[0] == a[1]
    assert 0 < a[0] < 0.1 * g[0]
    with pytest.raises(InputError, match="PDG id 11"):
        grid.xfx_at(11, 0.1, 100.0)


def test_frozen_outside_the_grid(grid: NNPDFGrid) -> None:
    # below the lowest node x and Q² are frozen to it, as in NNevolvePDF
    low = grid.xfx_at(2, grid.x[0], 100.0)
    assert grid.xfx_at(2, grid.x[0] / 10, 100.0) == low
    top = grid.xfx_at(2, 0.1, np.sqrt(grid.q2[-1]))
    assert grid.xfx_at(2, 0.1, 10 * np.sqrt(grid.q2[-1])) == pytest.approx(top, rel=1e-15)


def test_lagrange_equals_neville() -> None:
    rng = np.random.default_rng(3)
    nodes = np.sort(rng.uniform(0, 1, (20, 4)), axis=1)
    values = rng.normal(size=(20, 4))
    at = rng.uniform(0, 1, 20)
    ours = (_lagrange(nodes, at) * values).sum(axis=1)
    plain = [
        lagrange_reference(list(n), list(v), a) for n, v, a in zip(nodes, values, at, strict=True)
    ]
    np.testing.assert_allclose(ours, plain, rtol=1e-12, atol=1e-12)
    # a cubic through 4 nodes is reproduced exactly
    assert lagrange_reference([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 8.0, 27.0], 1.5) == pytest.approx(
        3.375
    )


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError):
        NNPDFGrid.read(tmp_path / "none.grid")
    bad = tmp_path / "bad.grid"
    bad.write_text("'Version' '5.8'\n1 2 3\n")
    with pytest.raises(InputError, match="not an NNPDF grid"):
        NNPDFGrid.read(bad)
    with pytest.raises(InputError, match="member 3"):
        NNPDFGrid.read(CROP, member=3)


def test_truncated_grid_refused(tmp_path: Path) -> None:
    with gzip.open(CROP, "rt") as handle:
        lines = handle.read().splitlines()
    short = tmp_path / "short.grid"
    short.write_text("\n".join(lines[:-5]) + "\n")
    with pytest.raises(InputError, match="rows"):
        NNPDFGrid.read(short)


def test_find_grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MADSBI_PDF_GRID", raising=False)
    monkeypatch.delenv("MG5_DIR", raising=False)
    with pytest.raises(InputError, match="built-in sets"):
        find_grid("lhapdf")
    with pytest.raises(MissingFileError, match="MG5_DIR"):
        find_grid("nn23lo1", search=[tmp_path])
    process = tmp_path / "proc"
    (process / "lib" / "Pdfdata").mkdir(parents=True)
    target = process / "lib" / "Pdfdata" / GRID_FILES["nn23lo1"]
    target.write_text("x")
    assert find_grid("nn23lo1", search=[process]) == target
    monkeypatch.setenv("MADSBI_PDF_GRID", str(CROP))
    assert find_grid("nn23lo1") == CROP  # the cropped test grid keeps the file's name
    mg5 = tmp_path / "mg5" / "Template" / "LO" / "lib" / "Pdfdata"
    mg5.mkdir(parents=True)
    (mg5 / GRID_FILES["nn23lo"]).write_text("x")
    monkeypatch.delenv("MADSBI_PDF_GRID")
    monkeypatch.setenv("MG5_DIR", str(tmp_path / "mg5"))
    assert find_grid("nn23lo") == mg5 / GRID_FILES["nn23lo"]


@pytest.mark.mg5
def test_full_grid_of_the_installation(grid: NNPDFGrid, reference: dict[str, np.ndarray]) -> None:
    full = NNPDFGrid.read(find_grid("nn23lo1", search=[Path(os.environ["MG5_DIR"])]))
    assert full.x.size == 100
    assert full.q2.size == 60
    np.testing.assert_array_equal(
        full.xfx_at(reference["pdg"], reference["x"], reference["q"]),
        grid.xfx_at(reference["pdg"], reference["x"], reference["q"]),
    )
