"""fit.json carries the rate model's MC error (issue 25 item 2) at each best fit and --at point.

On the shipped ``wz_parton_paper``: the numbers equal a direct computation from
``rate_events.npz`` (the W⁺Z events of the selection ``charge=1``, exact coefficients, MIS
weights), and ``madsbi fit`` prints the error at the first method's best fit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from madsbi.analysis.names import shipped_analyses_dir
from madsbi.cli.main import cli
from madsbi.data import sample_path

AT = ["cHWB=1,cW=0.1,cHq3=0.1", "cHWB=0,cW=0,cHq3=0"]


def _direct(theta: list[float]) -> dict[str, float]:
    with np.load(shipped_analyses_dir() / "wz_parton_paper" / "rate_events.npz") as z:
        keep = z["obs_charge"] == 1
        c, v = z["coefficients"][keep], z["mis_weights"][keep]
    d = np.asarray(theta)  # θ0 = 0: φ = (1, θ_i, θ_i², θ_iθ_j (i < j))
    phi = np.concatenate([[1.0], d, d**2, [d[0] * d[1], d[0] * d[2], d[1] * d[2]]])
    t = v * (c @ phi) / c[:, 0]
    rho = t.sum() / v.sum()
    return {
        "sigma_relative": float(np.sqrt((t**2).sum()) / t.sum()),
        "ratio_relative": float(np.sqrt(((t - rho * v) ** 2).sum()) / v.sum() / rho),
        "n_eff": float(t.sum() ** 2 / (t**2).sum()),
    }


def test_fit_json_reports_the_rate_mc_error(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    args = ["fit", "wz_parton_paper", str(sample_path("wpz_parton_bsm")), "--out", str(tmp_path)]
    args += ["--method", "exact", "--select", "charge=1", "--no-figures", "--points-2d", "3"]
    args += ["--profile", "fixed", "--data-mode", "asimov"]
    for point in AT:
        args += ["--at", point]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "fit.json").read_text())
    assert document["parameters"] == ["cHWB", "cW", "cHq3"]
    errors = document["rate_mc_error"]["exact"]
    assert set(errors) == {"best_fit", "points"}
    assert len(errors["points"]) == len(AT)
    thetas = [list(document["best_fit"]["exact"].values())]
    thetas += [list(document["points"][p]["theta"].values()) for p in AT]
    for entry, theta in zip([errors["best_fit"], *errors["points"]], thetas, strict=True):
        assert set(entry) == {"sigma_relative", "ratio_relative", "n_eff"}
        expected = _direct(theta)
        for key, value in expected.items():
            assert entry[key] == pytest.approx(value, rel=1e-9), key
    # At θ0 the ratio has no error (ρ̂ = 1 by construction).
    assert errors["points"][1]["ratio_relative"] == pytest.approx(0.0, abs=1e-12)
    assert 0 < errors["best_fit"]["sigma_relative"] < 0.05
    assert "rate model MC error at the exact best fit" in result.output
