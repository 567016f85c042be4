"""``madsbi analysis-nuisances``: detector and theory shape nuisances of a reco analysis."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("analysis-nuisances")
@click.argument("source")
@click.argument("stores", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--variations",
    help="Comma-separated detector variations of STORE (lep_scale_e, ..., or 'all').",
)
@click.option(
    "--theory",
    help="Comma-separated theory-scale nuisances (mu_f) learned by regression on STORE's "
    "exact per-event factors (/parton/theory_variations of a nominal store).",
)
@click.option(
    "--normalisation",
    "normalisations",
    multiple=True,
    help="NAME=SIZE[:COMPONENT+COMPONENT]: declare a log-normal normalisation of relative size "
    "SIZE on the named components (default all), e.g. lumi=0.02, xsec_zz_4l=0.1:zz_4l "
    "(repeatable; needs no STORE).",
)
@click.option(
    "--out",
    "destination",
    type=click.Path(path_type=Path),
    help="Write a copy of SOURCE with the nuisances here (new or empty directory); default: "
    "SOURCE itself (refused for a shipped analysis).",
)
@click.option("--epochs", type=int, help="Training epochs [default: 60; --theory: 300].")
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
    stores: tuple[Path, ...],
    variations: str | None,
    theory: str | None,
    normalisations: tuple[str, ...],
    destination: Path | None,
    epochs: int | None,
    hidden: str,
    seed: int,
    overlay: bool,
) -> None:
    """Train the detector shape nuisances of STORES' paired variations into the analysis SOURCE.

    STORE is a reco store simulated with ``madsbi simulate reco --variations`` (nominal SM
    events of the analysis's selection and card, not the data to fit); several stores (W⁺Z and
    W⁻Z pairs) are joined at their fiducial cross-sections. For every variation a
    paired classifier learns the per-event factors log r(x|±1) on the analysis's features and
    the cut flags give the acceptance factors η(±1); analysis.json gains a "shape" nuisance per
    variation, which ``madsbi fit`` profiles (``--stat-only``, ``--fix NAME=VALUE``).

    With ``--theory mu_f`` instead, STORE is a nominal reco store whose parents carry their
    theory factors (``madsbi store convert`` of a ``use_syst = True`` run): the parents'
    factors r = w(μ_F × 2)/w and w(μ_F × ½)/w are regressed on the features (their
    conditional mean is η(±1) r(x|±1)), η(±1) are exact, and the nuisance enters the fit
    like a detector shape. At LO for W±Z μ_R has no effect (no α_s); the LO μ_F band
    understates the scale uncertainty (add the NLO K-factor's as ``xsec_<process>``).

    ``--normalisation`` declares log-normal normalisations (``lumi``, ``xsec_<process>``) with
    or without trained shapes in the same call.
    """
    from dataclasses import replace

    from madsbi.analysis.shape_nuisances import (
        add_normalisations,
        add_nuisances,
        add_theory_nuisances,
        parse_normalisation,
    )
    from madsbi.errors import InputError
    from madsbi.estimators.nuisance_ratio import RatioTraining
    from madsbi.estimators.theory_ratio import THEORY_TRAINING

    try:
        widths = tuple(int(h) for h in hidden.split(","))
    except ValueError:
        raise InputError(f"--hidden {hidden!r}: expected comma-separated integers") from None
    declared = [parse_normalisation(text) for text in normalisations]
    if variations is not None and theory is not None:
        raise InputError("name the shape nuisances with one of --variations and --theory")
    if variations is None and theory is None:
        if not declared:
            raise InputError("name the nuisances: --variations, --theory or --normalisation")
        out = add_normalisations(source, declared, destination=destination, overlay=overlay)
        for e in declared:
            on = ", ".join(e.get("components", [])) or "every component"
            click.echo(f"{e['name']}: normalisation ± {100 * e['size']:g} % on {on}")
        click.echo(f"→ {out}")
        return
    if not stores:
        raise InputError("STORE: --variations and --theory train on a reco store; name it")
    if theory is not None and len(stores) > 1:
        raise InputError(f"--theory trains on one nominal store, got {len(stores)}")
    names = [n.strip() for n in (variations or theory or "").split(",") if n.strip()]
    base = RatioTraining() if theory is None else THEORY_TRAINING
    training = replace(
        base, hidden=widths, seed=seed, epochs=base.epochs if epochs is None else epochs
    )
    if theory is None:
        out, entries = add_nuisances(
            source, stores, names, destination=destination, training=training, overlay=overlay
        )
    else:
        out, entries = add_theory_nuisances(
            source, stores[0], names, destination=destination, training=training,
            overlay=overlay,
        )  # fmt: skip
    if declared:
        add_normalisations(out, declared)
    for e in [*entries, *declared]:
        if e["kind"] == "normalisation":
            click.echo(f"{e['name']}: normalisation ± {100 * e['size']:g} %")
            continue
        t = e["training"]
        shape = "shape learned" if t["learned"] else "shape not resolved (r = 1, η only)"
        click.echo(
            f"{e['name']}: η(+1) = {e['rate_up']:.5f}, η(−1) = {e['rate_down']:.5f}, "
            f"{t['n_train']} training entries, best epoch {t['best_epoch']}, validation gain "
            f"{t['validation_gain']:.2e} ± {t['validation_gain_error']:.1e}: {shape}"
        )
    click.echo(f"→ {out}")
