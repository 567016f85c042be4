"""``[production] reweighting = false``: a gridpack without reweighting (Z+jets, a SM
background) produces θ-independent shards instead of being refused."""

from __future__ import annotations

import gzip
import re
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_gridpack import RUN_SH

from madsbi.errors import ConfigError
from madsbi.events import schema
from madsbi.events.store import EventStore
from madsbi.production import JobError, ProductionPlan, job_specs, run_job
from madsbi.production.gridpack import gridpack_job

DATA = Path(__file__).parents[1] / "data"


def _gridpack(folder: Path) -> Path:
    """A gridpack whose run.sh writes LHE events without any reweighting weights."""
    src = folder / "src"
    src.mkdir(exist_ok=True)
    text = gzip.decompress((DATA / "wz_parton_1k.lhe.gz").read_bytes()).decode()
    text = re.sub(r"<initrwgt>.*?</initrwgt>\s*", "", text, flags=re.S)
    text = re.sub(r"<rwgt>.*?</rwgt>\s*", "", text, flags=re.S)
    (src / "template.lhe.gz").write_bytes(gzip.compress(text.encode(), compresslevel=1))
    (src / "run.sh").write_text(RUN_SH)
    (src / "run.sh").chmod(0o755)
    tarball = folder / "zjets_gridpack.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for path in sorted(src.iterdir()):
            archive.add(path, arcname=path.name)
    return tarball


def _plan(tmp_path: Path, convert: dict[str, Any], **production: Any) -> ProductionPlan:
    return ProductionPlan.from_mapping(
        {
            "production": {
                "name": "zjets",
                "n_jobs": 1,
                "events_per_job": 25,
                "base_seed": 7,
                "output_dir": str(tmp_path / "out"),
                "gridpack": str(_gridpack(tmp_path)),
                **production,
            },
            "convert": {"compression": "none", **convert},
        }
    )


def test_theta_independent_gridpack_production(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"parameters": ["cHWB", "cW", "cHq3"]}, reweighting=False)
    assert plan.convert.reweighting is False
    assert plan.fingerprint()["convert"]["reweighting"] is False
    result = run_job(job_specs(plan)[0], gridpack_job)
    with EventStore(result.shard) as store:
        assert store.n_events() == 25
        assert store.meta.attributes[schema.THETA_INDEPENDENT] is True
        assert [p.lower() for p in store.meta.space.names] == ["chwb", "cw", "chq3"]
        parton = store.read()
        c = parton["coefficients"]
        np.testing.assert_array_equal(c[:, 0], parton["weight"])
        assert np.all(c[:, 1:] == 0.0)
        theta = np.array([[0.4, -1.0, 0.3], [0.0, 0.0, 0.0]])
        sigma = store.cross_section(theta)
        np.testing.assert_allclose(sigma, parton["weight"].mean(), rtol=1e-12)


def test_unweighted_gridpack_is_still_refused_by_default(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {})
    with pytest.raises(JobError, match=r"no <rwgt> weights.*reweighting = false"):
        run_job(job_specs(plan)[0], gridpack_job)


def test_contradicting_switches_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[convert\] reweighting = true"):
        _plan(tmp_path, {"reweighting": True}, reweighting=False)
    with pytest.raises(ConfigError, match=r"\[production\] reweighting"):
        _plan(tmp_path, {}, reweighting="no")
