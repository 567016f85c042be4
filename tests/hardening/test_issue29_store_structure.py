"""Issue 29 #11: ``store verify``/``inspect`` check the schema, and fit refuses a broken store.

At a8482b3 structurally broken stores (coefficients deleted, 1-D or N×(K−1), integer or
string weights, weights one row short, ``/meta`` an external link) were called OK (or
UNVERIFIED), ``inspect --no-verify`` described them, and ``fit`` ran on the short-weights
store. Every case here fails there.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import madsbi
from madsbi.cli.main import cli
from madsbi.errors import StoreFormatError
from madsbi.events.inspect import describe_store
from madsbi.events.verify import check_store_structure, verify_store
from madsbi.simulate.toy import generate_toy_store

SHIPPED = Path(madsbi.__file__).parent / "data" / "wpz_parton_bsm.h5"


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "toy.h5"
    generate_toy_store(path, alpha=1.0, theta=0.0, n_events=200, seed=1)
    return path


def _replace(name: str, make: Callable[[Any], Any]) -> Callable[[h5py.File, Path], None]:
    def apply(f: h5py.File, folder: Path) -> None:
        values = make(f[name][()])
        del f[name]
        f.create_dataset(name, data=values)

    return apply


def _delete(name: str) -> Callable[[h5py.File, Path], None]:
    def apply(f: h5py.File, folder: Path) -> None:
        del f[name]

    return apply


def _external(name: str) -> Callable[[h5py.File, Path], None]:
    """``name`` becomes a link to the same item of another (valid) store."""

    def apply(f: h5py.File, folder: Path) -> None:
        other = folder / "other.h5"
        generate_toy_store(other, alpha=1.0, theta=0.0, n_events=200, seed=2)
        del f[name]
        f[name] = h5py.ExternalLink(str(other), name)

    return apply


#: name → (damage, the dataset named in the message)
DAMAGE: dict[str, tuple[Callable[[h5py.File, Path], None], str]] = {
    "coefficients deleted": (_delete("parton/coefficients"), "/parton/coefficients"),
    "coefficients 1-D": (_replace("parton/coefficients", lambda c: c[:, 0]), "/parton/coeff"),
    "coefficients N x (K-1)": (
        _replace("parton/coefficients", lambda c: c[:, :-1]),
        "/parton/coefficients",
    ),
    "weights int32": (
        _replace("parton/weight", lambda w: (w * 1e6).astype(np.int32)),
        "/parton/weight",
    ),
    "weights strings": (_replace("parton/weight", lambda w: w.astype("S8")), "/parton/weight"),
    "weights one row short": (_replace("parton/weight", lambda w: w[:-1]), "/parton"),
    "reco x without names": (_replace("reco/x", lambda x: x), "/reco/x"),
    "reco weight deleted": (_delete("reco/weight"), "/reco/weight"),
    "meta an external link": (_external("meta"), "/meta"),
    "weights an external link": (_external("parton/weight"), "/parton/weight"),
}


def _damaged(toy: Path, tmp_path: Path, case: str) -> Path:
    damage, _ = DAMAGE[case]
    path = tmp_path / "broken.h5"
    shutil.copy(toy, path)
    with h5py.File(path, "r+") as f:
        damage(f, tmp_path)
    return path


@pytest.mark.parametrize("case", list(DAMAGE))
def test_verify_and_inspect_refuse_a_broken_structure(toy: Path, tmp_path: Path, case: str) -> None:
    path = _damaged(toy, tmp_path, case)
    where = DAMAGE[case][1]
    for check in (
        check_store_structure,
        verify_store,
        describe_store,
        lambda p: describe_store(p, verify=False),
    ):
        with pytest.raises(StoreFormatError, match=where) as caught:
            check(path)
        assert str(path) in str(caught.value)
    for words in (["verify"], ["inspect"], ["inspect", "--no-verify"]):
        result = CliRunner().invoke(cli, ["store", *words, str(path)], catch_exceptions=False)
        assert result.exit_code == 1, (words, result.output)
        assert "StoreFormatError" in result.stderr
        assert where in result.stderr
        assert "OK" not in result.stdout


def test_valid_stores_pass(toy: Path) -> None:
    check_store_structure(toy)
    check_store_structure(SHIPPED)
    assert verify_store(toy).ok


def test_fit_refuses_the_short_weights_store(tmp_path: Path) -> None:
    path = tmp_path / "short.h5"
    shutil.copy(SHIPPED, path)
    with h5py.File(path, "r+") as f:
        _replace("parton/weight", lambda w: w[:-1])(f, tmp_path)
    result = CliRunner().invoke(
        cli,
        ["fit", "wz_parton_paper", str(path), "--out", str(tmp_path / "fit"), "--no-figures"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    assert "StoreFormatError" in result.stderr
    assert "/parton" in result.stderr
    assert not (tmp_path / "fit" / "fit.json").exists()
