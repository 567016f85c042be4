"""``madsbi analysis-backgrounds``: background components attached to a trained reco analysis."""

from __future__ import annotations

from pathlib import Path

import click


def _split(text: str, option: str) -> tuple[str, list[str]]:
    from madsbi.errors import InputError

    name, sep, stores = text.partition("=")
    paths = [s.strip() for s in stores.split(",") if s.strip()]
    if not sep or not name.strip() or not paths:
        raise InputError(f"{option} {text!r}: expected NAME=STORE[,STORE...]")
    return name.strip(), paths


@click.command("analysis-backgrounds")
@click.argument("source")
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--background",
    "backgrounds",
    multiple=True,
    required=True,
    help="NAME=STORE[,STORE...]: the reco stores of a background process (repeatable), e.g. "
    "zz_4l=zz_sm.h5,zz_bsm.h5 (pooled by MIS) or zjets=zjets.h5 (θ-independent).",
)
@click.option(
    "--signal",
    "signal",
    required=True,
    help="Comma-separated signal reco stores for the process classifier (not the data to fit).",
)
@click.option(
    "--scale",
    "scales",
    multiple=True,
    help="NAME=FACTOR: the background's cross-section factor at the fit (default 1; 0 "
    "switches it off); repeatable.",
)
@click.option("--classifier-epochs", type=int, default=40, show_default=True)
@click.option("--ratio-epochs", type=int, default=60, show_default=True)
@click.option("--hidden", default="64,64", show_default=True, help="Hidden layer widths.")
@click.option("--members", type=int, default=2, show_default=True, help="Ensemble members.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--card", help="Detector card to record (default: the stores' card).")
@click.option(
    "--pooled",
    is_flag=True,
    help="Also train the pooled alternative: one derivative-learning ensemble on the events of "
    "every process (each with its own exact targets and cross-section weight), fitted by "
    "madsbi fit --method pooled.",
)
@click.option(
    "--pooled-epochs",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="Maximum epochs of the pooled ensemble (early stopping on a validation split).",
)
@click.option(
    "--pooled-hidden",
    default=None,
    help="Hidden layer widths of the pooled ensemble (default: --hidden).",
)
@click.option(
    "--pooled-signal",
    default=None,
    help="Comma-separated signal reco stores of the pooled ensemble (default: --signal), e.g. "
    "the analysis's training stores: the pooled network replaces the signal's own.",
)
@click.option(
    "--pooled-target-scale",
    default="auto",
    show_default=True,
    help="Feature whose smooth function scales the pooled ensemble's targets (issue 25); auto: "
    "the one the analysis's signal network uses (m_T^WZ for the reco analyses), none: unscaled.",
)
@click.option(
    "--overlay",
    is_flag=True,
    help="Write only the components and a manifest naming SOURCE as its base (a few MB "
    "instead of a copy of SOURCE's trained files); OUT then needs SOURCE where it was.",
)
def analysis_backgrounds(
    source: str,
    out: Path,
    backgrounds: tuple[str, ...],
    signal: str,
    scales: tuple[str, ...],
    classifier_epochs: int,
    ratio_epochs: int,
    hidden: str,
    members: int,
    seed: int,
    card: str | None,
    overlay: bool,
    pooled: bool,
    pooled_epochs: int,
    pooled_hidden: str | None,
    pooled_signal: str | None,
    pooled_target_scale: str,
) -> None:
    """Copy the reco analysis SOURCE to OUT with background components (factorised mixture).

    A process classifier over the signal and every background is trained at θ0 on the
    analysis's features, each event weighted by its cross-section (its shares D_c(x)); every
    θ-dependent background (coefficients of the analysis's parameters; embed a store of fewer
    with ``madsbi store embed``) gets its own derivative-learning ratio, a θ-independent one
    none. ``madsbi fit OUT DATA`` then fits the mixture and lists every process's expected
    yield at the best fit and at the SM in fit.json. With --pooled, one more ensemble learns
    the whole mixture's ratio from the events of every process (``--method pooled``).
    """
    from madsbi.analysis.backgrounds import BackgroundTraining, add_backgrounds
    from madsbi.errors import InputError

    try:
        widths = tuple(int(h) for h in hidden.split(","))
        factors = {k: float(v) for k, v in (_scale(s) for s in scales)}
    except ValueError as exc:
        raise InputError(f"--hidden {hidden!r} or --scale {list(scales)}: {exc}") from None
    try:
        pooled_widths = (
            None if pooled_hidden is None else tuple(int(h) for h in pooled_hidden.split(","))
        )
    except ValueError as exc:
        raise InputError(f"--pooled-hidden {pooled_hidden!r}: {exc}") from None
    named: dict[str, list[str]] = {}
    for text in backgrounds:
        name, paths = _split(text, "--background")
        if name in named:
            raise InputError(f"--background {name!r}: given twice")
        named[name] = paths
    stores = [s.strip() for s in signal.split(",") if s.strip()]
    settings = BackgroundTraining(
        hidden=widths,
        members=members,
        classifier_epochs=classifier_epochs,
        ratio_epochs=ratio_epochs,
        pooled_epochs=pooled_epochs,
        pooled_hidden=pooled_widths,
        pooled_target_scale=pooled_target_scale,
        seed=seed,
    )
    path, entry = add_backgrounds(
        source,
        out,
        named,
        stores,
        training=settings,
        scales=factors,
        card=card,
        overlay=overlay,
        pooled=pooled,
        pooled_signal=[s.strip() for s in (pooled_signal or "").split(",") if s.strip()],
    )
    s = entry["signal"]
    click.echo(f"signal: {s['n_events']} events, ν0 = {s['expected_events0']:.4g}")
    for b in entry["backgrounds"]:
        kind = "θ-dependent" if b["theta_dependent"] else "θ-independent"
        click.echo(
            f"{b['name']}: {b['n_events']} events, ν0 = {b['expected_events0']:.4g} ({kind})"
        )
    if "pooled" in entry:
        trained = entry["pooled"]["training"]
        click.echo(
            f"pooled: {sum(entry['pooled']['n_events'].values())} events, "
            f"{trained['seconds']:.0f} s, best epochs {trained['best_epoch']}"
        )
    click.echo(f"→ {path}")


def _scale(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"{text!r} is not NAME=FACTOR")
    return name.strip(), value
