"""μ_F/μ_R factors against a real MadGraph (marker mg5: needs $MG5_DIR with SMEFTsim).

Generates W⁺Z → ℓνℓℓ (SM) twice with ``use_syst = True``, ``systematics_program = none``:
at the nominal scales and with ``scalefact = 2`` (μ_R and μ_F × 2); the factors madsbi
computes on the nominal events must reproduce the PDFs MadGraph multiplied with
(``<totfact>``), α_s(μ_R) (AQCDUP), and the cross-section of the ``scalefact = 2`` run.
The full-size check (20k events, m_T^WZ and p_T^Z shapes) is in examples/wz/syst.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from madsbi.events.convert import convert_lhe
from madsbi.events.lhe import LheFile
from madsbi.events.store import EventStore
from madsbi.events.theory_weights import FIELD, iter_mgrwt, lo_scale_info
from madsbi.theory.pdf_grid import NNPDFGrid, find_grid
from madsbi.theory.scale_weights import AlphaS

pytestmark = pytest.mark.mg5

MODEL = "SMEFTsim_U35_MwScheme_UFO"
EXAMPLES = Path(__file__).parents[2] / "examples" / "wz" / "syst"


def launch(proc: Path, name: str, scalefact: float, seed: int) -> str:
    return (
        f"launch {proc} -n {name}\nshower=OFF\ndetector=OFF\nanalysis=OFF\nmadspin=OFF\n"
        "reweight=OFF\ndone\nset nevents 2000\nset ebeam1 6800\nset ebeam2 6800\n"
        "set pdlabel nn23lo1\nset use_syst True\nset systematics_program none\n"
        f"set scalefact {scalefact}\nset iseed {seed}\nset nb_core 1\nset run_mode 0\n"
        "set cut_decays False\ndone\n"
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mg5 = Path(os.environ["MG5_DIR"])
    if not (mg5 / "models" / MODEL / "restrict_madsbi_WZ.dat").exists():
        pytest.skip(f"needs {MODEL} with restrict_madsbi_WZ.dat")
    work = tmp_path_factory.mktemp("syst")
    proc = work / "WZ_syst"
    generate = (EXAMPLES / "gen_wpz_leptonic_sm.mg5").read_text()
    script = generate.replace("output WZ_syst", f"output {proc}")
    script += launch(proc, "nominal", 1.0, 4242) + launch(proc, "mu2", 2.0, 4243)
    (work / "run.mg5").write_text(script)
    done = subprocess.run(
        [sys.executable, str(mg5 / "bin" / "mg5_aMC"), str(work / "run.mg5")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    events = proc / "Events" / "mu2" / "unweighted_events.lhe.gz"
    assert events.exists(), (done.stdout + done.stderr)[-3000:]
    return proc


def _cross_section(path: Path) -> tuple[float, float]:
    with LheFile(path) as lhe:
        init = lhe.header.text.split("<init>")[1].split("</init>")[0]
    line = [ln for ln in init.splitlines() if ln.strip()][1].split()
    return float(line[0]), float(line[1])


def test_against_madgraph(runs: Path, tmp_path: Path) -> None:
    nominal = runs / "Events" / "nominal" / "unweighted_events.lhe.gz"
    store = tmp_path / "nominal.h5"
    convert_lhe(nominal, store, reweighting=False)
    with EventStore(store) as s:
        names = s.column_names("parton", FIELD)
        data = s.read("parton", [FIELD, "weight", "aqcd"])
    factors = data[FIELD]
    np.testing.assert_array_equal(factors[:, names.index("mu_r_up")], 1.0)  # no α_s in W⁺Z
    info = lo_scale_info([r for r in iter_mgrwt(nominal) if r is not None])
    grid = NNPDFGrid.read(find_grid("nn23lo1", search=[runs]))
    pdfs = grid.f(info.pdg[0, :, 0], info.x[0, :, 0], info.q[0, :, 0]) * grid.f(
        info.pdg[1, :, 0], info.x[1, :, 0], info.q[1, :, 0]
    )
    np.testing.assert_allclose(pdfs, info.totfact, rtol=2e-7)  # 8 printed digits
    # AQCDUP is printed with 7 decimals (≈ 0.12: ±5e-8 of rounding, 4e-7 relative)
    np.testing.assert_allclose(AlphaS(0.130)(info.mu_r), data["aqcd"], rtol=0, atol=6e-8)
    sigma, error = _cross_section(nominal)
    sigma2, error2 = _cross_section(runs / "Events" / "mu2" / "unweighted_events.lhe.gz")
    f = factors[:, names.index("mu_rf_up")]
    predicted = sigma * f.mean()
    spread = np.hypot(sigma * f.std() / np.sqrt(f.size), error * f.mean())
    assert abs(predicted - sigma2) < 4 * np.hypot(spread, error2)
    assert abs(predicted / sigma - 1) > 0.005  # the variation is resolved, not nil
