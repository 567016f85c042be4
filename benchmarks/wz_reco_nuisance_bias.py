"""Detector shape nuisances in the W⁺Z reco fit (issue 27 acceptance): bias test, pulls, impacts.

The analysis is a copy of the shipped wz_reco_paper with learned shape nuisances
(``madsbi analysis-nuisances wz_reco_paper TRAIN.h5 --variations all --out ANALYSIS``).

1. Bias test with paired data: the BSM closure parents simulated with the lepton scales
   shifted by +1σ (``--shift lep_scale_e=1 --shift lep_scale_mu=1``) and, with the same seed,
   unshifted, each fitted as counts at the luminosity where each parent is one expected event
   (as benchmarks/wz_reco_closure_fit.py), stat-only and profiled: q(θ_BSM), best fits, pulls
   and post-fit constraints of the nuisances.
2. The SM Asimov sample at ``--luminosity`` (300 fb⁻¹): pulls, constraints, impacts on the 68 %
   intervals (profiled intervals), stat-only vs full 68 % widths, and the wall time of the
   full fit over the stat-only one.

    python benchmarks/wz_reco_nuisance_bias.py ANALYSIS --out DIR --theta 1,0.1,0.1 \
        --shifted SHIFTED.h5 --unshifted UNSHIFTED.h5 --asimov SM_TEST.h5 [--method mlp]

Writes ``DIR/nuisance_bias.json`` and prints tables.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import madsbi
from madsbi.studies.wz_reco_data import load_reco_sample

FB_PER_PB = 1000.0


def _timed(analysis: Any, store: str, **options: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analysis.fit(store, **options)
    return result, time.perf_counter() - started


def _summary(result: Any, seconds: float) -> dict[str, Any]:
    document = result.to_dict()
    out: dict[str, Any] = {"seconds": seconds, "methods": {}}
    for name, method in result.methods.items():
        entry = {
            "q": float(method.points[0]["q"]) if method.points else None,
            "best_fit": np.asarray(method.best_fit).tolist(),
            "intervals": method.intervals,
            "nuisances": method.nuisances,
        }
        if method.stat_only:
            entry["best_fit_stat_only"] = document["best_fit_stat_only"][name]
            entry["intervals_stat_only"] = document["intervals_stat_only"][name]
            entry["impacts"] = method.impacts
        out["methods"][name] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("analysis")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--theta", required=True, help="θ_BSM of the shifted data")
    parser.add_argument("--shifted", required=True)
    parser.add_argument("--unshifted", required=True)
    parser.add_argument("--asimov", required=True)
    parser.add_argument("--luminosity", type=float, default=300.0)
    parser.add_argument("--method", action="append")
    parser.add_argument("--skip-asimov", action="store_true")
    parser.add_argument("--skip-bias", action="store_true")
    parser.add_argument("--points-profile", type=int, default=41)
    parser.add_argument("--asimov-profile", choices=("fixed", "profiled"), default="profiled")
    parser.add_argument("--points-1d", type=int, default=201)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    analysis = madsbi.load_analysis(args.analysis)
    names = list(analysis.parameters)
    theta = [float(v) for v in args.theta.split(",")]
    at = ",".join(f"{n}={v:g}" for n, v in zip(names, theta, strict=True))
    methods = args.method or None
    report: dict[str, Any] = {"theta": theta, "bias": {}, "asimov": {}}
    small = dict(at=[at], points_1d=3, points_2d=2, points_profile=2, profile="fixed")
    pairs = () if args.skip_bias else (("shifted", args.shifted), ("unshifted", args.unshifted))
    for label, store in pairs:
        sample = load_reco_sample(store)
        lumi = sample.n_parents / sample.sigma_gen / FB_PER_PB
        common = dict(data_mode="counts", luminosity=lumi, methods=methods, **small)
        stat, t_stat = _timed(analysis, store, stat_only=True, **common)
        full, t_full = _timed(analysis, store, **common)
        report["bias"][label] = {
            "store": store,
            "luminosity_fb": lumi,
            "n_events": int(full.data["n_events"]),
            "stat_only": _summary(stat, t_stat),
            "full": _summary(full, t_full),
        }
        for m in full.methods:
            s, f = report["bias"][label]["stat_only"], report["bias"][label]["full"]
            pulls = {
                k: f"{v['pull']:+.2f} ± {v['constraint']:.2f}"
                for k, v in f["methods"][m]["nuisances"].items()
            }
            print(
                f"{label} {m}: q stat {s['methods'][m]['q']:.2f} full {f['methods'][m]['q']:.2f}; "
                f"best stat {np.round(s['methods'][m]['best_fit'], 3).tolist()} full "
                f"{np.round(f['methods'][m]['best_fit'], 3).tolist()}; pulls {pulls}"
            )
        (args.out / "nuisance_bias.json").write_text(json.dumps(report, indent=1))
    if not args.skip_asimov:
        common = dict(
            data_mode="asimov", luminosity=args.luminosity, methods=methods,
            profile=args.asimov_profile, points_2d=2, points_profile=args.points_profile,
            points_1d=args.points_1d,
        )  # fmt: skip
        stat, t_stat = _timed(analysis, args.asimov, stat_only=True, **common)
        full, t_full = _timed(analysis, args.asimov, **common)
        report["asimov"] = {
            "store": args.asimov,
            "luminosity_fb": args.luminosity,
            "stat_only": _summary(stat, t_stat),
            "full": _summary(full, t_full),
            "time_ratio": t_full / t_stat,
        }
        ratio = t_full / t_stat
        print(f"Asimov SM at {args.luminosity} fb⁻¹: full/stat-only wall time {ratio:.2f}")
        for m, f in report["asimov"]["full"]["methods"].items():
            for k, v in f["nuisances"].items():
                print(f"  {m} pull {k}: {v['pull']:+.3f} ± {v['constraint']:.3f}")
            for p in names:
                (s_lo, s_hi) = _envelope(f["intervals_stat_only"][p]["0.68"])
                (f_lo, f_hi) = _envelope(f["intervals"][p]["0.68"])
                print(
                    f"  {m} {p}: 68 % stat-only [{s_lo:+.4f}, {s_hi:+.4f}] full "
                    f"[{f_lo:+.4f}, {f_hi:+.4f}] width ratio {(f_hi - f_lo) / (s_hi - s_lo):.3f}"
                )
        name = "nuisance_asimov.json" if args.skip_bias else "nuisance_bias.json"
        (args.out / name).write_text(json.dumps(report, indent=1))


def _envelope(found: list[list[float]]) -> tuple[float, float]:
    return min(p[0] for p in found), max(p[1] for p in found)


if __name__ == "__main__":
    main()
