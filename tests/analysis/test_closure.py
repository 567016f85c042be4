"""The WZ study's held-out reports: validation split, generated-BSM sample, closure fits.

The "generated BSM sample" here is a PLUMBING PROXY, not physics: a copy of the SM excerpt
whose weights are multiplied by the exact R(z|θ_BSM) and whose /meta records θ_gen = θ_BSM.
It shares events with the training sample; it only checks that the reports and fits run and
are consistent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

import madsbi
from madsbi.analysis import data as data_module
from madsbi.events.convert import convert_lhe
from madsbi.events.digest import META_ATTRIBUTE, _meta_items
from madsbi.inference.limits import chi2_quantile
from madsbi.studies.wz import run_wz_study
from madsbi.studies.wz_config import WZStudyConfig
from madsbi.theory.polynomial import polynomial_features

from helpers.wz import TINY_TRAINING_TOML

DATA = Path(__file__).parents[1] / "data"
BSM = [1.0, 0.1, 0.1]
TINY = (
    """
[analysis]
store = "{store}"
bsm_stores = ["{proxy}"]
methods = ["derivative"]
test_fraction = 0.3
validation_fraction = 0.2
points_1d = 5
points_2d = 3
limit_points = 101
rate_factor = 0.014
"""
    + TINY_TRAINING_TOML
)


def _reseal(f: h5py.File) -> None:
    """Re-digest /meta after an in-place edit, as a writer of data would (fit verifies it)."""
    if "checksums" in f:
        f["checksums"].attrs[META_ATTRIBUTE] = json.dumps(_meta_items(f["meta"]), sort_keys=True)


def _proxy(store: Path, target: Path) -> Path:
    shutil.copy(store, target)
    with h5py.File(target, "r+") as f:
        c = f["parton"]["coefficients"][...]
        theta0 = np.zeros(3)
        r = c @ polynomial_features(np.array([BSM]), theta0)[0] / c[:, 0]
        f["parton"]["weight"][...] = f["parton"]["weight"][...] * r
        f["meta"].attrs["sample_id"] = "plumbing-bsm-proxy"
        if "theta_gen" in f["meta"]:  # the schema-v2 record of θ_gen
            f["meta"]["theta_gen"][...] = np.array(BSM)
        _reseal(f)
    return target


@pytest.mark.filterwarnings("ignore::madsbi.errors.TrainingSupportWarning")  # 1k events
@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")  # tiny networks
def test_heldout_reports_and_closure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(1)
    store = tmp_path / "wz_1k.h5"
    convert_lhe(DATA / "wz_parton_1k.lhe.gz", store, parameters=["cHWB", "cW", "cHq3"])
    proxy = _proxy(store, tmp_path / "bsm_proxy.h5")
    original = data_module.generation_point

    def generation_point(meta: Any) -> Any:
        # Until schema-v2 stores (θ_gen in /meta) are read by this checkout, say it here.
        if meta.sample_id == "plumbing-bsm-proxy":
            return np.array(BSM)
        return original(meta)

    monkeypatch.setattr(data_module, "generation_point", generation_point)
    config_path = tmp_path / "closure.toml"
    config_path.write_text(TINY.format(store=store, proxy=proxy))
    summary = run_wz_study(
        WZStudyConfig.from_toml(config_path), tmp_path / "out", progress=False, figures=False
    )
    heldout = summary["heldout"]
    for sample in ("sm", "bsm"):
        report = heldout["validation"][sample]
        assert report["n_events"] == 200
        metrics = report["derivative"]["own_rate"]
        assert np.isfinite(metrics["rms_error"])
        assert 0.0 <= metrics["band_coverage"] <= 1.0
    assert "per_charge" not in heldout["validation"]  # one charge: nothing to split
    (generated,) = heldout["generated_bsm"].values()
    assert generated["theta_gen"] == BSM
    assert generated["mean_log_r"]["n_events"] == 1000
    assert set(generated["mean_log_r"]["derivative"]) == {"own_rate", "exact_rate", "per_scan"}
    closure = generated["closure"]
    for mode in ("counts", "asimov"):
        methods = closure[mode]["methods"]
        assert set(methods) == {"derivative", "exact"}
        for entry in methods.values():
            q = entry["q_bsm"]
            assert q >= 0
            assert entry["inside_95"] == (q <= chi2_quantile(0.95, 3))
            assert entry["inside_99"] == (q <= chi2_quantile(0.99, 3))
    assert closure["asimov"]["luminosity_fb"] == 300.0
    # The proxy is the SM excerpt weighted exactly to θ_BSM: as Asimov data, the exact ratio
    # puts the best fit near θ_BSM (same events as the rate model's, up to the test split).
    best = closure["asimov"]["methods"]["exact"]["best_fit"]
    assert abs(best["cHWB"] - 1.0) < 1.0


@pytest.mark.filterwarnings("ignore::madsbi.errors.TrainingSupportWarning")  # 1k events
@pytest.mark.filterwarnings("ignore::madsbi.errors.BoxEdgeWarning")  # tiny networks
def test_a_single_charge_bsm_sample_uses_its_channel_rate(tmp_path: Path) -> None:
    """A W⁺Z-only sample in a W±Z study is compared and fitted with the W⁺Z rate model.

    With the pooled W±Z σ(θ) the expected count of a W⁺Z sample is σ_W±/σ_W⁺ times too large
    and every closure fit fails (q(θ_BSM) ~ 10⁴ on 20k generated events). The W⁻Z store is
    SYNTHETIC (the W⁺Z excerpt with the W's PDG id negated), for plumbing only.
    """
    torch.set_num_threads(1)
    plus = tmp_path / "wpz_1k.h5"
    convert_lhe(DATA / "wz_parton_1k.lhe.gz", plus, parameters=["cHWB", "cW", "cHq3"])
    minus = tmp_path / "synthetic_wmz_1k.h5"
    shutil.copy(plus, minus)
    with h5py.File(minus, "r+") as f:
        pdg = f["parton"]["pdg_id"][...]
        f["parton"]["pdg_id"][...] = np.where(pdg == 24, -24, pdg)
        f["meta"].attrs["process"] = str(f["meta"].attrs["process"]).replace("w+ z", "w- z")
        _reseal(f)
    proxy = _proxy(plus, tmp_path / "bsm_proxy.h5")
    config_path = tmp_path / "wpm_closure.toml"
    config_path.write_text(
        TINY.format(store=plus, proxy=proxy).replace(
            "methods = ", f'stores = ["{minus}"]\nfeatures = ["log_s", "charge"]\nmethods = ', 1
        )
    )
    summary = run_wz_study(
        WZStudyConfig.from_toml(config_path), tmp_path / "out", progress=False, figures=False
    )
    (generated,) = summary["heldout"]["generated_bsm"].values()
    assert generated["selection"] == ["charge=1"]
    analysis = madsbi.load_analysis(summary["analysis_dir"])
    options: dict[str, Any] = {
        "methods": ["exact"],
        "data_mode": "asimov",
        "luminosity": 300.0,
        "rate_factor": 0.014,
        "at": [np.array(BSM)],
        "points_2d": 11,
    }
    channel = analysis.fit(proxy, select=["charge=1"], **options).methods["exact"]
    pooled = analysis.fit(proxy, **options).methods["exact"]
    reported = generated["closure"]["asimov"]["methods"]["exact"]
    assert reported["q_bsm"] == pytest.approx(channel.points[0]["q"], rel=1e-10)
    assert reported["q_bsm"] < 0.1 * pooled.points[0]["q"]
    # The validation split is reported per charge as well, each against its channel's rate.
    validation = summary["heldout"]["validation"]
    per_charge = validation["per_charge"]
    assert set(per_charge) == {"+1", "-1"}
    for sample in ("sm", "bsm"):
        counts = [per_charge[c][sample]["n_events"] for c in ("+1", "-1")]
        assert min(counts) > 0
        assert sum(counts) == validation[sample]["n_events"]
        for c in ("+1", "-1"):
            metrics = per_charge[c][sample]["derivative"]["per_scan"]["all"]
            assert np.isfinite(metrics["relative_rms_error"])
    assert "per_charge" not in summary["heldout"]["validation"]["sm"]
