"""Likelihood grid scan S[g] = Σ_e w_e log(c_e·φ(θ_g − θ0)): C++ core vs NumPy reference.

python benchmarks/gridscan.py [--events 100000] [--repeat 2] [--threads 2] [--log1p]

Two cases: n = 3 parameters (K = 10) on a 10×10×10 grid, and n = 1 (K = 3) on 10⁴ points.
"""

from __future__ import annotations

import argparse

import numpy as np

from madsbi.inference import log_ratio_sums
from madsbi.theory import n_coefficients, polynomial_features

from _common import interleaved, report, summary

CASES = [(3, 10), (1, 10_000)]  # (parameters n, grid points per axis)


def inputs(
    rng: np.random.Generator, n_params: int, per_axis: int, n_events: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients of ratios r_e(θ) = c_e·φ(θ − θ0) like those of a SMEFT sample: 1 at θ0,
    linear terms of either sign, mostly positive squares (a few ratios turn negative far
    from θ0 and are clamped); a regular grid on [−1, 1]ⁿ; weights of either sign."""
    k = n_coefficients(n_params)
    coef = np.empty((n_events, k))
    coef[:, 0] = 1.0
    coef[:, 1 : 1 + n_params] = rng.normal(0.0, 0.4, size=(n_events, n_params))
    coef[:, 1 + n_params : 1 + 2 * n_params] = rng.uniform(-0.05, 0.5, size=(n_events, n_params))
    coef[:, 1 + 2 * n_params :] = rng.normal(0.0, 0.1, size=(n_events, k - 1 - 2 * n_params))
    axis = np.linspace(-1.0, 1.0, per_axis)
    grid = np.stack(np.meshgrid(*[axis] * n_params, indexing="ij"), axis=-1).reshape(-1, n_params)
    features = polynomial_features(grid, np.zeros(n_params))
    weights = rng.uniform(0.5, 1.5, size=n_events)
    weights[rng.random(n_events) < 0.05] *= -1.0
    return coef, features, weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log1p", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    rows = []
    for n_params, per_axis in CASES:
        coef, features, weights = inputs(rng, n_params, per_axis, args.events)
        n_points, k = features.shape
        pairs = args.events * n_points

        def run(backend: str, c=coef, f=features, w=weights):
            return log_ratio_sums(
                c, f, w, log1p=args.log1p, backend=backend, n_threads=args.threads
            )

        core, ref = run("core"), run("numpy")
        if not np.array_equal(core.n_clamped, ref.n_clamped):
            raise SystemExit("core and numpy clamp different pairs")
        diff = np.abs(core.sums - ref.sums)
        max_rel = float(np.max(diff / np.abs(ref.sums)))
        max_dev = float(np.max(diff) / np.max(np.abs(ref.sums)))
        if max_dev > 1e-9:
            raise SystemExit(f"core and numpy disagree: {max_dev}")
        times = interleaved(
            {name: (lambda name=name: run(name)) for name in ("numpy", "core")},
            args.repeat,
            warmup=1,
        )
        base = summary(times["numpy"])["median_s"]
        for name, t in times.items():
            rows.append(
                {
                    "K": k,
                    "events": args.events,
                    "points": n_points,
                    "backend": name,
                    **summary(t),
                    "pairs_per_s": pairs / summary(t)["median_s"],
                    "speedup_vs_numpy": base / summary(t)["median_s"],
                    "max_rel_dev": max_rel,
                    "max_dev_over_max": max_dev,
                    "clamped_fraction": float(core.n_clamped.sum()) / pairs,
                }
            )
    report(
        "gridscan",
        rows,
        {"threads": args.threads, "log1p": args.log1p, "events": args.events},
    )


if __name__ == "__main__":
    main()
