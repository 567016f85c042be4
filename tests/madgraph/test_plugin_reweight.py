"""One-pass reweighting, store and LHE weights with an analytic matrix element (no MadGraph)."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from madsbi.cards import ParamCard
from madsbi.errors import (
    ConfigError,
    IllConditionedBasisError,
    StoreExistsError,
    UnknownParameterError,
    WeightError,
)
from madsbi.events.lhe import LheChunk, LheFile
from madsbi.events.store import EventStore
from madsbi.madgraph.plan import ParamKey, make_plan
from madsbi.madgraph.reweight import run_reweighting
from madsbi.madgraph.settings import parse_settings
from madsbi.theory.polynomial import polynomial_features_reference

KEYS: tuple[ParamKey, ...] = (("SMEFT", 9), ("SMEFT", 2), ("SMEFT", 25))
CARD = """\
parameter cHWB SMEFT 9 -1 1
parameter cW SMEFT 2 -1 1
parameter cHq3 SMEFT 25 -1 1
point check1 0.3 -0.7 0.5
point check2 -2 1.5 0.25
"""


class QuadraticME:
    """|M|² = (1 + u·θ)² + (v·θ)² + 0.5 with u, v fixed per event from its momenta."""

    def __init__(self, *, ignore: int | None = None, poison: float | None = None) -> None:
        self.ignore = ignore
        self.poison = poison

    def coefficients(self, chunk: LheChunk) -> tuple[np.ndarray, np.ndarray]:
        p = chunk.arrays["momentum"][:, 2:5, 1:4].reshape(chunk.n_events, -1)
        u = np.sin(p[:, :3]) * 0.8
        v = np.cos(p[:, 3:6]) * 0.6
        if self.ignore is not None:
            u[:, self.ignore] = 0.0
            v[:, self.ignore] = 0.0
        return u, v

    def evaluate(self, chunk: LheChunk, points: Sequence[Mapping[ParamKey, float]]) -> np.ndarray:
        u, v = self.coefficients(chunk)
        out = np.empty((chunk.n_events, len(points)))
        for j, changes in enumerate(points):
            theta = np.array([changes.get(k, 0.0) for k in KEYS])
            out[:, j] = (1 + u @ theta) ** 2 + (v @ theta) ** 2 + 0.5
        if self.poison is not None:
            out[3, -1] = self.poison
        return out


@pytest.fixture
def run_dir(tmp_path: Path, data_dir: Path) -> Path:
    run = tmp_path / "Events" / "run_01"
    run.mkdir(parents=True)
    shutil.copy(data_dir / "wz_parton_1k.lhe.gz", run / "unweighted_events.lhe.gz")
    return run


def _plan(events: Path, text: str = CARD):  # type: ignore[no-untyped-def]
    with LheFile(events) as lhe:
        card = ParamCard.parse(lhe.header.param_card)
    return make_plan(parse_settings(text, "card").finish(), card)


def test_coefficients_reproduce_the_matrix_element(run_dir: Path, rng: np.random.Generator) -> None:
    events = run_dir / "unweighted_events.lhe.gz"
    before = events.read_bytes()
    me = QuadraticME()
    report = run_reweighting(events, run_dir / "madsbi.h5", _plan(events), me, chunk_size=300)
    assert events.read_bytes() == before  # lhe_weights off: the LHE is untouched
    assert report.n_events == 1000
    assert report.n_matrix_element_points == 12  # card point (= θ0 basis point) + 9 + 2 extra
    assert all(h["max_rel_to_largest"] < 1e-12 for h in report.holdouts)
    with EventStore(run_dir / "madsbi.h5") as store:
        data = store.read("parton", ["coefficients", "weight", "rwgt"])
        assert store.meta.space.names == ("cHWB", "cW", "cHq3")
        assert store.meta.cards["param_card"].strip()
    with LheFile(events) as lhe:
        chunk = next(lhe.chunks(2000))
    thetas = rng.uniform(-3, 3, size=(5, 3))
    card_me = me.evaluate(chunk, [{}])[:, 0]
    for theta in thetas:
        truth = (
            chunk.arrays["weight"]
            * me.evaluate(chunk, [dict(zip(KEYS, theta, strict=True))])[:, 0]
            / card_me
        )
        phi = polynomial_features_reference(theta[None], np.zeros(3))[0]
        np.testing.assert_allclose(data["coefficients"] @ phi, truth, rtol=1e-11)
    np.testing.assert_array_equal(data["coefficients"][:, 0], data["weight"])


def test_lhe_weights_are_added_atomically(run_dir: Path) -> None:
    events = run_dir / "unweighted_events.lhe.gz"
    with LheFile(events) as lhe:
        original_ids = lhe.header.weight_ids
    plan = _plan(events)
    run_reweighting(events, run_dir / "madsbi.h5", plan, QuadraticME(), lhe_weights=True)
    with LheFile(events) as lhe:
        assert lhe.header.weight_ids == [*original_ids, *plan.point_ids]
        rwgt = next(lhe.chunks(2000)).arrays["rwgt"][:, len(original_ids) :]
        assert "set param_card smeft 9 0.3" in lhe.header.text
    with EventStore(run_dir / "madsbi.h5") as store:
        np.testing.assert_allclose(rwgt, store.read("parton", ["rwgt"])["rwgt"], rtol=1e-15)
    assert sorted(p.name for p in run_dir.iterdir()) == ["madsbi.h5", "unweighted_events.lhe.gz"]


def test_second_run_refused_nothing_lost(run_dir: Path) -> None:
    events = run_dir / "unweighted_events.lhe.gz"
    store = run_dir / "madsbi.h5"
    run_reweighting(events, store, _plan(events), QuadraticME())
    first = store.read_bytes()
    lhe_before = events.read_bytes()
    with pytest.raises(StoreExistsError, match="already reweighted"):
        run_reweighting(events, store, _plan(events), QuadraticME(), lhe_weights=True)
    assert store.read_bytes() == first
    assert events.read_bytes() == lhe_before


@pytest.mark.parametrize(
    ("me", "message"),
    [
        (QuadraticME(poison=float("nan")), "event 3: .*'check2' is nan .not finite"),
        (QuadraticME(poison=-1.0), "event 3: .*'check2' is -1.0 .negative"),
        (QuadraticME(ignore=2), r"parameters \['cHq3'\]: all their coefficients are zero"),
    ],
)
def test_bad_weights_leave_nothing(run_dir: Path, me: QuadraticME, message: str) -> None:
    events = run_dir / "unweighted_events.lhe.gz"
    before = events.read_bytes()
    with pytest.raises(WeightError, match=message):
        run_reweighting(events, run_dir / "madsbi.h5", _plan(events), me, lhe_weights=True)
    assert events.read_bytes() == before
    assert sorted(p.name for p in run_dir.iterdir()) == ["unweighted_events.lhe.gz"]


def test_parameter_not_in_param_card(run_dir: Path) -> None:
    with pytest.raises(UnknownParameterError, match="card line 2: parameter 'cX' is SMEFT 999"):
        _plan(
            run_dir / "unweighted_events.lhe.gz", "parameter cHWB SMEFT 9\nparameter cX SMEFT 999"
        )


def test_basis_that_cannot_be_inverted(run_dir: Path) -> None:
    text = (
        "parameter a SMEFT 9\nbasis explicit\n"
        "basis_point b0 0\nbasis_point b1 1\nbasis_point b2 1.0"
    )
    with pytest.raises(IllConditionedBasisError, match="cond"):
        _plan(run_dir / "unweighted_events.lhe.gz", text)


def test_point_id_clash_with_existing_weights(run_dir: Path) -> None:
    events = run_dir / "unweighted_events.lhe.gz"
    plan = _plan(events, CARD.replace("check1", "p00_sm"))
    with pytest.raises(ConfigError, match=r"\['p00_sm'\] are already weight ids"):
        run_reweighting(events, run_dir / "madsbi.h5", plan, QuadraticME())


def test_auto_basis_is_well_conditioned(run_dir: Path) -> None:
    plan = _plan(run_dir / "unweighted_events.lhe.gz")
    assert plan.basis.n_points == 10
    assert plan.basis.condition_number < 1e3
    assert np.any(np.all(plan.basis.points == 0.0, axis=1))  # θ0 is a basis point
    assert plan.extra_ids == ("check1", "check2")


def test_plain_lhe_input(run_dir: Path) -> None:
    gz = run_dir / "unweighted_events.lhe.gz"
    plain = run_dir / "unweighted_events.lhe"
    plain.write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    run_reweighting(plain, run_dir / "madsbi.h5", _plan(plain), QuadraticME(), lhe_weights=True)
    with LheFile(plain) as lhe:
        assert "check2" in lhe.header.weight_ids


@pytest.mark.parametrize("theta0_line", ["theta0 0.5 -0.25 1", "theta0 cHq3=1 cHWB=0.5 cW=-0.25"])
def test_theta0_apart_from_the_generation_point(
    run_dir: Path, rng: np.random.Generator, theta0_line: str
) -> None:
    events = run_dir / "unweighted_events.lhe.gz"
    theta0 = np.array([0.5, -0.25, 1.0])
    me = QuadraticME()
    plan = _plan(events, CARD + theta0_line + "\n")
    report = run_reweighting(events, run_dir / "madsbi.h5", plan, me, chunk_size=400)
    assert report.theta0 == tuple(theta0)
    assert report.theta_gen == plan.card_theta
    with EventStore(run_dir / "madsbi.h5") as store:
        assert store.meta.space.theta0 == tuple(theta0)
        assert store.meta.theta_gen == plan.card_theta
        data = store.read("parton", ["coefficients", "weight"])
    with LheFile(events) as lhe:
        chunk = next(lhe.chunks(2000))
    card_me = me.evaluate(chunk, [{}])[:, 0]
    for theta in (*rng.uniform(-3, 3, size=(3, 3)), np.asarray(plan.card_theta)):
        truth = (
            chunk.arrays["weight"]
            * me.evaluate(chunk, [dict(zip(KEYS, theta, strict=True))])[:, 0]
            / card_me
        )
        phi = polynomial_features_reference(np.asarray(theta)[None], theta0)[0]
        np.testing.assert_allclose(data["coefficients"] @ phi, truth, rtol=1e-10)
    np.testing.assert_array_equal(data["weight"], chunk.arrays["weight"])


def test_theta0_by_unknown_name_is_refused(run_dir: Path) -> None:
    events = run_dir / "unweighted_events.lhe.gz"
    with pytest.raises(ConfigError, match=r"card line 6: theta0: unknown parameter 'cX'"):
        _plan(events, CARD + "theta0 cX=1 cW=0 cHq3=0\n")
