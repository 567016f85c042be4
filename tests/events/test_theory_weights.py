"""Theory variations into the store: MadGraph's systematics weights and <mgrwt> μ_F/μ_R factors.

``wz_systematics_4.lhe``: 4 events of ``wz_leptonic_1k`` with the ``<initrwgt>`` groups and
``<wgt>`` lines MadGraph 3.5.7's systematics module writes (``systematics.py``
``write_banner``, default arguments; the PDF group trimmed to the central member and two
replicas). ``wz_mgrwt_40.lhe.gz``: the first 40 events of a real W⁺Z run with
``use_syst = True``, ``systematics_program = none`` (examples/wz/syst).
"""

from __future__ import annotations

import gzip
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from madsbi.errors import LheFormatError
from madsbi.events.convert import convert_lhe
from madsbi.events.lhe import LheFile, LheHeader
from madsbi.events.merge import merge_stores
from madsbi.events.store import EventStore
from madsbi.events.theory_weights import (
    FIELD,
    SystematicsWeight,
    TheoryVariations,
    _names,
    _nominal_pdf,
    iter_mgrwt,
    lo_scale_info,
    systematics_weights,
    variation_name,
)
from madsbi.theory.pdf_grid import NNPDFGrid
from madsbi.theory.scale_weights import SCALE_VARIATIONS, AlphaS, scale_factors

DATA = Path(__file__).parents[1] / "data" / "theory"
SYSTEMATICS = DATA / "wz_systematics_4.lhe"


def test_variation_names() -> None:
    assert variation_name(2.0, 1.0) == "mu_r_up"
    assert variation_name(1.0, 0.5) == "mu_f_down"
    assert variation_name(2.0, 2.0) == "mu_rf_up"
    assert variation_name(2.0, 0.5) == "mu_r_up_mu_f_down"
    assert variation_name(4.0, 1.0) == "mu_r_x4"
    assert variation_name(0.5, 0.5, dyn=3, pdf=7, nominal_pdf=7) == "mu_rf_down_dyn3"
    assert variation_name(1.0, 1.0, alps=2.0) == "alps_x2"
    assert variation_name(1.0, 1.0, pdf=247001, nominal_pdf=247000) == "pdf_247001"
    assert variation_name(1.0, 1.0, pdf=247000, nominal_pdf=247000) == "pdf_247000"


def test_systematics_header_is_read() -> None:
    with LheFile(SYSTEMATICS) as lhe:
        weights = systematics_weights(lhe.header)
    assert len(weights) == 47
    assert weights[0] == SystematicsWeight("1", 0.5, 0.5, 247000, -1, 1.0)
    assert weights[1] == SystematicsWeight("2", 0.5, 0.5, 247000, 1, 1.0)
    assert weights[-1] == SystematicsWeight("47", 1.0, 1.0, 247002, -1, 1.0)
    assert _nominal_pdf(weights, "230000") == 247000  # the run card's lhaid is not used
    assert _nominal_pdf(weights[-3:], "247000") == 247000
    assert _nominal_pdf(weights[-3:], "") == 247000


def test_bad_systematics_attribute() -> None:
    header = LheHeader.parse('<initrwgt><weight id="1" MUR="x" MUF="1"> </weight></initrwgt>')
    with pytest.raises(LheFormatError, match="weight '1'"):
        systematics_weights(header)


def test_systematics_weights_into_store(tmp_path: Path) -> None:
    out = tmp_path / "syst.h5"
    convert_lhe(SYSTEMATICS, out)
    with EventStore(out) as store:
        names = store.column_names("parton", FIELD)
        ratios = store.read("parton", [FIELD, "weight", "rwgt"])
        ids = store.column_names("parton", "rwgt")
        assert store.verify_digests()
    assert len(names) == len(set(names)) == 47
    assert names[:6] == [
        "mu_rf_down",
        "mu_rf_down_dyn1",
        "mu_rf_down_dyn2",
        "mu_rf_down_dyn3",
        "mu_rf_down_dyn4",
        "mu_r_down",
    ]
    assert {"mu_f_up", "mu_r_up", "mu_rf_up", "mu_r_down_mu_f_up"} <= set(names)
    assert names[-3:] == ["pdf_247000", "pdf_247001", "pdf_247002"]
    factors = ratios[FIELD]
    assert factors.shape == (4, 47)
    # r_v = wgt_v / w, read back from the raw weights
    for j in range(len(names)):
        column = ratios["rwgt"][:, ids.index(str(j + 1))]
        np.testing.assert_allclose(factors[:, j], column / ratios["weight"], rtol=1e-15)
    np.testing.assert_array_equal(factors[:, names.index("pdf_247000")], 1.0)
    # the fixture's values: 1 ± 0.001·id·(event + 1), to the 8 digits LHE prints
    expected = 1 + 0.001 * 7 * np.arange(1, 5) * -1
    np.testing.assert_allclose(factors[:, 6], expected, rtol=2e-7)


def test_no_variations_without_use_syst(tmp_path: Path) -> None:
    source = Path(__file__).parents[1] / "data" / "wz_leptonic_1k.lhe.gz"
    with LheFile(source) as lhe:
        theory = TheoryVariations(lhe.header, source)
        assert theory.names == {}
        chunk = next(lhe.chunks(10))
        assert theory.arrays(chunk) == {}


def test_merge_keeps_the_variations(tmp_path: Path) -> None:
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    convert_lhe(SYSTEMATICS, a, max_events=2, shard_id="a")
    convert_lhe(SYSTEMATICS, b, shard_id="b")
    merged = tmp_path / "m.h5"
    merge_stores(merged, [a, b])
    with EventStore(merged) as store, EventStore(b) as single:
        assert store.column_names("parton", FIELD) == single.column_names("parton", FIELD)
        values = store.read("parton", [FIELD])[FIELD]
        np.testing.assert_array_equal(values[2:], single.read("parton", [FIELD])[FIELD])


# ---- <mgrwt>: MadGraph's own test file (tests/input_files/ttbar.lhe.gz of MadGraph 3.5.7,
# written by MadGraph 2.5.5: gg → tt̄, nn23lo1, use_syst = True, α_s², 25 events) holds both
# the <mgrwt> blocks and the systematics module's weights (computed with LHAPDF).
TTBAR = DATA / "mg5_ttbar_systematics.lhe.gz"
CROP = DATA / "NNPDF23_lo_as_0130_qed_mem0_crop.grid.gz"


@pytest.fixture(scope="module")
def ttbar() -> dict[str, Any]:
    with LheFile(TTBAR) as lhe:
        header = lhe.header
        chunk = next(lhe.chunks(100))
    weights = systematics_weights(header)
    names = _names(weights, _nominal_pdf(weights, "0"))
    columns = {n: header.weight_ids.index(w.id) for n, w in zip(names, weights, strict=True)}
    info = lo_scale_info([r for r in iter_mgrwt(TTBAR) if r is not None])
    return {"chunk": chunk, "columns": columns, "info": info, "header": header}


def test_mgrwt_is_parsed(ttbar: dict[str, Any]) -> None:
    info = ttbar["info"]
    assert info.n_events == 25
    np.testing.assert_array_equal(info.n_qcd, 2)
    np.testing.assert_array_equal(info.n_pdf, 1)
    assert set(np.unique(info.pdg)) == {-2, -1, 1, 2, 21}  # gg and qq̄ → tt̄
    np.testing.assert_array_equal(info.pdg[:, 0, 0], 21)
    # the first event's block: <rscale>  2 0.22633559E+03</rscale>, x1 = 0.20765636E-01
    assert info.mu_r[0] == 226.33559
    assert info.x[0, 0, 0] == 0.020765636
    assert info.q[1, 0, 0] == 226.33559
    assert info.totfact[0] == 2785.9782


def test_pdfs_and_alphas_are_madgraphs(ttbar: dict[str, Any]) -> None:
    """<totfact> is f₁(x₁, μ_F) f₂(x₂, μ_F) from MadGraph's Fortran; AQCDUP is α_s(μ_R)."""
    info, grid = ttbar["info"], NNPDFGrid.read(CROP)
    beam = [grid.f(info.pdg[b, :, 0], info.x[b, :, 0], info.q[b, :, 0]) for b in (0, 1)]
    pdfs = beam[0] * beam[1]
    np.testing.assert_allclose(pdfs, info.totfact, rtol=2e-7)  # 8 digits printed
    aqcd = ttbar["chunk"].arrays["aqcd"]
    np.testing.assert_allclose(AlphaS(0.130)(info.mu_r), aqcd, rtol=5e-7)


def test_factors_against_madgraph_systematics(ttbar: dict[str, Any]) -> None:
    """μ_F: as MadGraph's systematics module (LHAPDF's interpolation of the same set) within
    1e-3; μ_R: α_s² ratios with MadGraph's generation running, within 3 % of the
    module's, which takes α_s from LHAPDF instead (a different running)."""
    info, grid = ttbar["info"], NNPDFGrid.read(CROP)
    alphas = AlphaS(0.130)
    factors = scale_factors(info, grid, alphas)
    weight = ttbar["chunk"].arrays["weight"]
    rwgt = ttbar["chunk"].arrays["rwgt"]
    for j, (name, (k_r, _)) in enumerate(SCALE_VARIATIONS.items()):
        theirs = rwgt[:, ttbar["columns"][name]] / weight
        tolerance = 1e-3 if k_r == 1 else 3e-2
        np.testing.assert_allclose(factors[:, j], theirs, rtol=tolerance, err_msg=name)
    mu_r_up = factors[:, list(SCALE_VARIATIONS).index("mu_r_up")]
    np.testing.assert_allclose(mu_r_up, (alphas(2 * info.mu_r) / alphas(info.mu_r)) ** 2)


def test_mgrwt_into_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the systematics weights, convert computes the factors from <mgrwt>."""
    with gzip.open(TTBAR, "rt") as handle:
        text = handle.read()
    text = re.sub(r"<initrwgt>.*?</initrwgt>\n", "", text, flags=re.DOTALL)
    text = re.sub(r"<rwgt>.*?</rwgt>\n", "", text, flags=re.DOTALL)
    source = tmp_path / "ttbar.lhe"
    source.write_text(text)
    monkeypatch.setenv("MADSBI_PDF_GRID", str(CROP))
    out = tmp_path / "tt.h5"
    convert_lhe(source, out, reweighting=False, chunk_size=10)  # 3 chunks
    with EventStore(out) as store:
        assert store.column_names("parton", FIELD) == list(SCALE_VARIATIONS)
        stored = store.read("parton", [FIELD])[FIELD]
    info = lo_scale_info([r for r in iter_mgrwt(source) if r is not None])
    expected = scale_factors(info, NNPDFGrid.read(CROP), AlphaS(0.130))
    np.testing.assert_array_equal(stored, expected)


def test_mgrwt_without_grid_or_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with gzip.open(TTBAR, "rt") as handle:
        text = re.sub(r"<initrwgt>.*?</initrwgt>\n", "", handle.read(), flags=re.DOTALL)
    text = re.sub(r"<rwgt>.*?</rwgt>\n", "", text, flags=re.DOTALL)
    source = tmp_path / "ttbar.lhe"
    source.write_text(text)
    monkeypatch.delenv("MADSBI_PDF_GRID", raising=False)
    monkeypatch.setenv("MG5_DIR", str(tmp_path))
    with caplog.at_level(logging.WARNING), LheFile(source) as lhe:
        assert TheoryVariations(lhe.header, source).names == {}
    assert "no μ_F/μ_R variations" in caplog.text
    # an event without its block, after the first had one
    monkeypatch.setenv("MADSBI_PDF_GRID", str(CROP))
    second = text.split("<mgrwt>")
    broken = second[0] + "<mgrwt>" + second[1] + second[2].split("</mgrwt>\n", 1)[1]
    for rest in second[3:]:
        broken += "<mgrwt>" + rest
    source.write_text(broken)
    with pytest.raises(LheFormatError, match="event 1 has no <mgrwt>"):
        convert_lhe(source, tmp_path / "x.h5", reweighting=False, chunk_size=5)
    source.write_text(text.replace("<rscale>  2 0.22633559E+03</rscale>", "<rscale>2</rscale>"))
    with pytest.raises(LheFormatError, match="event 0: unreadable <mgrwt>"):
        convert_lhe(source, tmp_path / "y.h5", reweighting=False)


def test_wz_mgrwt_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real W⁺Z run (3.5.7, examples/wz/syst): μ_R drops out exactly (no α_s), MadGraph's
    PDFs are reproduced, and the μ_F factors are the PDF ratios at 2μ_F and μ_F/2."""
    source = DATA / "wz_mgrwt_40.lhe.gz"
    monkeypatch.setenv("MADSBI_PDF_GRID", str(CROP))
    out = tmp_path / "wz.h5"
    convert_lhe(source, out, reweighting=False)
    with EventStore(out) as store:
        names = store.column_names("parton", FIELD)
        data = store.read("parton", [FIELD, "aqcd"])
    factors = {n: data[FIELD][:, j] for j, n in enumerate(names)}
    np.testing.assert_array_equal(factors["mu_r_up"], 1.0)
    np.testing.assert_array_equal(factors["mu_r_down"], 1.0)
    np.testing.assert_array_equal(factors["mu_rf_up"], factors["mu_f_up"])
    info = lo_scale_info([r for r in iter_mgrwt(source) if r is not None])
    assert set(info.n_qcd) == {0}
    grid = NNPDFGrid.read(CROP)

    def pdfs(k: float) -> np.ndarray:
        b1, b2 = (grid.f(info.pdg[b, :, 0], info.x[b, :, 0], k * info.q[b, :, 0]) for b in (0, 1))
        return np.asarray(b1 * b2)

    np.testing.assert_allclose(pdfs(1.0), info.totfact, rtol=2e-7)
    np.testing.assert_allclose(AlphaS(0.130)(info.mu_r), data["aqcd"], rtol=5e-7)
    np.testing.assert_allclose(factors["mu_f_up"], pdfs(2.0) / pdfs(1.0), rtol=1e-14)
    np.testing.assert_allclose(factors["mu_f_down"], pdfs(0.5) / pdfs(1.0), rtol=1e-14)
    assert 0.8 < factors["mu_f_down"].min() < factors["mu_f_down"].max() < 1.2
