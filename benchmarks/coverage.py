"""Coverage toys on the full 3D grid: dense algebra vs the per-toy grid-scan kernel.

python benchmarks/coverage.py [--events 200000] [--toys 500] [--per-axis 41]
    [--expected-events 50000] [--per-toy-toys 2] [--threads 1] [--grid-fraction 1]
    [--backend auto|core-gather|numpy|torch-cuda] [--dense-threads 1]

Test sample: N SMEFT-like events (``gridscan.inputs``: c_e0 = 1, K = 10 for 3 parameters),
grid [−1, 1]³ with ``per-axis`` points per axis (41³ = 68,921 points, θ_true = θ0 = 0 on it),
rate ρ = s·Φ with s the sample mean of C_e, T toys of n ~ Pois(ν) events drawn with
replacement. Dense: ``toy_counts`` + ``toy_statistics`` with the backend ``--backend`` names:
"auto" is ``default_backend`` (the compiled gather below ``GATHER_DENSITY`` non-zero counts,
else BLAS),
"core-gather" the compiled products of arguments (``CoreGather``, ``--dense-threads``),
"numpy" L = log1p(C·Φ) per chunk and S = N @ L in float64 BLAS (OMP_NUM_THREADS threads),
"torch-cuda" the same product with cuBLAS. Per-toy: the loop body of
``run_coverage(method="per_toy")`` — ``log_ratio_sums`` over the toy's events (C++ core with
``--threads``), the rate term, the grid maximum — timed on the first ``--per-toy-toys`` toys
before and after the dense run (the speed of a shared machine drifts; the mean of both is used)
and extrapolated to T toys (labelled so). Their q(θ_true) are compared on those toys. Wall and
process CPU times are both reported: on a loaded shared machine the CPU time of this process
(one BLAS thread, one kernel thread) is what an idle machine's wall time would be.

``--grid-fraction f < 1`` runs the dense product on the first f·G grid points only and
extrapolates its time linearly in G (labelled so): the cost of every chunk is the same.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from gridscan import inputs

from madsbi.inference.dense import (
    CoreGather,
    DenseBackend,
    NumpyDense,
    default_backend,
    draw_toys,
    toy_counts,
    toy_statistics,
)
from madsbi.inference.gridscan import log_ratio_sums
from madsbi.inference.model import poisson_term
from madsbi.inference.rate import RateModel

from _common import report


def per_toy_q(
    picked: np.ndarray,
    coef: np.ndarray,
    features: np.ndarray,
    rho: np.ndarray,
    nu0: float,
    true_index: int,
    threads: int,
) -> float:
    """q(θ_true) of one toy by the grid-scan kernel (what run_coverage's per-toy loop does)."""
    sums = log_ratio_sums(coef[picked], features, log1p=True, backend="core", n_threads=threads)
    ll = sums.sums + poisson_term(rho, nu0)
    return max(0.0, -2.0 * (float(ll[true_index]) - float(ll.max())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--toys", type=int, default=500)
    parser.add_argument("--per-axis", type=int, default=41)
    parser.add_argument("--expected-events", type=float, default=50_000.0)
    parser.add_argument("--per-toy-toys", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads of the C++ per-toy kernel")
    parser.add_argument("--grid-fraction", type=float, default=1.0)
    parser.add_argument(
        "--backend", choices=("auto", "core-gather", "numpy", "torch-cuda"), default="auto"
    )
    parser.add_argument("--dense-threads", type=int, default=1, help="threads of core-gather")
    parser.add_argument("--name", default="coverage")
    args = parser.parse_args()

    load_before = os.getloadavg()
    rng = np.random.default_rng(1)
    coef, features, _ = inputs(rng, 3, args.per_axis, args.events)
    n_points = features.shape[0]
    true_index = int(np.argmin(np.abs(features[:, 1:4]).sum(1)))  # θ = 0 exactly
    rate = RateModel.from_event_coefficients(coef)
    rho = rate.ratio(features)[0]
    nu = args.expected_events

    picks = list(
        zip(
            range(args.per_toy_toys),
            draw_toys(np.random.default_rng(7), args.events, nu, args.toys),
            strict=False,
        )
    )
    q_ref, per_toy_times, per_toy_cpu = [], [], []

    def time_per_toy(record_q: bool) -> None:
        for _, picked in picks:
            t0, c0 = time.perf_counter(), time.process_time()
            q = per_toy_q(picked, coef, features, rho, nu, true_index, args.threads)
            per_toy_times.append(time.perf_counter() - t0)
            per_toy_cpu.append(time.process_time() - c0)
            if record_q:
                q_ref.append(q)

    # The same toys timed before and after the dense run (the machine's speed drifts; the
    # speed-up uses the mean of both), the first numbers in the log at once.
    time_per_toy(record_q=True)
    print(f"per-toy: {per_toy_cpu} s CPU per toy, q = {q_ref}", flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    counts = toy_counts(np.random.default_rng(7), args.events, nu, args.toys)
    t_counts, cpu_counts = time.perf_counter() - t0, time.process_time() - c0

    backend: DenseBackend
    if args.backend == "torch-cuda":
        from madsbi.nn.dense_sums import TorchDense

        backend = TorchDense("cuda")
    elif args.backend == "numpy":
        backend = NumpyDense()
    elif args.backend == "core-gather":
        backend = CoreGather(n_threads=args.dense_threads)
    else:
        backend = default_backend(counts)
        if isinstance(backend, CoreGather):
            backend = CoreGather(n_threads=args.dense_threads)
    n_dense = max(1, round(args.grid_fraction * n_points))
    if n_dense < n_points:
        # A prefix of the grid that still holds θ_true, so that the statistics are complete.
        n_dense = max(n_dense, true_index + 1)
    t0, c0 = time.perf_counter(), time.process_time()
    stats = toy_statistics(
        counts,
        coef,
        features[:n_dense],
        rate,
        true_index=true_index,
        expected_events0=nu,
        log1p=True,
        backend=backend,
        progress=True,
        label="dense",
    )
    t_dense_run, cpu_dense_run = time.perf_counter() - t0, time.process_time() - c0
    t_dense = t_dense_run * n_points / n_dense
    cpu_dense = cpu_dense_run * n_points / n_dense
    time_per_toy(record_q=False)
    print(f"per-toy after the dense run: {per_toy_cpu[len(picks) :]} s CPU per toy", flush=True)
    t_per_toy = float(np.mean(per_toy_times)) * args.toys
    cpu_per_toy = float(np.mean(per_toy_cpu)) * args.toys

    q_dense = stats.q_true[: len(q_ref)]
    max_dq = float(np.max(np.abs(q_dense - np.array(q_ref)))) if n_dense == n_points else None
    rows = [
        {
            "method": f"dense ({type(backend).__name__})",
            "grid_points_run": n_dense,
            "wall_s": t_counts + t_dense,
            "cpu_s": cpu_counts + cpu_dense,
            "extrapolated": n_dense < n_points,
            "speedup_wall": t_per_toy / (t_counts + t_dense),
            "speedup_cpu": cpu_per_toy / (cpu_counts + cpu_dense),
        },
        {
            "method": (
                f"per-toy kernel ({args.per_toy_toys} toys before and after, "
                f"× {args.toys} extrapolated)"
            ),
            "grid_points_run": n_points,
            "wall_s": t_per_toy,
            "cpu_s": cpu_per_toy,
            "extrapolated": True,
            "speedup_wall": 1.0,
            "speedup_cpu": 1.0,
        },
    ]
    report(
        args.name,
        rows,
        {
            "events": args.events,
            "toys": args.toys,
            "grid_points": n_points,
            "expected_events": nu,
            "mean_events_per_toy": float(counts.sum(1).mean()),
            "events_used_by_some_toy": int(np.count_nonzero(counts.any(0))),
            "counts_seconds": t_counts,
            "dense_seconds_run": t_dense_run,
            "per_toy_seconds_each": per_toy_times,
            "per_toy_cpu_seconds_each": per_toy_cpu,
            "dense_cpu_seconds_run": cpu_dense_run,
            "per_toy_threads": args.threads,
            "blas_threads_env": os.environ.get("OMP_NUM_THREADS"),
            "backend": args.backend,
            "backend_used": type(backend).__name__,
            "dense_threads": args.dense_threads,
            "clamped_pairs": stats.clamped_pairs,
            "max_abs_dq_dense_vs_per_toy": max_dq,
            "q_true_dense_first": q_dense.tolist(),
            "q_true_per_toy_first": q_ref,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
    )


if __name__ == "__main__":
    main()
