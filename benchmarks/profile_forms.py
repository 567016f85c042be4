"""The profile over nuisances in a mixture: the rate-separable form vs the general form.

python benchmarks/profile_forms.py [--events 4000] [--members 1] [--points 300] [--repeat 2]

The mixture of ``mixture_scan.py`` (signal, θ-dependent ZZ-like and θ-independent fakes; 3
parameters) with the nuisances of a background-aware reco analysis: the luminosity, six
shapes alike on every process (per-event factors and η(±1), normalised over the events) and a
cross-section normalisation for the signal and for each background. Times
``profile_log_likelihood`` at ``--points`` random θ (the rate-separable form,
:mod:`madsbi.inference.profile_rates`) against the same profile with that form switched off
(the general form), in the same process, and reports their ratio, the largest difference in
the profiled log-likelihood and in α̂.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from unittest import mock

import numpy as np
from mixture_scan import mixture

import madsbi.inference.profile as profile
from madsbi.inference.modifiers import EventShape, Normalisation
from madsbi.inference.modifiers.shape import ALL_COMPONENTS

from _common import report, summary, timed


def alike_shapes(rng: np.random.Generator, n: int, count: int) -> list[EventShape]:
    """``count`` normalised variations on every process (δ in ± pairs, the events the sample)."""
    out = []
    for k in range(count):
        half = rng.normal(0.0, 0.05, n // 2)
        delta = np.concatenate([half, -half])
        up = delta - np.log(np.mean(np.exp(delta)))
        down = -delta - np.log(np.mean(np.exp(-delta)))
        eta = 1.0 + rng.uniform(0.002, 0.01)
        out.append(EventShape(f"shape{k}", ALL_COMPONENTS, up, down, eta, 2.0 - eta, up, down))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(2)
    n = args.events - args.events % 2
    model = mixture(rng, n, args.members)
    modifiers = (
        Normalisation.on("lumi", 0.02),
        *alike_shapes(rng, n, 6),
        Normalisation.on("xsec_signal", 0.05, ["signal"]),
        Normalisation.on("xsec_zz", 0.10, ["zz"]),
        Normalisation.on("xsec_fakes", 0.30, ["fakes"]),
    )
    model = replace(model, modifiers=modifiers)
    if not profile.is_rate_separable(model) or profile.is_separable(model):
        raise SystemExit("the model is not of the rate-separable form")
    grid = rng.uniform(-1.0, 1.0, size=(args.points, 3))
    t_fast, fast = timed(lambda: profile.profile_log_likelihood(model, grid), args.repeat)
    with mock.patch.object(profile, "is_rate_separable", return_value=False):
        t_general, general = timed(lambda: profile.profile_log_likelihood(model, grid), args.repeat)
    dll = float(np.max(np.abs(fast.log_likelihood - general.log_likelihood)))
    dalpha = float(np.max(np.abs(fast.alphas - general.alphas)))
    if dll > 1e-6:
        raise SystemExit(f"the two forms' profiles differ by {dll}")
    base = summary(t_general)["median_s"]
    rows = [
        {
            "form": form,
            "events": n,
            "members": args.members,
            "points": args.points,
            "nuisances": len(modifiers),
            **summary(t),
            "speedup_vs_general": base / summary(t)["median_s"],
            "max_abs_dll": dll,
            "max_abs_dalpha": dalpha,
            "converged": float(result.converged.mean()),
        }
        for form, t, result in (("general", t_general, general), ("rate_separable", t_fast, fast))
    ]
    report("profile_forms", rows, {"events": n, "points": args.points})


if __name__ == "__main__":
    main()
