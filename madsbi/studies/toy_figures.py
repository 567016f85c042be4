"""The toy study's figures: the equivalents of paper Figs. 1–5, 12 and 13 and the loss curves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.studies._common import loss_curve_figures
from madsbi.studies.toy_samples import THETA0

if TYPE_CHECKING:
    from madsbi.studies.toy import _Study


def toy_figures(study: _Study) -> list[str]:
    """Write the figures of what ``study`` ran to ``<out>/figures``; their paths below ``out``."""
    from madsbi import plotting

    fig = study.out / "figures"
    s = study.config.study
    written = []
    x = np.linspace(-4.0, s.alpha + 3.0, 400)
    densities = {
        f"θ = {theta:g}": study.model.reco_density(x, theta) for theta in (0.0, 0.4, s.theta_test)
    }
    written.append(
        plotting.plot_likelihoods(
            x, densities, fig / "fig1_likelihoods.png", title=f"α = {s.alpha:g}"
        )
    )
    methods = study.summary["methods"]
    curves = {
        name: (np.asarray(m["mean_log_r"]), np.asarray(m["spread"])) for name, m in methods.items()
    }
    if curves:
        written.append(
            plotting.plot_mean_log_ratio(
                study.grid,
                study.truth,
                curves,
                fig / "fig2_mean_log_ratio.png",
                theta_test=s.theta_test,
                title=f"α = {s.alpha:g}, test sample at θ = {s.theta_test:g}",
            )
        )
    if "single_network_morphing" in methods:
        subset = {
            k: curves[k] for k in ("morphing_aware", "single_network_morphing") if k in curves
        }
        written.append(
            plotting.plot_mean_log_ratio(
                study.grid,
                study.truth,
                subset,
                fig / "fig3_single_network.png",
                theta_test=s.theta_test,
                title="per-basis networks vs one network (MadMiner style)",
            )
        )
    if "smearing" in study.summary:
        sm, data = study.summary["smearing"], study.smearing_data
        plan = data["plan"]
        written.append(
            plotting.plot_target_histogram(
                {
                    "original": (data["target"], np.ones_like(data["target"])),
                    "fractional smearing": (
                        data["target"][plan.parent],
                        np.ones(plan.n_copies),
                    ),
                },
                fig / "fig4_target_histogram.png",
            )
        )
        x_wide = np.linspace(-1.0, study.config.smearing.tail_to, 200)
        wide = {}
        for label in ("original", "fractional smearing"):
            est = DerivativeEstimator.load(
                study.out
                / "estimators"
                / f"rtt_{'original' if label == 'original' else 'smeared'}"
                / "final"
            )
            values = est.second_derivative(x_wide)
            wide[label] = (values.mean(0), values.std(0))
        written.append(
            plotting.plot_learned_function(
                x_wide,
                study.model.reco_derivatives(x_wide, THETA0)[1],
                wide,
                fig / "fig5_learned_second_derivative.png",
                shade_from=sm["x_tail"][0],
            )
        )
        written.append(
            plotting.plot_scatter_targets(
                (data["z"], data["target"]),
                (data["x"], data["target"]),
                fig / "fig13_original_dataset.png",
                title="original dataset",
            )
        )
        written.append(
            plotting.plot_scatter_targets(
                (data["z"], data["target"]),
                (data["x_smeared"], data["target"][plan.parent]),
                fig / "fig13_smeared_dataset.png",
                reco_weights=plan.weight,
                title="fractionally smeared dataset",
            )
        )
    if "expected_limits" in study.summary:
        limits = study.summary["expected_limits"]
        grid = np.asarray(limits["theta_grid"])
        others = {
            name: (np.asarray(v["q"]), np.zeros(grid.shape[0]))
            for name, v in limits.items()
            if isinstance(v, dict) and name != "analytic"
        }
        written.append(
            plotting.plot_learned_function(
                grid,
                np.asarray(limits["analytic"]["q"]),
                others,
                fig / "expected_q.png",
                xlabel=r"$\theta$",
                ylabel=r"$q(\theta)$, Asimov θ0 sample",
                logy=False,
                title=f"expected, L σ(θ0) = {limits['expected_events0']:g} events",
            )
        )
    written.extend(loss_curve_figures(study.histories, fig))
    if study.coverage_results:
        gammas = np.linspace(0.05, 0.95, 19)
        written.append(
            plotting.plot_coverage(
                gammas,
                {k: v.curve(gammas) for k, v in study.coverage_results.items()},
                fig / "fig12_coverage.png",
            )
        )
        written.append(
            plotting.plot_q_histogram(
                {k: v.q_true for k, v in study.coverage_results.items()},
                1,
                fig / "coverage_q_histogram.png",
            )
        )
    return [str(Path(p).relative_to(study.out)) for p in written]
