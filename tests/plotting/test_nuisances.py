"""The ranking plot of a profiled fit (madsbi.plotting.nuisances)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.plotting import _mpl
from madsbi.plotting.nuisances import impact_table, nuisance_figures, plot_impacts

pytest.importorskip("matplotlib")
plt = _mpl.pyplot()

PARAMETERS = ["cHWB", "cW"]
NUISANCES = {
    "lumi": {"pull": 0.1, "constraint": 0.95, "fixed": False},
    "lep_scale_e": {"pull": 0.6, "constraint": 0.2, "fixed": False},
    "jet_scale": {"pull": 0.0, "constraint": 0.0, "fixed": True},
}


def _impact(up: float, down: float) -> dict[str, dict[str, float]]:
    return {"up": {"best_fit": up}, "down": {"best_fit": down}}


IMPACTS = {
    "level": 0.68,
    "parameters": {
        "cHWB": {"lumi": _impact(0.01, -0.01), "lep_scale_e": _impact(0.05, -0.04)},
        "cW": {"lumi": _impact(0.002, -0.001), "lep_scale_e": _impact(-0.003, 0.004)},
    },
}


def test_impact_table_ranks_by_largest_impact_and_keeps_fixed_last() -> None:
    names, up, down = impact_table(NUISANCES, IMPACTS, PARAMETERS)
    assert names == ["lep_scale_e", "lumi", "jet_scale"]
    np.testing.assert_array_equal(up[0], [0.05, -0.003])
    np.testing.assert_array_equal(down[1], [-0.01, -0.001])
    assert np.isnan(up[2]).all()
    assert np.isnan(down[2]).all()


def test_nuisance_figures_write_one_png_per_profiled_method(tmp_path: Path) -> None:
    result = {
        "parameters": PARAMETERS,
        "nuisances": {"mlp": NUISANCES, "lgatr": {}},
        "impacts": {"mlp": IMPACTS, "lgatr": {}},
        "intervals": {"mlp": {"cHWB": {"0.68": [[-0.2, 0.2]]}, "cW": {"0.68": [[-0.1, 0.1]]}}},
    }
    written = nuisance_figures(result, tmp_path)
    assert written == [tmp_path / "impacts_mlp.png"]
    data = written[0].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000
    assert plt.get_fignums() == []
    assert nuisance_figures({"parameters": PARAMETERS}, tmp_path) == []


def test_plot_impacts_refuses_bad_entries(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least one nuisance"):
        plot_impacts({}, IMPACTS, PARAMETERS, tmp_path / "a.png")
    with pytest.raises(InputError, match="'parameters'"):
        plot_impacts(NUISANCES, {"level": 0.68}, PARAMETERS, tmp_path / "a.png")
    with pytest.raises(InputError, match="without 'pull'"):
        plot_impacts({"x": {"constraint": 1.0}}, IMPACTS, PARAMETERS, tmp_path / "a.png")
