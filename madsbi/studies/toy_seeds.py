"""A toy study over several seeds: one run per seed, mean ± std of every metric.

``run_toy_seeds(config, out_dir, seeds)`` runs :func:`madsbi.studies.toy.run_toy_study` once
per seed s into ``OUT/seed_<s>/`` with ``[study] seed = s`` (new samples) and
``[training] seed = <training seed> + s`` (new initialisations and batch orders), then writes
``OUT/summary.json``:

- ``seeds``: the seeds, in order;
- ``metrics``: for every scalar number of the per-seed summaries (dotted path, e.g.
  ``methods.derivative.rms_error``, ``smearing.tail_error_reduction_learnable``,
  ``coverage.analytic.fractions.0``) its per-seed ``values``, ``mean`` and ``std`` (sample
  standard deviation, ddof = 1; 0 for one seed). Configuration, timings and wall-clock
  figures are left out;
- ``curves``: per method the seed-mean of the learned and the analytic mean log r and the
  seed-to-seed std of their difference, on the θ grid (all seeds share the grid);
- ``per_seed``: the per-seed summary files.

``figures/seeds_mean_log_ratio.png`` shows those curves with the seed spread as the band.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from madsbi.errors import ConfigError
from madsbi.studies._common import write_json
from madsbi.studies.toy_config import ToyStudyConfig

SKIPPED = ("config", "figures", "theta_grid", "wall_seconds")
"""Top-level summary keys that are no metrics."""
SKIPPED_LEAVES = ("train_seconds", "seed")


def seed_config(config: ToyStudyConfig, seed: int) -> ToyStudyConfig:
    """The configuration of one seed's run (no ``seeds`` of its own)."""
    study = dataclasses.replace(config.study, seed=int(seed), seeds=())
    training = dataclasses.replace(config.training, seed=config.training.seed + int(seed))
    return dataclasses.replace(config, study=study, training=training)


def scalar_leaves(tree: Any, prefix: str = "") -> Iterable[tuple[str, float]]:
    """(dotted path, value) for every int/float leaf of nested dicts; lists of numbers by index.

    Lists longer than 8 (curves, grids) are skipped: they are no single metric.
    """
    if isinstance(tree, bool):
        return
    if isinstance(tree, int | float):
        yield prefix, float(tree)
    elif isinstance(tree, dict):
        for key, value in tree.items():
            if not prefix and key in SKIPPED:
                continue
            if key in SKIPPED_LEAVES:
                continue
            yield from scalar_leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, list | tuple) and len(tree) <= 8:
        for i, value in enumerate(tree):
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield f"{prefix}.{i}", float(value)


def aggregate(summaries: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-seed values, mean and std (ddof = 1) of every metric found in all summaries."""
    per_seed = [dict(scalar_leaves(s)) for s in summaries]
    common = [k for k in per_seed[0] if all(k in p for p in per_seed[1:])]
    metrics = {}
    for key in common:
        values = np.array([p[key] for p in per_seed])
        finite = bool(np.all(np.isfinite(values)))
        std = float(values.std(ddof=1)) if values.shape[0] > 1 and finite else 0.0
        metrics[key] = {
            "values": values.tolist(),
            "mean": float(values.mean()) if finite else math.nan,
            "std": std if finite else math.nan,
        }
    return metrics


def seed_curves(summaries: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Seed-mean learned and analytic ⟨log r⟩ per method and the seed std of their difference."""
    truth = np.array([s["analytic_mean_log_r"] for s in summaries])
    curves = {}
    for name in summaries[0]["methods"]:
        if not all(name in s["methods"] for s in summaries):
            continue
        learned = np.array([s["methods"][name]["mean_log_r"] for s in summaries])
        error = learned - truth
        curves[name] = {
            "mean_log_r": learned.mean(0).tolist(),
            "analytic_mean_log_r": truth.mean(0).tolist(),
            "error_mean": error.mean(0).tolist(),
            "error_std": (error.std(0, ddof=1) if len(summaries) > 1 else 0 * error[0]).tolist(),
        }
    return curves


def run_toy_seeds(
    config: ToyStudyConfig,
    out_dir: str | Path,
    seeds: Sequence[int] | None = None,
    *,
    progress: bool = True,
    figures: bool = True,
) -> dict[str, Any]:
    """Run the toy study once per seed and write the aggregated ``OUT/summary.json``.

    ``seeds`` defaults to ``config.study.seeds``. A seed's run resumes like any study run.
    """
    from madsbi.studies.toy import run_toy_study

    chosen = [int(s) for s in (config.study.seeds if seeds is None else seeds)]
    if not chosen:
        raise ConfigError("seeds: expected at least one seed ([study] seeds or --seeds)")
    if len(set(chosen)) != len(chosen) or min(chosen) < 0:
        raise ConfigError(f"seeds: expected distinct seeds >= 0, got {chosen}")
    out = Path(out_dir)
    summaries = []
    for seed in chosen:
        summaries.append(
            run_toy_study(
                seed_config(config, seed), out / f"seed_{seed}", progress=progress, figures=figures
            )
        )
    grid = summaries[0]["theta_grid"]
    summary: dict[str, Any] = {
        "seeds": chosen,
        "config": dataclasses.asdict(config),
        "theta_grid": grid,
        "metrics": aggregate(summaries),
        "curves": seed_curves(summaries),
        "per_seed": {str(s): f"seed_{s}/summary.json" for s in chosen},
        "std_convention": "sample standard deviation over seeds (ddof = 1)",
    }
    if figures and summary["curves"]:
        from madsbi import plotting

        curves = summary["curves"]
        first = next(iter(curves.values()))
        truth = np.asarray(first["analytic_mean_log_r"])
        path = plotting.plot_mean_log_ratio(
            np.asarray(grid),
            truth,
            {
                name: (truth + np.asarray(c["error_mean"]), np.asarray(c["error_std"]))
                for name, c in curves.items()
            },
            out / "figures" / "seeds_mean_log_ratio.png",
            theta_test=config.study.theta_test,
            title=f"α = {config.study.alpha:g}, {len(chosen)} seeds: mean, band = seed std",
        )
        summary["figures"] = [str(Path(path).relative_to(out))]
    write_json(out / "summary.json", summary)
    return summary
