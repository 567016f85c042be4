"""``madsbi run``: the W±Z parton (Sec. 4.1) or W±Z reco (Sec. 4.2) analysis from TOML."""

from __future__ import annotations

from pathlib import Path

import click

from madsbi._outdir import locked_output_dir
from madsbi.cli._options import set_threads, study_options
from madsbi.cli._resources import check_needs, wz_study_needs


@click.command()
@study_options
def run(config: Path, out_dir: Path, threads: int, no_figures: bool, quiet: bool) -> None:
    """Run the analysis CONFIG (TOML) end to end: figures and DIR/summary.json.

    A config with ``[analysis] study = "wz_reco"`` runs the reco-level analysis (Sec. 4.2).
    """
    from madsbi.config import read_toml
    from madsbi.studies.wz_reco_config import is_reco_config

    if is_reco_config(read_toml(config)):
        _run_reco(config, out_dir, threads, no_figures, quiet)
        return
    from madsbi.studies.wz import run_wz_study
    from madsbi.studies.wz_config import WZStudyConfig

    settings = WZStudyConfig.from_toml(config)
    check_needs(wz_study_needs(settings), out_dir, what="run")
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


def _run_reco(config: Path, out_dir: Path, threads: int, no_figures: bool, quiet: bool) -> None:
    from madsbi.cards import process_key
    from madsbi.studies.wz_reco import run_wz_reco_study
    from madsbi.studies.wz_reco_config import WZRecoStudyConfig

    settings = WZRecoStudyConfig.from_toml(config)
    check_needs(wz_study_needs(settings), out_dir, what="run")
    set_threads(threads)
    with locked_output_dir(out_dir):
        summary = run_wz_reco_study(settings, out_dir, progress=not quiet, figures=not no_figures)
    channels = summary["channels"]
    click.echo(
        f"{'W⁺Z' if len(channels) < 2 else 'W±Z'} reco analysis on "
        f"{summary['n_train_entries']:,} training / {summary['n_test_entries']:,} test entries, "
        f"ν0 = {summary['expected_events0']:.4g} → {out_dir / 'summary.json'}"
    )
    if len(channels) > 1:
        for process, entry in channels.items():
            click.echo(f"  channel ν0 = {entry['expected_events0']:.4g}: {process_key(process)}")
    for parameter, entry in summary["limits"]["parameters"].items():
        for name, result in entry["methods"].items():
            click.echo(
                f"  {parameter:6s} {name:16s} 68 % {_intervals(result['interval_68'])}  "
                f"95 % {_intervals(result['interval_95'])}"
            )
    for name, entry in summary["coverage"].get("methods", {}).items():
        click.echo(
            f"  coverage {name:12s} c_68 = {entry['c_68']:.3f} ± {entry['c_68_error']:.3f}, "
            f"c_95 = {entry['c_95']:.3f} ± {entry['c_95_error']:.3f}"
        )


def _intervals(intervals: list[tuple[float, float]]) -> str:
    return " ∪ ".join(f"[{lo:+.4f}, {hi:+.4f}]" for lo, hi in intervals) or "(none)"
