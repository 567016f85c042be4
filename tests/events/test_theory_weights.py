"""Theory variations into the store: MadGraph's systematics weights and <mgrwt> μ_F/μ_R factors.

``wz_systematics_4.lhe``: 4 events of ``wz_leptonic_1k`` with the ``<initrwgt>`` groups and
``<wgt>`` lines MadGraph 3.5.7's systematics module writes (``systematics.py``
``write_banner``, default arguments; the PDF group trimmed to the central member and two
replicas). ``wz_mgrwt_40.lhe.gz``: the first 40 events of a real W⁺Z run with
``use_syst = True``, ``systematics_program = none`` (examples/wz/syst).
"""

from __future__ import annotations

from pathlib import Path

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
    _nominal_pdf,
    systematics_weights,
    variation_name,
)

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
