"""LHE files without reweighting weights (issue 29 #13; the θ-independent stores of issue 26).

Converting a file without ``<rwgt>`` param-card points wrote a 0-parameter store and exited
0. It is refused now, unless a θ-independent store is asked for (``--no-reweighting``):
every event's coefficients are its weight at every θ, (w, 0, …, 0) for the parameters given,
and the store says so in ``/meta`` (attribute ``theta_independent``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from madsbi.cli.main import cli
from madsbi.errors import InputError
from madsbi.events import schema
from madsbi.events.convert import convert_lhe
from madsbi.events.store import EventStore

PARAMETERS = ("cHWB", "cW", "cHq3")


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def dy(data_dir: Path) -> Path:
    """Drell-Yan in the SM model: no <initrwgt>, no EFT parameters in the param card."""
    return data_dir / "dy_1k.lhe.gz"


def test_a_file_without_reweighting_is_refused(dy: Path, tmp_path: Path) -> None:
    out = tmp_path / "dy.h5"
    with pytest.raises(InputError, match=r"no reweighting weights.*--no-reweighting"):
        convert_lhe(dy, out)
    with pytest.raises(InputError, match="no reweighting weights"):
        convert_lhe(dy, out, parameters=PARAMETERS)
    result = run("store", "convert", dy, out, "--quiet")
    assert result.exit_code == 1, result.output
    assert "InputError" in result.output
    assert str(dy) in result.output
    assert "--no-reweighting" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_theta_independent_store_with_parameters(dy: Path, tmp_path: Path) -> None:
    out = tmp_path / "dy.h5"
    result = run(
        "store", "convert", dy, out, "--no-reweighting", "--parameters", ",".join(PARAMETERS)
    )
    assert result.exit_code == 0, result.output
    assert "θ-independent" in result.output
    with EventStore(out) as store:
        meta = store.meta
        parton = store.read()
        assert meta.attributes[schema.THETA_INDEPENDENT] is True
        assert meta.space.names == PARAMETERS
        assert meta.space.theta0 == (0.0, 0.0, 0.0)  # not in the SM card: 0
        assert meta.n_coefficients == 10
        assert meta.basis.condition_number < 100
        c = parton["coefficients"]
        assert c.shape == (1000, 10)
        np.testing.assert_array_equal(c[:, 0], parton["weight"])
        np.testing.assert_array_equal(c[:, 1:], 0.0)
        thetas = np.random.default_rng(3).uniform(-2, 2, size=(5, 3))
        np.testing.assert_allclose(store.cross_section(thetas), parton["weight"].mean(), rtol=1e-12)


def test_a_theta_independent_store_without_parameters(dy: Path, tmp_path: Path) -> None:
    """What the Drell-Yan BINN sample needs: K = 1, the weight."""
    out = tmp_path / "dy.h5"
    report = convert_lhe(dy, out, reweighting=False)
    assert report.parameters == ()
    assert report.basis_ids == ("nominal",)
    with EventStore(out) as store:
        parton = store.read()
        assert store.meta.n_coefficients == 1
        assert store.meta.attributes[schema.THETA_INDEPENDENT] is True
    np.testing.assert_array_equal(parton["coefficients"][:, 0], parton["weight"])


def test_no_reweighting_refused_for_a_file_that_reweights_those_parameters(
    data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "wz.h5"
    with pytest.raises(InputError, match=r"cHWB.*reweighting points vary it"):
        convert_lhe(data_dir / "wz_parton_1k.lhe.gz", out, reweighting=False, parameters=PARAMETERS)
    assert not out.exists()


def test_ranges_of_a_theta_independent_store(dy: Path, tmp_path: Path) -> None:
    out = tmp_path / "dy.h5"
    convert_lhe(
        dy,
        out,
        reweighting=False,
        parameters=("cW",),
        ranges={"cW": (-0.5, 0.5)},
        theta0="cW=0.1",
    )
    with EventStore(out) as store:
        assert store.meta.space.parameters[0].range == (-0.5, 0.5)
        assert store.meta.space.theta0 == (0.1,)
        c = store.read()["coefficients"]
    np.testing.assert_array_equal(c[:, 1:], 0.0)
    with pytest.raises(InputError, match="ranges"):
        convert_lhe(dy, tmp_path / "x.h5", reweighting=False, ranges={"cW": (-1, 1)})
