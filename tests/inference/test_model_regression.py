"""The likelihood-model redesign changed no number: the example studies and ``madsbi fit``.

``tests/data/likelihood_regression.json.gz`` holds every number of the summaries of
``examples/wz_parton.toml``, ``examples/wz_reco.toml`` and ``examples/toy_alpha1p5.toml`` (tiny
networks and grids, :mod:`helpers.likelihood_regression`) and of ``madsbi fit`` with the
shipped ``wz_parton_paper`` analysis, recorded on d061b18 (main before the redesign; its
``note`` names the one change of rounding order made there: ν0 of the parton study now
multiplied as every other ν0 is). They must come out bit for bit the same.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from helpers.likelihood_regression import compare, fingerprints

RECORD = Path(__file__).parents[1] / "data" / "likelihood_regression.json.gz"

# A few events of the shipped BSM store lie beyond the range of the shipped analysis's
# rate-model events (its training support, derived at load time): a warning, no number.
pytestmark = pytest.mark.filterwarnings("ignore::madsbi.errors.TrainingSupportWarning")


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    with gzip.open(RECORD, "rt") as f:
        document: dict[str, Any] = json.load(f)
    return document


@pytest.fixture(scope="module")
def computed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    return fingerprints(tmp_path_factory.mktemp("regression"))


def test_the_record_is_from_main_before_the_redesign(recorded: dict[str, Any]) -> None:
    assert recorded["commit"].startswith("d061b18")
    assert set(recorded["cases"]) == {"wz_parton", "wz_reco", "toy_alpha1p5", "fit_wz_parton_paper"}
    assert all(len(case) > 500 for case in recorded["cases"].values())


@pytest.mark.parametrize("case", ["wz_parton", "wz_reco", "toy_alpha1p5", "fit_wz_parton_paper"])
def test_every_number_is_bit_for_bit_the_same(
    recorded: dict[str, Any], computed: dict[str, dict[str, float]], case: str
) -> None:
    differences = compare(recorded["cases"][case], computed[case], rtol=0.0)
    assert not differences, f"{len(differences)} numbers differ, e.g. {differences[:5]}"
