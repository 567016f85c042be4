"""``madsbi run``: the W±Z parton-level analysis (paper Sec. 4.1) from a TOML config."""

from __future__ import annotations

from pathlib import Path

import click

from madsbi._outdir import locked_output_dir
from madsbi.cli._options import set_threads, study_options


@click.command()
@study_options
def run(config: Path, out_dir: Path, threads: int, no_figures: bool, quiet: bool) -> None:
    """Run the analysis CONFIG (TOML) end to end: figures and DIR/summary.json."""
    from madsbi.studies.wz import run_wz_study
    from madsbi.studies.wz_config import WZStudyConfig

    settings = WZStudyConfig.from_toml(config)
    set_threads(threads)
    with locked_output_dir(out_dir):
        summary = run_wz_study(settings, out_dir, progress=not quiet, figures=not no_figures)
    click.echo(
        f"W±Z parton analysis on {summary['n_train']:,} training / {summary['n_test']:,} test "
        f"events → {out_dir / 'summary.json'}"
    )
    for name, entry in summary["methods"].items():
        for sample, metrics in entry["samples"].items():
            total = metrics["all"]
            click.echo(
                f"  {name:16s} {sample:3s} rms_error {total['rms_error']:.3g} "
                f"({100 * total['relative_rms_error']:.2f} % of the true range), truth within "
                f"the ±{settings.analysis.band_sigmas:g}σ band at "
                f"{100 * total['band_coverage']:.0f} % of grid points"
            )
    limits = summary["expected_limits"]
    click.echo(f"  expected 68 % / 95 % intervals, ν0 = {limits['expected_events0']:.4g} events:")
    for parameter, entry in limits["parameters"].items():
        for name, result in entry.items():
            if name == "theta":
                continue
            click.echo(
                f"    {parameter:6s} {name:16s} {_intervals(result['interval_68'])}  "
                f"{_intervals(result['interval_95'])}"
            )


def _intervals(intervals: list[tuple[float, float]]) -> str:
    return " ∪ ".join(f"[{lo:+.4f}, {hi:+.4f}]" for lo, hi in intervals) or "(none)"
