"""W±Z parton observables (madsbi.processes.wz_parton) against hand-built kinematics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from madsbi.data import sample_path
from madsbi.errors import InputError
from madsbi.events.store import EventStore
from madsbi.processes.wz_parton import OBSERVABLES, parton_features


def _event(rng: np.random.Generator, n: int, quark_first: Any, w_sign: Any) -> dict[str, Any]:
    """q q̄' → W Z in random frames: incoming along ±z, outgoing back to back plus a boost."""
    ea, eb = rng.uniform(100, 900, n), rng.uniform(100, 900, n)
    pa = np.stack([ea, 0 * ea, 0 * ea, ea], 1)
    pb = np.stack([eb, 0 * eb, 0 * eb, -eb], 1)
    total = pa + pb
    # Split the total momentum into two outgoing momenta (masses need not be physical here).
    share = rng.uniform(0.3, 0.7, (n, 1))
    kick = np.concatenate([np.zeros((n, 1)), rng.normal(0, 30, (n, 3))], 1)
    pw = share * total + kick
    pz = total - pw
    quark, anti = np.full(n, 2), np.full(n, -1)
    first_id = np.where(quark_first, quark, anti)
    second_id = np.where(quark_first, anti, quark)
    pdg = np.stack([first_id, second_id, 24 * np.asarray(w_sign), np.full(n, 23)], 1)
    status = np.tile([-1, -1, 1, 1], (n, 1))
    momentum = np.stack([pa, pb, pw, pz], 1)
    return {"pdg_id": pdg, "status": status, "momentum": momentum}


def _square(p: np.ndarray) -> np.ndarray:
    return p[..., 0] ** 2 - (p[..., 1:] ** 2).sum(-1)


def test_s_t_and_charge_match_the_definitions(rng: np.random.Generator) -> None:
    n = 50
    quark_first = rng.random(n) < 0.5
    sign = np.where(rng.random(n) < 0.5, 1, -1)
    event = _event(rng, n, quark_first, sign)
    f = parton_features(event, ["s", "t", "charge", "log_s", "log_minus_t", "m_wz", "pt_w"])
    p = event["momentum"]
    quark = np.where(quark_first[:, None], p[:, 0], p[:, 1])
    np.testing.assert_allclose(f[:, 0], _square(p[:, 0] + p[:, 1]), rtol=1e-12)
    np.testing.assert_allclose(f[:, 1], _square(quark - p[:, 2]), rtol=1e-10)
    np.testing.assert_array_equal(f[:, 2], sign)
    np.testing.assert_allclose(f[:, 3], np.log(f[:, 0] / 1e6), rtol=1e-12)
    np.testing.assert_allclose(f[:, 4], np.log(-f[:, 1] / 1e6), rtol=1e-12)
    np.testing.assert_allclose(f[:, 5], np.sqrt(_square(p[:, 2] + p[:, 3])), rtol=1e-10)
    np.testing.assert_allclose(f[:, 6], np.hypot(p[:, 2, 1], p[:, 2, 2]), rtol=1e-12)


def test_the_shipped_wz_sample_gives_physical_features() -> None:
    with EventStore(sample_path("wz_parton")) as store:
        event = store.read("parton", ["pdg_id", "status", "momentum"])
    f = parton_features(event.arrays, ["s", "t", "charge", "m_wz"])
    m_w, m_z = 80.4, 91.19
    assert f.shape == (20_000, 4)
    # √ŝ is above the W Z threshold and equals the W Z invariant mass (no radiation at LO).
    assert np.all(np.sqrt(f[:, 0]) > m_w + m_z - 1.0)
    np.testing.assert_allclose(np.sqrt(f[:, 0]), f[:, 3], rtol=1e-6)
    assert np.all(f[:, 1] < 0)
    assert set(np.unique(f[:, 2])) == {1.0}  # p p > w+ z


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e["pdg_id"].__setitem__((3, 2), 22), "event 3 has no W boson"),
        (lambda e: e["status"].__setitem__((1, 1), 1), "event 1 does not have two incoming"),
    ],
)
def test_broken_records_name_the_event(rng: np.random.Generator, edit: Any, message: str) -> None:
    event = _event(rng, 5, np.ones(5, bool), np.ones(5, int))
    edit(event)
    with pytest.raises(InputError, match=message):
        parton_features(event, ["t"])


def test_unknown_names_and_missing_fields_are_refused(rng: np.random.Generator) -> None:
    event = _event(rng, 3, np.ones(3, bool), np.ones(3, int))
    with pytest.raises(InputError, match="expected names from"):
        parton_features(event, ["s", "rapidity"])
    with pytest.raises(InputError, match="expected names from"):
        parton_features(event, [])
    del event["momentum"]
    with pytest.raises(InputError, match=r"missing field\(s\) \['momentum'\]"):
        parton_features(event, ["s"])


def test_every_observable_gives_one_finite_value_per_event(rng: np.random.Generator) -> None:
    event = _event(rng, 20, rng.random(20) < 0.5, np.ones(20, int))
    values = parton_features(event, list(OBSERVABLES))
    assert values.shape == (20, len(OBSERVABLES))
    assert np.isfinite(values).all()
