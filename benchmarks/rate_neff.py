"""Effective events of the rate σ̂(θ): SM-generated samples alone vs pooled with BSM-generated ones.

σ̂(θ) = Σ_e t_e(θ), t_e = v_e R_e(θ) with the multiple-importance weights v_e of
:func:`madsbi.inference.rate.mis_weights`; its effective number of events is
n_eff(θ) = (Σ t_e)² / Σ t_e². Every production job (10k events) costs about the same CPU time
at the SM and at a BSM point, so n_eff per job is the figure of merit per CPU-second of
generating at BSM points (the event-generation bias the reco analysis uses).

    python benchmarks/rate_neff.py --sm SM1.h5 SM2.h5 --bsm BSM1.h5 --bsm BSM2.h5

Every store must have θ0 = SM (recentre BSM stores with ``madsbi store recentre``). The table
gives n_eff per job for: the SM stores alone; each SM store but the last replaced by a BSM
store (same number of jobs); all stores pooled.
"""

from __future__ import annotations

import argparse
import json

import h5py
import numpy as np

from madsbi.events.store import EventStore
from madsbi.inference.rate import GeneratedSample, mis_weights
from madsbi.theory.polynomial import polynomial_features

POINTS = {
    "SM": (0.0, 0.0, 0.0),
    "(1, 0.1, 0.1)": (1.0, 0.1, 0.1),
    "(-0.3, -0.3, -0.05)": (-0.3, -0.3, -0.05),
    "cW = +0.4": (0.0, 0.4, 0.0),
    "cW = -0.4": (0.0, -0.4, 0.0),
    "cHWB = +0.6": (0.6, 0.0, 0.0),
    "cHq3 = +0.1": (0.0, 0.0, 0.1),
    "cHq3 = -0.1": (0.0, 0.0, -0.1),
}


def sample(path: str) -> GeneratedSample:
    with EventStore(path) as store:
        theta_gen = np.asarray(store.meta.theta_gen, dtype=float)
        sigma = float(np.ravel(store.cross_section(theta_gen))[0])
        theta0 = np.asarray(store.meta.space.theta0, dtype=float)
    if np.any(theta0 != 0):
        raise SystemExit(f"{path}: θ0 = {theta0.tolist()}, recentre it to the SM first")
    with h5py.File(path) as f:
        c = np.asarray(f["parton/coefficients"])
    return GeneratedSample(c, np.ones(c.shape[0]), theta_gen, sigma)


def n_eff(samples: list[GeneratedSample], theta: tuple[float, ...]) -> float:
    weights = mis_weights(samples, np.zeros(3))
    phi = polynomial_features(np.array([theta]), np.zeros(3))[0]
    t = np.concatenate(
        [
            v * (s.coefficients @ phi) / s.coefficients[:, 0]
            for s, v in zip(samples, weights, strict=True)
        ]
    )
    return float(t.sum() ** 2 / (t**2).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sm", nargs="+", required=True)
    parser.add_argument("--bsm", action="append", default=[])
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    sm = [sample(p) for p in args.sm]
    bsm = [sample(p) for p in args.bsm]
    same_jobs = sm[: max(1, len(sm) - len(bsm))] + bsm[: len(sm) - 1]
    rows = {}
    print(f"n_eff of σ̂(θ) per job: {len(sm)} SM jobs | {len(same_jobs)} jobs with BSM | all")
    for name, theta in POINTS.items():
        row = (
            n_eff(sm, theta) / len(sm),
            n_eff(same_jobs, theta) / len(same_jobs),
            n_eff(sm + bsm, theta) / len(sm + bsm),
        )
        rows[name] = row
        print(f"{name:22s} {row[0]:9.0f} {row[1]:9.0f} {row[2]:9.0f}   gain {row[1] / row[0]:6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
