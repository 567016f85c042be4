"""Fractional-smearing bookkeeping on many events: C++ core vs the NumPy reference.

All four steps (target statistics, copy counts, copy table with counter-based seeds,
regrouping of the copies that survive a random 50 % cut) on N events with two heavy-tailed
targets. Both backends run interleaved in one process; results must agree exactly (given the
same target statistics, which the two compute in different summation orders).

    python benchmarks/smearing.py [--events 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse

import numpy as np

from madsbi.simulate import plan_copies, regroup_survivors

from _common import interleaved, report, summary


def plan(targets: np.ndarray, backend: str) -> object:
    return plan_copies(targets, 0.5, max_copies=100, run_seed=12345, backend=backend)


def regroup(parent: np.ndarray, weight: np.ndarray, n: int, backend: str) -> object:
    return regroup_survivors(parent, n, weight, backend=backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.events
    targets = np.stack([rng.lognormal(0.0, 1.0, n), rng.standard_t(3, n)], axis=1)

    # Correctness first: identical plans (given the same statistics) and groupings.
    ref = plan_copies(targets, 0.5, max_copies=100, run_seed=12345, backend="numpy")
    got = plan_copies(targets, 0.5, max_copies=100, run_seed=12345, mean=ref.mean, std=ref.std)
    for field in ("counts", "offsets", "parent", "copy_index", "weight", "seed"):
        if not np.array_equal(getattr(got, field), getattr(ref, field)):
            raise SystemExit(f"core and numpy disagree on {field}")
    # Survivors of a random 50 % cut, in copy order, as a simulation would return them.
    survivors = np.flatnonzero(rng.random(ref.n_copies) < 0.5)
    parent, weight = ref.parent[survivors], ref.weight[survivors]
    g_ref, g_got = regroup(parent, weight, n, "numpy"), regroup(parent, weight, n, "core")
    for field in ("order", "offsets", "weight_sum"):
        if not np.array_equal(getattr(g_got, field), getattr(g_ref, field)):
            raise SystemExit(f"core and numpy disagree on regrouping: {field}")

    steps = {
        "plan (stats, counts, copies, seeds)": lambda b: plan(targets, b),
        "regroup survivors": lambda b: regroup(parent, weight, n, b),
    }
    rows, totals = [], {"numpy": 0.0, "core": 0.0}
    for step, fn in steps.items():
        times = interleaved({b: (lambda b=b, fn=fn: fn(b)) for b in ("numpy", "core")}, args.repeat)
        med = {b: summary(t)["median_s"] for b, t in times.items()}
        for b in times:
            totals[b] += med[b]
            rows.append(
                {
                    "step": step,
                    "backend": b,
                    **summary(times[b]),
                    "speedup_vs_numpy": med["numpy"] / med[b],
                }
            )
    for b in totals:
        rows.append(
            {
                "step": "total",
                "backend": b,
                "best_s": float("nan"),
                "median_s": totals[b],
                "speedup_vs_numpy": totals["numpy"] / totals[b],
            }
        )
    report(
        "smearing",
        rows,
        {
            "events": n,
            "copies": ref.n_copies,
            "survivors": len(survivors),
            "targets": 2,
            "threshold": 0.5,
            "agree_exactly": True,
        },
    )


if __name__ == "__main__":
    main()
