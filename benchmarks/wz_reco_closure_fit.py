"""Closure of a saved W±Z reco analysis through ``madsbi fit`` (issue 25 acceptance).

For every closure point and charge, the closure store (generated at the point, never used
for training, validation, rate pooling or any choice) is fitted

- as counts at the luminosity where each generated parent is one expected event
  (L = n_parents / σ_gen, so ν(θ_gen) is the store's own expectation);
- as Asimov data at ``--luminosity`` (default 300 fb⁻¹), reporting also the weight per entry
  w = ν/N and q/max(w, 1): Asimov data from N MC entries weighted up by w behave as w × a
  sample of N events;

and both charges jointly as counts: ``madsbi store mix`` draws unweighted pseudo-data from the
two closure stores at 0.95 × the smaller equivalent luminosity (so no entry is drawn twice),
without process labels, as real data. A correct analysis has θ_gen inside the 95 % region
(q ≤ 7.81 for three parameters) for every method.

    python benchmarks/wz_reco_closure_fit.py ANALYSIS --out DIR \
        --point bsm=1,0.1,0.1:WPZ_CLOSURE.h5,WMZ_CLOSURE.h5 \
        --point bsm2=-0.3,-0.3,-0.05:WPZ_CLOSURE2.h5,WMZ_CLOSURE2.h5

Writes ``DIR/closure.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

import madsbi
from madsbi.events.mix import mix_stores
from madsbi.inference.limits import chi2_quantile
from madsbi.studies.wz_reco_data import load_reco_sample

FB_PER_PB = 1000.0


def _point(text: str) -> tuple[str, list[float], list[str]]:
    label, _, rest = text.partition("=")
    values, _, stores = rest.partition(":")
    return label, [float(v) for v in values.split(",")], stores.split(",")


def _at(names: list[str], theta: list[float]) -> str:
    return ",".join(f"{n}={v:g}" for n, v in zip(names, theta, strict=True))


def _fit(analysis: Any, store: str, at: str, **options: Any) -> dict[str, Any]:
    started = time.perf_counter()
    # Only q at the point and the best fit matter here: the smallest lines and planes.
    result = analysis.fit(
        store, at=[at], points_1d=3, points_2d=2, points_profile=2, profile="fixed", **options
    )
    out = {}
    for name, method in result.methods.items():
        out[name] = {
            "q": float(method.points[0]["q"]),
            "best_fit": np.asarray(method.best_fit).tolist(),
        }
    return {"methods": out, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("analysis")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--point", action="append", required=True, help="LABEL=θ:STORES")
    parser.add_argument("--luminosity", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    analysis = madsbi.load_analysis(args.analysis)
    names = list(analysis.parameters)
    threshold = chi2_quantile(0.95, len(names))
    report: dict[str, Any] = {"threshold_95": threshold, "points": {}}
    for text in args.point:
        label, theta, stores = _point(text)
        at = _at(names, theta)
        entry: dict[str, Any] = {"theta": theta, "stores": {}}
        lumis = []
        for store in stores:
            sample = load_reco_sample(store)
            lumi = sample.n_parents / sample.sigma_gen / FB_PER_PB
            lumis.append(lumi)
            counts = _fit(analysis, store, at, data_mode="counts", luminosity=lumi)
            asimov = _fit(analysis, store, at, data_mode="asimov", luminosity=args.luminosity)
            weight = args.luminosity * FB_PER_PB * sample.sigma_fid / sample.x.shape[0]
            for fit in asimov["methods"].values():
                fit["q_per_entry_weight"] = fit["q"] / max(weight, 1.0)
            entry["stores"][store] = {
                "process": sample.process,
                "n_entries": int(sample.x.shape[0]),
                "counts": {"luminosity_fb": lumi, **counts},
                "asimov": {"luminosity_fb": args.luminosity, "weight_per_entry": weight, **asimov},
            }
        if len(stores) > 1:
            lumi = 0.95 * min(lumis)
            mixed = args.out / f"mixed_{label}.h5"
            mix = mix_stores(mixed, stores, luminosity=lumi, seed=args.seed, overwrite=True)
            joint = _fit(analysis, str(mixed), at, data_mode="counts", luminosity=lumi)
            entry["joint_counts"] = {
                "luminosity_fb": lumi,
                "n_events": mix.n_events,
                **joint,
            }
        report["points"][label] = entry
    (args.out / "closure.json").write_text(json.dumps(report, indent=1))
    print(f"95 % threshold {threshold:.2f}")
    for label, entry in report["points"].items():
        for store, fits in entry["stores"].items():
            for mode in ("counts", "asimov"):
                row = " ".join(
                    f"{m} {f['q']:.2f}"
                    + (f" (q/w {f['q_per_entry_weight']:.2f})" if "q_per_entry_weight" in f else "")
                    for m, f in fits[mode]["methods"].items()
                )
                print(f"{label} {Path(store).name} {mode}: {row}")
        if "joint_counts" in entry:
            row = " ".join(f"{m} {f['q']:.2f}" for m, f in entry["joint_counts"]["methods"].items())
            print(f"{label} joint counts: {row}")


if __name__ == "__main__":
    main()
