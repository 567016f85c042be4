"""LHE → event store conversion: exact quadratic closure, explicit choices, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from madsbi.errors import (
    IllConditionedBasisError,
    InputError,
    LheFormatError,
    MissingFileError,
    StoreExistsError,
    UnknownParameterError,
    WeightError,
)
from madsbi.events.convert import ConversionReport, convert_lhe
from madsbi.events.store import EventStore
from madsbi.theory.polynomial import polynomial_features_reference

from conftest import SHARED_MADGRAPH
from helpers.lhe import edited, read_text, write_lhe
from helpers.lhe_events import (
    drop_weight_ids,
    edit_event,
    event_spans,
    scale_all_weights,
    scale_weight,
    set_event_weight,
    set_weight,
)
from helpers.wz import BASIS_IDS, HOLDOUT, THETAS

FULL_FILES = {
    "parton": "wz_smeft_parton_13p6TeV_rwgt.lhe.gz",
    "leptonic": "wz_smeft_leptonic_13p6TeV_rwgt.lhe.gz",
}
needs_shared = pytest.mark.skipif(
    not SHARED_MADGRAPH.is_dir(), reason=f"full MadGraph samples not found at {SHARED_MADGRAPH}"
)


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    """An empty output directory, separate from the (edited) inputs."""
    out = tmp_path / "out"
    out.mkdir()
    return out


def theta_in_store_order(store: EventStore, wid: str) -> np.ndarray[Any, Any]:
    """θ of a weight id in the order of the store's parameters (names are case-insensitive)."""
    by_name = dict(zip(("chwb", "cw", "chq3"), THETAS[wid], strict=True))
    return np.array([by_name[n.lower()] for n in store.meta.space.names])


def holdout_errors(path: Path) -> dict[str, Any]:
    """Recompute the p10 prediction from /parton/coefficients and /parton/rwgt of a store."""
    with EventStore(path) as store:
        ids = store.column_names("parton", "rwgt")
        chunk = store.read("parton", ["coefficients", "rwgt", "weight"])
        phi = polynomial_features_reference(
            theta_in_store_order(store, HOLDOUT)[None, :], store.meta.space.theta0_array
        )[0]
        sigma_store = float(store.cross_section(theta_in_store_order(store, HOLDOUT))[0])
    c, rwgt = chunk["coefficients"], chunk["rwgt"]
    actual = rwgt[:, ids.index(HOLDOUT)]
    predicted = c @ phi
    largest = np.maximum(np.abs(rwgt).max(axis=1), np.abs(chunk["weight"]))
    return {
        "rel": np.abs(predicted - actual) / np.abs(actual),
        "rel_to_largest": np.abs(predicted - actual) / largest,
        "sigma_rel": abs(predicted.sum() - actual.sum()) / abs(actual.sum()),
        "sigma_store_rel": abs(sigma_store - actual.mean()) / abs(actual.mean()),
    }


def holdout(report: ConversionReport, wid: str = HOLDOUT) -> dict[str, Any]:
    return next(h for h in report.holdouts if h["weight_id"] == wid)


def assert_empty(directory: Path) -> None:
    assert sorted(p.name for p in directory.iterdir()) == []


# -- closure on the fixtures -----------------------------------------------------------------


def test_wz_parton_fixture_closes(data_dir: Path, outdir: Path) -> None:
    out = outdir / "wz.h5"
    report = convert_lhe(data_dir / "wz_parton_1k.lhe.gz", out, chunk_size=300)
    assert report.n_events == 1000
    assert report.parameters == ("chwb", "cw", "chq3")
    assert report.theta0 == (0.0, 0.0, 0.0)
    assert report.basis_ids == BASIS_IDS
    assert report.excluded_weights == {}
    assert [h["weight_id"] for h in report.holdouts] == [HOLDOUT, "nominal"]
    check = holdout(report)
    assert check["theta"] == (0.3, -0.7, 0.5)
    assert 0 < check["max_rel_error"] <= 2e-7
    assert check["median_rel_error"] <= check["max_rel_error"]
    assert check["cross_section_rel_error"] <= 1e-8
    assert holdout(report, "nominal")["max_rel_error"] <= 1e-12
    assert 1 < report.condition_number < 100

    errors = holdout_errors(out)
    assert errors["rel"].shape == (1000,)
    assert errors["rel"].max() <= 2e-7
    assert errors["sigma_rel"] <= 1e-8
    assert errors["sigma_store_rel"] <= 1e-8
    # the report's numbers are the ones recomputed from the file
    assert errors["rel"].max() == pytest.approx(check["max_rel_error"], rel=1e-6)
    # the streaming median comes from 0.05-decade bins: within half a bin (a factor 10^0.025)
    median = float(np.median(errors["rel"]))
    assert median / 10**0.025 <= check["median_rel_error"] <= median * 10**0.025


def test_wz_parton_store_content(data_dir: Path, outdir: Path) -> None:
    out = outdir / "wz.h5"
    convert_lhe(data_dir / "wz_parton_1k.lhe.gz", out, sample_id="wz-test", chunk_size=128)
    text = read_text(data_dir / "wz_parton_1k.lhe.gz")
    with EventStore(out) as store:
        meta = store.meta
        parton = store.read()
        assert store.column_names("parton", "rwgt") == [*BASIS_IDS, HOLDOUT]
    c, rwgt, weight = parton["coefficients"], parton["rwgt"], parton["weight"]
    assert c.shape == (1000, 10)
    # the basis weights are reproduced exactly (c = W⁻¹ w solved per event)
    np.testing.assert_allclose(c @ meta.basis.matrix.T, rwgt[:, :10], rtol=1e-12, atol=0)
    np.testing.assert_allclose(c[:, 0], weight, rtol=1e-13)
    np.testing.assert_array_equal(rwgt[:, 0], weight)  # p00_sm is the event weight
    np.testing.assert_allclose(meta.basis_cross_sections, rwgt[:, :10].mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(meta.basis_points, [THETAS[b] for b in BASIS_IDS])
    assert meta.basis_ids == BASIS_IDS
    assert meta.mg5_version == "3.5.7"
    assert meta.sample_id == "wz-test"
    assert "generate p p > w+ z" in meta.process
    assert set(meta.cards) == {"proc_card", "run_card", "param_card"}
    assert "BLOCK SMEFT" in meta.cards["param_card"]
    assert [(p.block, p.code) for p in meta.space.parameters] == [
        ("SMEFT", 9),
        ("SMEFT", 2),
        ("SMEFT", 25),
    ]
    (shard,) = meta.shards
    assert shard.shard_id == "wz_parton_1k-seed1357"  # file name and run-card iseed
    assert shard.n_events == 1000
    assert shard.seed == 1357
    assert shard.source == "wz_parton_1k.lhe.gz"
    assert json.loads(shard.report)["basis_ids"] == list(BASIS_IDS)
    # kinematics went through unchanged
    assert parton["momentum"].shape == (1000, 4, 4)
    first = event_spans(text)[0]
    assert f"{parton['momentum'][0, 2, 0]:.10e}" in text[first[0] : first[1]]


def test_wz_leptonic_fixture_closes(data_dir: Path, outdir: Path) -> None:
    out = outdir / "lep.h5"
    report = convert_lhe(data_dir / "wz_leptonic_1k.lhe.gz", out)
    assert report.n_events == 1000
    assert holdout(report)["max_rel_to_largest"] <= 2e-7
    errors = holdout_errors(out)
    assert errors["rel_to_largest"].max() <= 2e-7
    assert errors["sigma_rel"] <= 1e-8
    assert errors["rel_to_largest"].max() == pytest.approx(
        holdout(report)["max_rel_to_largest"], rel=1e-6
    )


@needs_shared
@pytest.mark.parametrize("sample", ["parton", "leptonic"])
def test_full_wz_samples_close(outdir: Path, sample: str) -> None:
    out = outdir / f"{sample}.h5"
    report = convert_lhe(SHARED_MADGRAPH / FULL_FILES[sample], out, chunk_size=7000)
    assert report.n_events == 20000
    errors = holdout_errors(out)
    if sample == "parton":
        assert errors["rel"].max() <= 2e-7
        assert holdout(report)["max_rel_error"] <= 2e-7
    assert errors["rel_to_largest"].max() <= 2e-7
    assert holdout(report)["max_rel_to_largest"] <= 2e-7
    assert errors["sigma_rel"] <= 1e-8
    assert errors["sigma_store_rel"] <= 1e-8
    assert holdout(report)["cross_section_rel_error"] <= 1e-8


@needs_shared
def test_full_drell_yan(outdir: Path) -> None:
    out = outdir / "dy.h5"
    report = convert_lhe(SHARED_MADGRAPH / "drell_yan_sm_13TeV.lhe.gz", out, reweighting=False)
    assert report.n_events == 50000
    with EventStore(out) as store:
        assert store.meta.basis_cross_sections == pytest.approx([843.23], rel=1e-6)


def test_drell_yan_fixture_has_k_equal_one(data_dir: Path, outdir: Path) -> None:
    """Without reweighting weights, as a θ-independent store (issue 29 #13: asked for)."""
    out = outdir / "dy.h5"
    report = convert_lhe(data_dir / "dy_1k.lhe.gz", out, chunk_size=250, reweighting=False)
    assert report.parameters == ()
    assert report.basis_ids == ("nominal",)
    assert report.holdouts == ()
    assert report.condition_number == 1.0
    with EventStore(out) as store:
        parton = store.read()
        assert "rwgt" not in store.fields()
        assert store.meta.n_coefficients == 1
        assert store.meta.basis_points.shape == (1, 0)
        sigma = store.meta.basis_cross_sections
    assert parton["coefficients"].shape == (1000, 1)
    np.testing.assert_array_equal(parton["coefficients"][:, 0], parton["weight"])
    assert sigma == pytest.approx([parton["weight"].mean()], rel=1e-14)
    assert parton["pdg_id"].shape == (1000, 5)


def test_max_events_and_no_rwgt(data_dir: Path, outdir: Path) -> None:
    full, part = outdir / "full.h5", outdir / "part.h5"
    convert_lhe(data_dir / "wz_parton_1k.lhe.gz", full)
    report = convert_lhe(
        data_dir / "wz_parton_1k.lhe.gz", part, max_events=250, chunk_size=100, keep_rwgt=False
    )
    assert report.n_events == 250
    with EventStore(full) as a, EventStore(part) as b:
        assert b.n_events() == 250
        assert "rwgt" not in b.fields()
        np.testing.assert_array_equal(
            a.read(fields=["coefficients"], stop=250)["coefficients"],
            b.read(fields=["coefficients"])["coefficients"],
        )


# -- explicit parameters and basis -----------------------------------------------------------


@pytest.mark.parametrize("names", [["cHWB", "cW", "cHq3"], ["CHWB", "cw", "ChQ3"]])
def test_explicit_parameter_names_are_case_insensitive(
    data_dir: Path, outdir: Path, names: list[str]
) -> None:
    default, named = outdir / "default.h5", outdir / "named.h5"
    convert_lhe(data_dir / "wz_parton_1k.lhe.gz", default)
    report = convert_lhe(data_dir / "wz_parton_1k.lhe.gz", named, parameters=names)
    assert report.parameters == tuple(names)
    with EventStore(default) as a, EventStore(named) as b:
        assert b.meta.space.names == tuple(names)
        np.testing.assert_array_equal(a.read()["coefficients"], b.read()["coefficients"])


def test_parameter_order_permutes_the_polynomial(data_dir: Path, outdir: Path, rng: Any) -> None:
    default, permuted = outdir / "default.h5", outdir / "permuted.h5"
    convert_lhe(data_dir / "wz_parton_1k.lhe.gz", default)
    convert_lhe(data_dir / "wz_parton_1k.lhe.gz", permuted, parameters=["cHq3", "cHWB", "cW"])
    thetas = rng.uniform(-1.5, 1.5, size=(8, 3))  # (cHWB, cW, cHq3)
    with EventStore(default) as a, EventStore(permuted) as b:
        assert [p.code for p in b.meta.space.parameters] == [25, 9, 2]
        phi_a = polynomial_features_reference(thetas, np.zeros(3))
        phi_b = polynomial_features_reference(thetas[:, [2, 0, 1]], np.zeros(3))
        wa = a.read()["coefficients"] @ phi_a.T
        wb = b.read()["coefficients"] @ phi_b.T
        np.testing.assert_allclose(wb, wa, rtol=1e-10)
        np.testing.assert_allclose(
            b.cross_section(thetas[:, [2, 0, 1]]), a.cross_section(thetas), rtol=1e-12
        )


def test_single_parameter_uses_only_its_points(data_dir: Path, outdir: Path) -> None:
    out = outdir / "chwb.h5"
    report = convert_lhe(data_dir / "wz_parton_1k.lhe.gz", out, parameters=["cHWB"])
    assert report.basis_ids == ("p00_sm", "p01_cHWB_p1", "p02_cHWB_m1")
    assert set(report.excluded_weights) == set(THETAS) - set(report.basis_ids)
    assert "SMEFT 2" in report.excluded_weights["p03_cW_p1"]
    with EventStore(out) as store:
        parton = store.read()
    w = parton["rwgt"]
    # quadratic through (0, w0), (+1, w+), (-1, w-): c = (w0, (w+ - w-)/2, (w+ + w-)/2 - w0)
    expected = np.stack([w[:, 0], (w[:, 1] - w[:, 2]) / 2, (w[:, 1] + w[:, 2]) / 2 - w[:, 0]], 1)
    np.testing.assert_allclose(parton["coefficients"], expected, rtol=1e-12, atol=1e-12)


def test_explicit_basis_ids(data_dir: Path, outdir: Path) -> None:
    ids = [*BASIS_IDS[1:], HOLDOUT]
    out = outdir / "basis.h5"
    report = convert_lhe(data_dir / "wz_parton_1k.lhe.gz", out, basis_ids=ids)
    assert report.basis_ids == tuple(ids)
    assert [h["weight_id"] for h in report.holdouts] == ["p00_sm", "nominal"]
    assert holdout(report, "p00_sm")["max_rel_to_largest"] <= 1e-6
    with EventStore(out) as store:
        assert store.meta.basis_ids == tuple(ids)
        np.testing.assert_array_equal(store.meta.basis_points, [THETAS[i] for i in ids])
        parton = store.read()
    # θ0 is now predicted, not solved: 8 printed digits and cond(W) leave ~1e-6
    np.testing.assert_allclose(parton["coefficients"][:, 0], parton["weight"], rtol=1e-5)


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        ([*BASIS_IDS[:-1], "p42_nowhere"], "unknown weight ids \\['p42_nowhere'\\]"),
        (list(BASIS_IDS[:-1]), "expected 10 distinct ids"),
        ([*BASIS_IDS[:-1], "p00_sm"], "expected 10 distinct ids"),
    ],
)
def test_bad_basis_ids(data_dir: Path, outdir: Path, ids: list[str], match: str) -> None:
    with pytest.raises(InputError, match=match):
        convert_lhe(data_dir / "wz_parton_1k.lhe.gz", outdir / "x.h5", basis_ids=ids)
    assert_empty(outdir)


# -- bad inputs: the right error, a clear message, and no file -------------------------------


def _edit_one(data_dir: Path, tmp_path: Path, index: int, edit: Any, name: str) -> Path:
    return edited(
        data_dir / "wz_parton_1k.lhe.gz",
        tmp_path / f"{name}.lhe.gz",
        lambda t: edit_event(t, index, edit),
    )


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_rwgt(data_dir: Path, tmp_path: Path, outdir: Path, value: str) -> None:
    src = _edit_one(data_dir, tmp_path, 737, lambda b: set_weight(b, "p05_cHq3_p1", value), "nan")
    with pytest.raises(WeightError) as info:
        convert_lhe(src, outdir / "x.h5", chunk_size=100)
    msg = str(info.value)
    assert "event 737" in msg
    assert "'p05_cHq3_p1'" in msg
    assert "non-finite" in msg
    assert_empty(outdir)


def test_non_finite_event_weight(data_dir: Path, tmp_path: Path, outdir: Path) -> None:
    src = _edit_one(data_dir, tmp_path, 42, lambda b: set_event_weight(b, "nan"), "nanw")
    with pytest.raises(WeightError, match="event 42: event weight is nan"):
        convert_lhe(src, outdir / "x.h5", chunk_size=10)
    assert_empty(outdir)


def test_zero_reference_weight(data_dir: Path, tmp_path: Path, outdir: Path) -> None:
    def zero(block: str) -> str:
        return set_weight(set_event_weight(block, "+0.0000000e+00"), "p00_sm", "+0.0000000e+00")

    src = _edit_one(data_dir, tmp_path, 123, zero, "zero")
    with pytest.raises(WeightError, match="event 123: the reference weight at θ0 is zero"):
        convert_lhe(src, outdir / "x.h5", chunk_size=50)
    assert_empty(outdir)


def test_fewer_points_than_coefficients(data_dir: Path, tmp_path: Path, outdir: Path) -> None:
    drop = ["p06_cHq3_m1", "p07_cHWB_cW_p1", "p08_cHWB_cHq3_p1", "p09_cW_cHq3_p1", HOLDOUT]
    src = edited(
        data_dir / "wz_parton_1k.lhe.gz",
        tmp_path / "few.lhe.gz",
        lambda t: drop_weight_ids(t, drop),
    )
    with pytest.raises(InputError, match="6 usable reweighting points, fewer than the K = 10"):
        convert_lhe(src, outdir / "x.h5")
    assert_empty(outdir)


def test_points_that_miss_a_direction(data_dir: Path, tmp_path: Path, outdir: Path) -> None:
    # without p09 (the only cW·cHq3 point besides p10) no quadratic can be solved
    src = edited(
        data_dir / "wz_parton_1k.lhe.gz",
        tmp_path / "flat.lhe.gz",
        lambda t: drop_weight_ids(t, ["p09_cW_cHq3_p1", HOLDOUT]),
    )
    with pytest.raises(IllConditionedBasisError) as info:
        convert_lhe(src, outdir / "x.h5")
    assert info.value.condition_number == float("inf")
    assert "cond(W) = inf" in str(info.value)
    assert "span only 9 of the K = 10" in str(info.value)
    assert_empty(outdir)


def test_repeated_basis_point(data_dir: Path, outdir: Path) -> None:
    ids = ["nominal", *BASIS_IDS[:-1]]  # 'nominal' and p00_sm are both θ0
    with pytest.raises(IllConditionedBasisError) as info:
        convert_lhe(data_dir / "wz_parton_1k.lhe.gz", outdir / "x.h5", basis_ids=ids)
    assert info.value.condition_number > 1e8
    assert "cond(W)" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert_empty(outdir)


def test_condition_limit_reports_the_condition_number(data_dir: Path, outdir: Path) -> None:
    report = convert_lhe(data_dir / "wz_parton_1k.lhe.gz", outdir / "ok.h5")
    with pytest.raises(IllConditionedBasisError) as info:
        convert_lhe(data_dir / "wz_parton_1k.lhe.gz", outdir / "x.h5", max_condition=5.0)
    assert info.value.condition_number == pytest.approx(report.condition_number, rel=1e-12)
    assert f"{report.condition_number:.3g}" in str(info.value)
    assert sorted(p.name for p in outdir.iterdir()) == ["ok.h5"]


@pytest.mark.parametrize(
    ("names", "match"),
    [
        (["cHWB", "cW", "cXYZ"], "'cXYZ' is not in the param card"),
        (["cHWB", "MZ"], "'MZ' .* is not changed by any reweighting point"),
    ],
)
def test_unknown_parameter(data_dir: Path, outdir: Path, names: list[str], match: str) -> None:
    with pytest.raises(UnknownParameterError, match=match):
        convert_lhe(data_dir / "wz_parton_1k.lhe.gz", outdir / "x.h5", parameters=names)
    assert_empty(outdir)


def test_unknown_range_name(data_dir: Path, outdir: Path) -> None:
    with pytest.raises(UnknownParameterError, match="cXYZ"):
        convert_lhe(data_dir / "wz_parton_1k.lhe.gz", outdir / "x.h5", ranges={"cXYZ": (-1, 1)})
    assert_empty(outdir)


def test_holdout_off_the_quadratic(data_dir: Path, tmp_path: Path, outdir: Path) -> None:
    src = _edit_one(data_dir, tmp_path, 400, lambda b: scale_weight(b, HOLDOUT, 1.001), "off")
    with pytest.raises(WeightError) as info:
        convert_lhe(src, outdir / "x.h5", chunk_size=100)
    assert f"'{HOLDOUT}'" in str(info.value)
    assert "not a quadratic" in str(info.value)
    assert_empty(outdir)
    # a looser tolerance accepts it and the report shows the deviation
    report = convert_lhe(src, outdir / "x.h5", holdout_tolerance=1e-2)
    assert holdout(report)["max_rel_error"] == pytest.approx(1e-3, rel=1e-2)


def _sum_normalised(text: str, n_events: int = 1000) -> str:
    text = text.replace("average\t= event_norm", "sum\t= event_norm", 1)
    assert "sum\t= event_norm" in text
    return scale_all_weights(text, 1.0 / n_events)


def test_event_norm_sum_is_rescaled(data_dir: Path, tmp_path: Path, outdir: Path) -> None:
    src = edited(data_dir / "wz_parton_1k.lhe.gz", tmp_path / "sum.lhe.gz", _sum_normalised)
    convert_lhe(data_dir / "wz_parton_1k.lhe.gz", outdir / "avg.h5")
    convert_lhe(src, outdir / "sum.h5", chunk_size=300)
    with EventStore(outdir / "avg.h5") as a, EventStore(outdir / "sum.h5") as b:
        assert "sum" in b.meta.cards["run_card"]
        for name in ("weight", "coefficients", "rwgt"):
            # coefficients cancel between weights of ~16 pb: compare on that scale
            np.testing.assert_allclose(
                b.read()[name], a.read()[name], rtol=1e-13, atol=1e-12, err_msg=name
            )
        np.testing.assert_allclose(
            b.meta.basis_cross_sections, a.meta.basis_cross_sections, rtol=1e-13
        )
        assert b.read()["weight"].mean() == pytest.approx(16.3333, rel=1e-12)


def test_event_norm_sum_with_max_events(data_dir: Path, tmp_path: Path, outdir: Path) -> None:
    # weights of a sum-normalised file are σ/N_file; converting part of it must still give σ
    src = edited(data_dir / "wz_parton_1k.lhe.gz", tmp_path / "sum.lhe.gz", _sum_normalised)
    convert_lhe(src, outdir / "sum.h5", max_events=250)
    with EventStore(outdir / "sum.h5") as store:
        assert store.read()["weight"].mean() == pytest.approx(16.3333, rel=1e-12)


def test_unsupported_event_norm(data_dir: Path, tmp_path: Path, outdir: Path) -> None:
    src = edited(
        data_dir / "wz_parton_1k.lhe.gz",
        tmp_path / "unit.lhe.gz",
        lambda t: t.replace("average\t= event_norm", "unity\t= event_norm", 1),
    )
    with pytest.raises(LheFormatError, match="event_norm = 'unity'"):
        convert_lhe(src, outdir / "x.h5")
    assert_empty(outdir)


def test_output_exists(data_dir: Path, outdir: Path) -> None:
    out = outdir / "x.h5"
    out.write_bytes(b"precious")
    with pytest.raises(StoreExistsError, match="overwrite") as info:
        convert_lhe(data_dir / "dy_1k.lhe.gz", out, reweighting=False)
    assert isinstance(info.value, FileExistsError)
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in outdir.iterdir()) == ["x.h5"]
    convert_lhe(data_dir / "dy_1k.lhe.gz", out, overwrite=True, reweighting=False)
    with EventStore(out) as store:
        assert store.n_events() == 1000
    assert sorted(p.name for p in outdir.iterdir()) == ["x.h5"]


def test_truncated_lhe_leaves_no_file(data_dir: Path, tmp_path: Path, outdir: Path) -> None:
    text = read_text(data_dir / "wz_leptonic_1k.lhe.gz")
    start, _ = event_spans(text)[900]
    src = write_lhe(tmp_path / "cut.lhe.gz", text[: start + 200])
    with pytest.raises(LheFormatError, match="truncated"):
        convert_lhe(src, outdir / "x.h5", chunk_size=100)
    assert_empty(outdir)


def test_missing_source(tmp_path: Path, outdir: Path) -> None:
    with pytest.raises(MissingFileError):
        convert_lhe(tmp_path / "absent.lhe.gz", outdir / "x.h5")
    assert_empty(outdir)
