"""``madsbi analysis-trim``: a smaller copy of a trained analysis for shipping."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("analysis-trim")
@click.argument("source")
@click.argument("destination", type=click.Path(path_type=Path))
@click.option(
    "--rate-events",
    type=int,
    required=True,
    help="Rate events to keep over all channels (split in proportion to their counts).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draw.")
@click.option(
    "--float64",
    is_flag=True,
    help="Keep observables and coefficients float64 (default float32; weights stay float64).",
)
def analysis_trim(
    source: str, destination: Path, rate_events: int, seed: int, float64: bool
) -> None:
    """Copy the analysis SOURCE to DESTINATION with a subsample of its rate events.

    SOURCE is an analysis directory (OUT/analysis of ``madsbi run``) or a shipped name;
    DESTINATION a new or empty directory. The estimators are copied unchanged; each channel
    keeps its share of the rate events with weights rescaled to keep its σ(θ0) exactly;
    analysis.json records rate_model.trimmed_from. Fits of the copy differ from the
    original's by the rate model's subsampling only.
    """
    import json

    from madsbi.analysis.trim import trim_analysis

    out = trim_analysis(
        source, destination, rate_events=rate_events, seed=seed, float32=not float64
    )
    rate = json.loads((out / "analysis.json").read_text())["rate_model"]
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    click.echo(
        f"{rate['trimmed_from']['n_events']:,} → {rate['n_events']:,} rate events, "
        f"σ(θ0) = {rate['sigma0_pb']:.6g} pb → {out} ({size / 1e6:.2f} MB)"
    )
