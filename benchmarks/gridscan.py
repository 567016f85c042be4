"""Likelihood grid scan S[g] = Σ_e w_e log(c_e·φ(θ_g − θ0)): C++ core vs NumPy reference.

python benchmarks/gridscan.py [--events 100000] [--repeat 2] [--threads 2] [--log1p] [--cuda]

Two cases: n = 3 parameters (K = 10) on a 10×10×10 grid, and n = 1 (K = 3) on 10⁴ points.

With ``--cuda`` instead the GPU case of the issue "CUDA likelihood-grid scans": N = 2·10⁵
events (``--cuda-events``), K = 10, G = 100³ = 10⁶ points; pairs/s of the CUDA kernel
(``backend="cuda"``, float64) and of a chunked torch float32 evaluation (log of Φ Cᵀ chunk by
chunk, weighted sum by a matrix-vector product) timed in the same run, both from NumPy inputs
to NumPy results, and their max |Δq| for q(θ) = 2 (max S − S(θ)) against the float64 C++ core
on ``--cuda-ref-points`` random points plus the best one. Skips cleanly without a GPU.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import madsbi
from madsbi.inference import log_ratio_sums
from madsbi.inference.gridscan import DEFAULT_LOG_FLOOR
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


def torch_float32_scan(
    coef: np.ndarray, features: np.ndarray, weights: np.ndarray, log1p: bool, chunk: int
) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """The plain GPU alternative: float32 tensors, per chunk of grid points X = Φ Cᵀ,
    clamping as the kernel, torch.log / log1p, S = terms @ w (float32 accumulation)."""
    import torch

    first = 1 if log1p else 0
    log_floor = float(np.log(DEFAULT_LOG_FLOOR))

    def run() -> tuple[np.ndarray, np.ndarray]:
        device = torch.device("cuda")
        c = torch.from_numpy(coef[:, first:]).to(device, torch.float32)
        phi = torch.from_numpy(features[:, first:]).to(device, torch.float32)
        w = torch.from_numpy(weights).to(device, torch.float32)
        sums = torch.empty(phi.shape[0], dtype=torch.float32, device=device)
        clamped = torch.empty(phi.shape[0], dtype=torch.int64, device=device)
        for g0 in range(0, phi.shape[0], chunk):
            x = phi[g0 : g0 + chunk] @ c.T  # (chunk, N)
            ok = torch.isfinite(x) & (x > (-1.0 if log1p else 0.0))
            terms = torch.log1p(x) if log1p else torch.log(x)
            terms = torch.where(ok, terms, log_floor)
            sums[g0 : g0 + chunk] = terms @ w
            clamped[g0 : g0 + chunk] = (~ok).sum(dim=1)
        torch.cuda.synchronize()
        return sums.double().cpu().numpy(), clamped.cpu().numpy()

    return run


def cuda_case(args: argparse.Namespace) -> None:
    """The --cuda case: CUDA kernel vs chunked torch float32 at N = 2·10⁵, K = 10, G = 10⁶."""
    if not madsbi.has_cuda():
        print("gridscan --cuda: skipped, no CUDA GPU (madsbi.has_cuda() is False)")
        return
    try:
        import torch

        have_torch = bool(torch.cuda.is_available())
    except ImportError:
        have_torch = False
    rng = np.random.default_rng(1)
    coef, features, weights = inputs(rng, 3, args.cuda_per_axis, args.cuda_events)
    n_points, k = features.shape
    pairs = args.cuda_events * n_points
    runs: dict[str, Callable[[], Any]] = {
        "cuda": lambda: log_ratio_sums(coef, features, weights, log1p=args.log1p, backend="cuda")
    }
    if have_torch:
        chunk = max(1, (1 << 28) // args.cuda_events)  # 1 GiB of float32 arguments per chunk
        runs["torch_float32"] = torch_float32_scan(coef, features, weights, args.log1p, chunk)
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, fn in runs.items():
        t0 = time.perf_counter()
        out = fn()
        print(f"{name}: first call {time.perf_counter() - t0:.3g} s")
        results[name] = (out.sums, out.n_clamped) if name == "cuda" else out
    times = interleaved(runs, args.repeat, rounds=1, warmup=0)

    # float64 reference: the C++ core on a random subset of the points and the best one.
    gpu_sums = results["cuda"][0]
    best = int(np.argmax(gpu_sums))
    subset = np.unique(np.append(rng.choice(n_points, args.cuda_ref_points, replace=False), best))
    i_best = int(np.searchsorted(subset, best))
    ref = log_ratio_sums(
        coef, features[subset], weights, log1p=args.log1p, backend="core", n_threads=0
    )
    q_ref = 2.0 * (ref.sums[i_best] - ref.sums)
    base = summary(times["torch_float32"])["median_s"] if have_torch else float("nan")
    rows = []
    for name, t in times.items():
        sums, clamped = results[name]
        q = 2.0 * (sums[best] - sums[subset])
        q_full_cuda = 2.0 * (gpu_sums[best] - gpu_sums)
        q_full = 2.0 * (sums[best] - sums)
        rows.append(
            {
                "K": k,
                "events": args.cuda_events,
                "points": n_points,
                "backend": name,
                **summary(t),
                "pairs_per_s": pairs / summary(t)["median_s"],
                "speedup_vs_torch_f32": base / summary(t)["median_s"],
                "max_abs_dq_vs_float64": float(np.max(np.abs(q - q_ref))),
                "max_abs_dq_vs_cuda_all_points": float(np.max(np.abs(q_full - q_full_cuda))),
                "clamped_equal_to_core": bool(np.array_equal(clamped[subset], ref.n_clamped)),
                "clamped_fraction": float(clamped.sum()) / pairs,
            }
        )
    cuda_module = madsbi._backend.core_cuda()
    device = cuda_module.device_name(0) if cuda_module is not None else ""
    report(
        "gridscan_cuda",
        rows,
        {
            "log1p": args.log1p,
            "events": args.cuda_events,
            "reference_points": int(subset.size),
            "gpu": device,
            "gpus": int(cuda_module.device_count()) if cuda_module is not None else 0,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log1p", action="store_true")
    parser.add_argument("--cuda", action="store_true", help="the GPU case (see above)")
    parser.add_argument("--cuda-events", type=int, default=200_000)
    parser.add_argument("--cuda-per-axis", type=int, default=100, help="G = this³")
    parser.add_argument("--cuda-ref-points", type=int, default=2000)
    args = parser.parse_args()
    if args.cuda:
        cuda_case(args)
        return
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
