"""Mixture log-likelihoods: the compiled scan in the stacked basis vs the NumPy reference.

python benchmarks/mixture_scan.py [--events 6000] [--members 5] [--per-axis 22] [--repeat 2]

A mixture like a reco analysis with backgrounds (3 parameters, K = 10): a learned signal
(C_e0 = 1, ``log1p``, ρ̂ per member, an exact Poisson rate ρ_P ≠ ρ̂), a θ-dependent
background (one coefficient set for every member, its own exact Poisson rate) and a
θ-independent background; shares f_c(x_e) per event, data weights, 5 members, G = 22³ =
10,648 θ points. Two cases: stat-only (α = 0) and with a normalisation and a per-event shape
modifier at non-zero α. Times ``LikelihoodModel.log_likelihood`` (the stacked scan,
:mod:`madsbi.inference.stacked`, the C++ core with all threads) and
``LikelihoodModel._mixture_reference`` (float64 NumPy) in the same process, their ratio, and
the largest relative difference of the two results.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from madsbi.inference.model import Component, LikelihoodModel
from madsbi.inference.modifiers import EventShape, Normalisation
from madsbi.inference.rate import RateModel
from madsbi.theory import polynomial_features

from _common import report, summary, timed

N_PARAMS = 3
THETA0 = np.zeros(N_PARAMS)


def features(thetas: np.ndarray) -> np.ndarray:
    """φ(θ − θ0), K = 10."""
    return polynomial_features(thetas, THETA0)


def positive_quadratics(rng: np.random.Generator, n: int) -> np.ndarray:
    """C_e (N, 10) with C_e0 = 1 of R = (1 + a·θ)² + θᵀBθ, B ⪰ 0: positive at every θ."""
    a = rng.normal(0.0, 0.4, size=(n, N_PARAMS))
    b = rng.normal(0.0, 0.2, size=(n, N_PARAMS, N_PARAMS))
    h = np.einsum("eij,ekj->eik", b, b) + np.einsum("ei,ej->eij", a, a)
    cols = [np.ones(n), *(2.0 * a.T)]
    cols += [h[:, i, i] for i in range(N_PARAMS)]
    cols += [2.0 * h[:, i, j] for i in range(N_PARAMS) for j in range(i + 1, N_PARAMS)]
    return np.stack(cols, axis=1)


def mixture(rng: np.random.Generator, n: int, members: int) -> LikelihoodModel:
    """Signal + θ-dependent background + θ-independent background (module docstring)."""
    base, spread = positive_quadratics(rng, n), positive_quadratics(rng, n)
    signal = np.stack([base + 0.05 * m * spread for m in range(members)])
    signal = signal / signal[..., :1]
    background = np.broadcast_to(positive_quadratics(rng, n), (members, n, 10)).copy()
    flat = np.zeros((members, n, 10))
    flat[..., 0] = 1.0
    raw = rng.uniform(0.05, 1.0, size=(n, 3)) * [6.0, 1.0, 0.5]
    shares = raw / raw.sum(1, keepdims=True)
    shift = np.r_[0.0, rng.normal(0.0, 0.02, 9)]
    comps = (
        Component(
            "signal", signal, features, RateModel(signal.mean(1)), 4900.0,
            RateModel((signal.mean((0, 1)) + shift)[None]), True, shares[:, 0].copy(),
        ),
        Component(
            "zz", background, features, RateModel(background.mean((0, 1))[None]), 110.0,
            RateModel((background.mean((0, 1)) - shift)[None]), True, shares[:, 1].copy(),
        ),
        Component(
            "fakes", flat, features, RateModel(np.eye(10)[:1]), 60.0, None, True,
            shares[:, 2].copy(),
        ),
    )  # fmt: skip
    weights = rng.uniform(0.8, 1.2, n)
    return LikelihoodModel(comps, weights, float(weights.sum()) + 25.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--per-axis", type=int, default=22)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    model = mixture(rng, args.events, args.members)
    axis = np.linspace(-1.0, 1.0, args.per_axis)
    grid = np.stack(np.meshgrid(*[axis] * N_PARAMS, indexing="ij"), -1).reshape(-1, N_PARAMS)
    shape = EventShape(
        "shape", "signal", 0.05 * rng.normal(size=args.events),
        -0.05 * rng.normal(size=args.events), 1.03, 0.98,
    )  # fmt: skip
    with_alpha = replace(model, modifiers=(Normalisation.on("lumi", 0.02), shape))
    cases = [("stat_only", model, {}), ("alpha", with_alpha, {"lumi": 0.7, "shape": -1.2})]
    rows = []
    for name, m, alphas in cases:
        m.log_likelihood(grid[:10], alphas)  # warm-up
        t_compiled, compiled = timed(lambda m=m, a=alphas: m.log_likelihood(grid, a), args.repeat)
        full = m.nuisance_values(alphas)
        t_numpy, reference = timed(lambda m=m, a=full: m._mixture_reference(grid, a), args.repeat)
        rel = float(np.max(np.abs(compiled - reference) / np.abs(reference)))
        if rel > 1e-9:
            raise SystemExit(f"{name}: the compiled mixture differs from the reference by {rel}")
        base = summary(t_numpy)["median_s"]
        for backend, t in (("numpy_reference", t_numpy), ("compiled_stacked", t_compiled)):
            rows.append(
                {
                    "case": name,
                    "events": args.events,
                    "components": len(m.components),
                    "members": args.members,
                    "points": grid.shape[0],
                    "backend": backend,
                    **summary(t),
                    "speedup_vs_numpy": base / summary(t)["median_s"],
                    "max_rel_dev": rel,
                }
            )
    report("mixture_scan", rows, {"events": args.events, "members": args.members})


if __name__ == "__main__":
    main()
