"""Limits at 300 fb⁻¹ with and without backgrounds: the Figs. 10–11 set in one table (issue 26).

For each analysis (a signal-only one and its background-aware overlay) the SM Asimov data are
the pool of its coverage toys (:func:`madsbi.analysis.coverage.build_pool`): the signal's rate
events (the held-out test and rate samples, MIS-pooled) and every background component's
events, each process weighted to its expected events ν_c(θ0) at the luminosity. On those data,
along each parameter with the others at θ0 (the lines of the paper's Fig. 10), q(θ) of

- ``truth``: every event's own process and exact coefficients (the labelled oracle; for a
  signal-only analysis its ``exact`` method);
- ``rate_only``: the Poisson term alone, ν(θ) = Σ_c ν_c0 ρ_c(θ) with exact rates;
- ``mt_wz_histogram``: the m_T^WZ histogram (the analysis's edges, under- and overflow), every
  bin's ν_b(θ) = Σ_{e∈b} a_e C_e·φ(θ) summed over all processes' events (the backgrounds in the
  bins), Asimov data n_b = ν_b(θ0);
- every learned method of the analysis (``mlp``, ``lgatr``, ``pooled`` if it has one) with the
  likelihood model that ``madsbi fit`` uses (:func:`madsbi.analysis.oracles.fit_models`).

The 68 % and 95 % intervals and their widths go to ``--out`` (JSON) and a Markdown table.

With ``--profiled-fit DIR`` every analysis that declares nuisances is also fitted by
:func:`madsbi.analysis.fit.fit` on the same Asimov data with the nuisances profiled (the
``madsbi fit`` default): pulls, post-fit constraints, impacts and the stat-only intervals next
to the full ones, with its wall time, in ``DIR/<analysis>/fit.json`` and the figures.

    python benchmarks/wz_reco_bkg_limits.py wz_reco_paper wz_reco_bkg --out limits_bkg.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import Any

import numpy as np

import madsbi
from madsbi.analysis.coverage import build_pool, oracle_model
from madsbi.analysis.oracles import fit_models
from madsbi.inference.limits import best_fit, intervals_1d, q_statistic
from madsbi.theory.polynomial import polynomial_features

LEVELS = (0.68, 0.95)


def _width(found: list[tuple[float, float]]) -> float:
    return float(sum(hi - lo for lo, hi in found))


def _asimov_q(nu: np.ndarray, nu0: np.ndarray) -> np.ndarray:
    """2 Σ_b [ν_b(θ) − n_b − n_b log(ν_b(θ)/n_b)] with n_b = ν_b(θ0) > 0; (B, G) → (G,)."""
    keep = nu0 > 0
    n = nu0[keep][:, None]
    q = 2.0 * (nu[keep] - n - n * np.log(nu[keep] / n)).sum(axis=0)
    result: np.ndarray = np.maximum(q, 0.0)
    return result


def analysis_limits(name: str, luminosity: float, points: int) -> dict[str, Any]:
    """Q along each parameter and the intervals of every method for one analysis."""
    analysis = madsbi.load_analysis(name)
    pool = build_pool(analysis, luminosity=luminosity)
    asimov = np.concatenate([p.expected_events * p.probabilities for p in pool.processes])
    data = replace(pool.data, weights=asimov, mode="asimov")
    theta0 = analysis.theta0
    ranges = np.asarray(analysis.defaults["ranges"], dtype=np.float64)
    mt_wz = pool.data.features[:, analysis.features.index("mt_wz")]
    config = analysis.manifest["config"]["analysis"]
    edges = np.asarray(config["mt_wz_edges"], dtype=np.float64)
    bins = np.digitize(mt_wz, edges)  # 0: underflow, len(edges): overflow
    exact = pool.data.coefficients
    assert exact is not None, "the pool's events need their exact coefficients"
    per_bin = np.stack([(asimov[bins == b, None] * exact[bins == b]).sum(0)
                        for b in range(edges.size + 1)])  # fmt: skip
    models: dict[str, Any] = {"truth": replace(oracle_model(analysis, pool), weights=asimov)}
    learned = list(analysis.methods)
    if "pooled" in (analysis.manifest.get("components") or {}):
        learned.append("pooled")
    for method in learned:
        models[method] = fit_models(analysis, data, method)[0][0]
    out: dict[str, Any] = {
        "analysis": name,
        "luminosity_fb": luminosity,
        "processes": [p.describe() for p in pool.processes],
        "parameters": {},
    }
    for i, parameter in enumerate(analysis.parameters):
        line = np.tile(theta0, (points, 1))
        line[:, i] = np.linspace(ranges[i, 0], ranges[i, 1], points)
        phi = polynomial_features(line, theta0)
        qs: dict[str, np.ndarray] = {}
        for method, model in models.items():
            ll = model.log_likelihood(line)[0]
            qs[method] = q_statistic(ll, best_fit(line[:, i : i + 1], ll)[1])
        rate = (asimov[:, None] * exact).sum(0)
        qs["rate_only"] = _asimov_q((rate @ phi.T)[None], np.array([asimov.sum()]))
        phi0 = polynomial_features(theta0[None], theta0)[0]
        qs["mt_wz_histogram"] = _asimov_q(per_bin @ phi.T, per_bin @ phi0)
        entry: dict[str, Any] = {}
        for method, q in qs.items():
            found = {f"{lv:g}": intervals_1d(line[:, i], q, lv) for lv in LEVELS}
            entry[method] = {
                "intervals": found,
                **{f"width_{round(100 * lv)}": _width(found[f"{lv:g}"]) for lv in LEVELS},
            }
        out["parameters"][parameter] = entry
    out["asimov"] = data
    return out


def profiled_fit(
    name: str, data: Any, directory: str, method: str, points: int, stores: list[str]
) -> dict[str, Any]:
    """``madsbi fit`` of the Asimov pool with the declared nuisances profiled (module docstring).

    ``stores``: the signal's Asimov events from these stores (e.g. the test stores) instead of
    the analysis's rate events (a smaller sample for the profile over nuisances that act on
    single components, evaluated event by event).
    """
    from pathlib import Path

    from madsbi.analysis.fit import fit
    from madsbi.analysis.plots import fit_figures

    analysis = madsbi.load_analysis(name)
    if stores:
        pool = build_pool(analysis, stores, luminosity=data.luminosity_fb)
        asimov = np.concatenate([p.expected_events * p.probabilities for p in pool.processes])
        data = replace(pool.data, weights=asimov, mode="asimov")
    started = time.perf_counter()
    result = fit(analysis, data, methods=[method], profile="profiled", points_profile=points)
    seconds = time.perf_counter() - started
    document = result.to_dict() | {"seconds": seconds}
    out = Path(directory) / Path(str(name)).name
    out.mkdir(parents=True, exist_ok=True)
    (out / "fit.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
    fit_figures(document, out)
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("analyses", nargs="+", help="Analysis names or directories.")
    parser.add_argument("--luminosity", type=float, default=300.0, help="fb⁻¹")
    parser.add_argument("--points", type=int, default=401, help="Points per line.")
    parser.add_argument("--out", required=True, help="JSON output.")
    parser.add_argument("--profiled-fit", help="Directory: also the profiled fit with nuisances.")
    parser.add_argument("--method", default="mlp", help="Method of the profiled fit.")
    parser.add_argument("--points-profile", type=int, default=41, help="Of the profiled fit.")
    parser.add_argument(
        "--asimov-stores", default="", help="Comma-separated signal stores of the profiled fit."
    )
    args = parser.parse_args()
    results = []
    for name in args.analyses:
        started = time.perf_counter()
        results.append(analysis_limits(name, args.luminosity, args.points))
        results[-1]["seconds"] = time.perf_counter() - started
        data = results[-1].pop("asimov")
        declared = madsbi.load_analysis(name).manifest.get("nuisances")
        if args.profiled_fit and declared:
            stores = [t for t in args.asimov_stores.split(",") if t]
            doc = profiled_fit(
                name, data, args.profiled_fit, args.method, args.points_profile, stores
            )
            print(f"{name}: profiled fit ({len(declared)} nuisances) {doc['seconds']:.0f} s")
            for nuisance, entry in doc["nuisances"][args.method].items():
                print(f"  {nuisance:14s} pull {entry['pull']:+.3f} ± {entry['constraint']:.3f}")
            for p in doc["parameters"]:
                full = doc["intervals"][args.method][p]["0.68"]
                stat = doc["intervals_stat_only"][args.method][p]["0.68"]
                print(f"  {p:6s} 68 % full {_width(full):.4f}  stat-only {_width(stat):.4f}")
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1)
    methods = ["truth", "rate_only", "mt_wz_histogram", "mlp", "lgatr", "pooled"]
    parameters = list(results[0]["parameters"])
    print(f"68 % widths at {args.luminosity:g} fb⁻¹ (lines, the others at θ0)\n")
    print("| analysis | method | " + " | ".join(parameters) + " |")
    print("|---|---|" + "---|" * len(parameters))
    for r in results:
        for method in methods:
            if method not in r["parameters"][parameters[0]]:
                continue
            cells = [f"{r['parameters'][p][method]['width_68']:.4f}" for p in parameters]
            print(f"| {r['analysis']} | {method} | " + " | ".join(cells) + " |")
    for r in results:
        nus = ", ".join(f"{p['name']} {p['expected_events']:.1f}" for p in r["processes"])
        print(f"\n{r['analysis']}: ν(θ0) {nus}; {r['seconds']:.0f} s")


if __name__ == "__main__":
    main()
