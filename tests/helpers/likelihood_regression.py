"""Fingerprints of every likelihood path, to pin them across the likelihood-model redesign.

The numbers (intervals, best fits, q values, coverage fractions) of the three example studies
(``examples/wz_parton.toml``, ``examples/wz_reco.toml``, ``examples/toy_alpha1p5.toml``, each
with tiny networks and grids so that it runs in seconds) and of ``madsbi fit`` with the shipped
``wz_parton_paper`` analysis on the shipped BSM store. Only public entry points that exist
before and after the redesign are used, so this module records the reference on an old commit
and checks it on a new one:

    PYTHONPATH=<old checkout> python tests/helpers/likelihood_regression.py RECORD.json.gz

(``tests/inference/test_model_regression.py`` compares against
``tests/data/likelihood_regression.json.gz``, recorded so from d061b18: see its ``note``.)
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"

#: Summary keys whose values are not likelihood results (timings, paths, provenance).
SKIPPED_KEYS = ("time", "seconds", "path", "store", "out", "figure", "version", "history")

TINY_NETWORK = {"kind": "ensemble", "hidden": [8, 8], "members": 2, "repulsion": 1.0}
TINY_TRAINING = {"epochs": 2, "batch_size": 256, "patience": 0, "seed": 3}


def _example(name: str) -> dict[str, Any]:
    return tomllib.loads((EXAMPLES / name).read_text())


def wz_parton_document() -> dict[str, Any]:
    """``examples/wz_parton.toml`` with tiny networks and grids."""
    document = _example("wz_parton.toml")
    document["analysis"].update(points_1d=21, points_2d=7, limit_points=201)
    document["network"] = copy.deepcopy(TINY_NETWORK)
    document["training"] = {**TINY_TRAINING, "validation_fraction": 0.2}
    return document


def wz_reco_document() -> dict[str, Any]:
    """``examples/wz_reco.toml`` with tiny networks, grids and coverage."""
    document = _example("wz_reco.toml")
    document["analysis"].update(points_1d=41, points_2d=7, coverage_points=5, coverage_toys=20)
    # The record predates the per-target output scales and the train stores in the rate pool
    # (issue 25): both off, the numbers are the record's.
    document["analysis"].update(target_scale="", rate_from_training=False)
    document["network"] = copy.deepcopy(TINY_NETWORK)
    document["training"] = copy.deepcopy(TINY_TRAINING)
    document["lgatr_network"] = {
        "kind": "lgatr",
        "members": 2,
        "lgatr": {"blocks": 1, "vector_channels": 4, "scalar_channels": 8, "heads": 2},
    }
    document["lgatr_training"] = copy.deepcopy(TINY_TRAINING)
    return document


def toy_document() -> dict[str, Any]:
    """``examples/toy_alpha1p5.toml`` with small samples, networks and coverage."""
    document = _example("toy_alpha1p5.toml")
    document["study"].update(n_test=2000, grid=[-1.5, 1.5, 31])
    document["data"].update(n_derivative=3000, n_per_basis=1000)
    document["network"] = {"kind": "ensemble", "hidden": [8], "members": 2, "repulsion": 1.0}
    document["training"] = {"epochs": 2, "batch_size": 256, "patience": 0, "seed": 3}
    document["morphing"]["epochs"] = 2
    document["coverage"].update(n_toys=20, expected_events=200, grid_points=41)
    return document


def numbers(value: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every finite or infinite number of a summary, keyed by its path."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if any(s in str(key).lower() for s in SKIPPED_KEYS):
                continue
            yield from numbers(inner, f"{prefix}/{key}")
    elif isinstance(value, (list, tuple)):
        for i, inner in enumerate(value):
            yield from numbers(inner, f"{prefix}/{i}")
    elif isinstance(value, (bool, int, float)):
        yield prefix, float(value)


def fingerprints(work: Path) -> dict[str, dict[str, float]]:
    """Run every case into ``work``; ``{case: {path: number}}``."""
    import numpy as np
    import torch

    from madsbi.analysis.load import load_analysis
    from madsbi.data import sample_path
    from madsbi.studies.toy import run_toy_study
    from madsbi.studies.toy_config import ToyStudyConfig
    from madsbi.studies.wz import run_wz_study
    from madsbi.studies.wz_config import WZStudyConfig
    from madsbi.studies.wz_reco import run_wz_reco_study
    from madsbi.studies.wz_reco_config import WZRecoStudyConfig

    torch.set_num_threads(1)
    out: dict[str, dict[str, float]] = {}
    summary = run_wz_study(
        WZStudyConfig.from_dict(wz_parton_document()), work / "wz_parton", progress=False,
        figures=False,
    )  # fmt: skip
    out["wz_parton"] = dict(numbers(summary))
    summary = run_wz_reco_study(
        WZRecoStudyConfig.from_dict(wz_reco_document()), work / "wz_reco", progress=False,
        figures=False,
    )  # fmt: skip
    out["wz_reco"] = dict(numbers(summary))
    summary = run_toy_study(
        ToyStudyConfig.from_dict(toy_document()), work / "toy", progress=False, figures=False
    )
    out["toy_alpha1p5"] = dict(numbers(summary))
    analysis = load_analysis("wz_parton_paper")
    result = analysis.fit(
        sample_path("wpz_parton_bsm"),
        data_mode="asimov",
        select=["charge=1"],
        at=["cHWB=1,cW=0.1,cHq3=0.1", "cHWB=0,cW=0,cHq3=0"],
        points_1d=41,
        points_2d=5,
    )
    out["fit_wz_parton_paper"] = dict(numbers(result.to_dict()))
    for case in out.values():
        for key, value in case.items():
            if not (math.isfinite(value) or np.isinf(value)):
                case[key] = float("nan")
    return out


#: Summary keys renamed by the redesign (the reco config's ``k_factor`` is ``rate_factor``).
RENAMED = {"/config/analysis/k_factor": "/config/analysis/rate_factor"}


def compare(reference: dict[str, float], new: dict[str, float], rtol: float) -> list[str]:
    """Every recorded number that is missing or differs by more than ``rtol`` (relative)."""
    bad = []
    for old_key, ref in reference.items():
        key = RENAMED.get(old_key, old_key)
        if key not in new:
            bad.append(f"{key}: missing")
            continue
        value = new[key]
        if math.isnan(ref) and math.isnan(value):
            continue
        if ref == value:
            continue
        if not math.isclose(value, ref, rel_tol=rtol, abs_tol=rtol):
            bad.append(f"{key}: {value!r} != {ref!r}")
    return bad


if __name__ == "__main__":
    import subprocess
    import tempfile

    target = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        prints = fingerprints(Path(tmp))
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
        cwd=Path.cwd(),
    ).stdout.strip()  # fmt: skip
    with gzip.open(target, "wt") as f:
        json.dump({"commit": commit, "cases": prints}, f, separators=(",", ":"))
    print(f"{target}: {sum(len(c) for c in prints.values())} numbers from {commit}")
