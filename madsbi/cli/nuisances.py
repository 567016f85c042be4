"""``madsbi analysis-nuisances``: detector shape nuisances of a reco analysis, trained."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("analysis-nuisances")
@click.argument("source")
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--variations",
    required=True,
    help="Comma-separated detector variations of STORE (lep_scale_e, ..., or 'all').",
)
@click.option(
    "--out",
    "destination",
    type=click.Path(path_type=Path),
    help="Write a copy of SOURCE with the nuisances here (new or empty directory); default: "
    "SOURCE itself (refused for a shipped analysis).",
)
@click.option("--epochs", type=int, default=60, show_default=True)
@click.option("--hidden", default="64,64", show_default=True, help="Hidden layer widths.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--overlay",
    is_flag=True,
    help="With --out: write only the nuisances and a manifest naming SOURCE as its base, "
    "not a copy of SOURCE's trained files.",
)
def analysis_nuisances(
    source: str,
    store: Path,
    variations: str,
    destination: Path | None,
    epochs: int,
    hidden: str,
    seed: int,
    overlay: bool,
) -> None:
    """Train the detector shape nuisances of STORE's paired variations into the analysis SOURCE.

    STORE is a reco store simulated with ``madsbi simulate reco --variations`` (nominal SM
    events of the analysis's selection and card, not the data to fit). For every variation a
    paired classifier learns the per-event factors log r(x|±1) on the analysis's features and
    the cut flags give the acceptance factors η(±1); analysis.json gains a "shape" nuisance per
    variation, which ``madsbi fit`` profiles (``--stat-only``, ``--fix NAME=VALUE``).
    """
    from madsbi.analysis.shape_nuisances import add_nuisances
    from madsbi.errors import InputError
    from madsbi.estimators.nuisance_ratio import RatioTraining

    try:
        widths = tuple(int(h) for h in hidden.split(","))
    except ValueError:
        raise InputError(f"--hidden {hidden!r}: expected comma-separated integers") from None
    names = [n.strip() for n in variations.split(",") if n.strip()]
    training = RatioTraining(hidden=widths, epochs=epochs, seed=seed)
    out, entries = add_nuisances(
        source, store, names, destination=destination, training=training, overlay=overlay
    )
    for e in entries:
        t = e["training"]
        shape = "shape learned" if t["learned"] else "shape not resolved (r = 1, η only)"
        click.echo(
            f"{e['name']}: η(+1) = {e['rate_up']:.5f}, η(−1) = {e['rate_down']:.5f}, "
            f"{t['n_train']} training entries, best epoch {t['best_epoch']}, validation gain "
            f"{t['validation_gain']:.2e} ± {t['validation_gain_error']:.1e}: {shape}"
        )
    click.echo(f"→ {out}")
