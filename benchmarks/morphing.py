"""Batched morphing weights a(θ) and σ(θ) for many θ points: C++ core vs NumPy reference.

python benchmarks/morphing.py [--points 1000000] [--parameters 3] [--repeat 5]
"""

from __future__ import annotations

import argparse

import numpy as np

from madsbi.theory import optimise_basis

from _common import interleaved, report, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--parameters", type=int, nargs="+", default=[3, 6])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    rows = []
    for n in args.parameters:
        box = np.tile([-1.0, 1.0], (n, 1))
        basis = optimise_basis(np.zeros(n), box).basis
        thetas = rng.uniform(-1, 1, size=(args.points, n))
        sigma_b = rng.uniform(1, 2, size=basis.n_points)
        a_c, _ = basis.weights(thetas, sigma_b, backend="core")
        a_n, _ = basis.weights(thetas, sigma_b, backend="numpy")
        max_dev = float(np.max(np.abs(a_c - a_n)) / np.max(np.abs(a_n)))
        if max_dev > 1e-12:
            raise SystemExit(f"core and numpy disagree: {max_dev}")
        times = interleaved(
            {
                name: (
                    lambda name=name, b=basis, t=thetas, s=sigma_b: b.weights(t, s, backend=name)
                )
                for name in ("numpy", "core")
            },
            args.repeat,
        )
        base = summary(times["numpy"])["median_s"]
        for name, t in times.items():
            rows.append(
                {
                    "parameters": n,
                    "K": basis.n_points,
                    "backend": name,
                    **summary(t),
                    "points_per_s": args.points / summary(t)["median_s"],
                    "speedup_vs_numpy": base / summary(t)["median_s"],
                    "max_rel_dev": max_dev,
                }
            )
    report("morphing", rows, {"points": args.points})


if __name__ == "__main__":
    main()
