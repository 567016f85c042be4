"""The toy study's samples: θ0, and the event stores it generates once and reuses.

Every sample of :mod:`madsbi.studies.toy` and :mod:`madsbi.studies.toy_smearing` is an event
store under ``<out>/data`` (parton z, reco x, exact coefficients), written by
:func:`madsbi.simulate.toy.generate_toy_store`; a re-run reuses it if it holds exactly the
sample the configuration asks for.
"""

from __future__ import annotations

import math
from pathlib import Path

from madsbi._validate import FloatArray
from madsbi.errors import ConfigError
from madsbi.events import schema
from madsbi.events.store import EventStore
from madsbi.simulate.toy import generate_toy_store

THETA0 = 0.0


def toy_sample(path: Path, theta: float, n: int, alpha: float, seed: int, progress: bool) -> Path:
    """Generate the toy store at ``path``, or reuse it if it holds exactly this sample."""
    if path.exists():
        with EventStore(path) as store:
            attrs = store.meta.attributes
            have = (
                float(attrs.get("alpha", math.nan)),
                float(attrs.get("theta_generated", math.nan)),
                store.n_events(),
                tuple(shard.seed for shard in store.meta.shards),
            )
        want = (alpha, theta, n, (seed,))
        if have != want:
            raise ConfigError(
                f"{path}: holds a toy sample with (alpha, theta, events, seeds) = {have}, this "
                f"configuration needs {want}; use a new output directory"
            )
        return path
    generate_toy_store(
        path, alpha=alpha, theta=theta, n_events=n, seed=seed, theta0=THETA0, progress=progress
    )
    return path


def read_toy_sample(path: Path) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(z, x, coefficients) of a toy store."""
    with EventStore(path) as store:
        parton = store.read(schema.PARTON, ["features", "coefficients"])
        reco = store.read(schema.RECO, ["x"])
        return parton["features"][:, 0], reco["x"][:, 0], parton["coefficients"]
