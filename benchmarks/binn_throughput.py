"""BINN training throughput against a plain affine-coupling INN of the same size (issue 30).

One process, one thread (``torch.set_num_threads(1)``); all rates are per CPU second of this
process (``time.process_time``), so other load on a shared machine inflates them less. At
the paper's Drell-Yan size (bellagente2022 Tab. 2: 20 coupling blocks, subnetworks of 2 × 64,
batch 512) on the shipped Drell-Yan events:

(a) ``plain``: a plain PyTorch 20-block double affine coupling INN written out below (the
    same subnetwork widths, soft clamp and permutations; Adam, no KL, no clipping);
(b) ``binn_step``: madsbi's :func:`~madsbi.generative.binn.train_inn` (ELBO of eq. 16,
    local reparametrisation, KL/N, gradient clipping, Adam, cosine schedule);
(r) ``binn_reference``: the same training step written the straightforward way, as the
    library did before issue 30 (``BayesianLinear.forward`` per layer, the autograd KL of
    ``kl_divergence``, foreach Adam); the same loss, KL and weight noise;
(c) ``binn_run``: ``run_binn_study`` (what ``madsbi binn run`` calls) with
    examples/binn_drell_yan.toml at 20 blocks, ``--run-updates`` updates and a minimal
    evaluation (2 weight draws × 1,000 events, no generated events, no figures), data
    loading, model construction and checkpoint writing included;
(d) the evaluation draws: ``marginal_histograms`` (weight draws × generated events) and
    ``predictive_density`` (weight draws × densities of given events), in events × draws
    per CPU second.

(a), (r) and (b) run in alternating blocks, ``--repeat`` times; each block's rate is divided
by the plain rate of the same round, so the ratios are comparable across machine load.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/binn_throughput.py [--updates 200]
        [--repeat 3] [--run-updates 2000] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import madsbi.generative.coupling as coupling
from madsbi.generative import drell_yan as dy
from madsbi.generative.binn import BINNTraining, build_inn, train_inn
from madsbi.generative.densities import marginal_histograms, predictive_density
from madsbi.generative.inn import INN, INNConfig
from madsbi.nn.bayesian import kl_divergence, set_mode
from madsbi.studies.binn import run_binn_study
from madsbi.studies.binn_config import BINNStudyConfig

from _common import report

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "binn_drell_yan.toml"


# -- (a) the plain INN in 25 lines ------------------------------------------------------------
def subnet(d_in: int, d_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
        nn.Linear(hidden, 2 * d_out),
    )  # fmt: skip


class PlainINN(nn.Module):
    def __init__(self, dim: int, blocks: int, hidden: int, clamp: float = 2.0) -> None:
        super().__init__()
        self.d1, self.clamp = dim // 2, clamp
        d2 = dim - self.d1
        self.nets = nn.ModuleList(
            nn.ModuleList([subnet(self.d1, d2, hidden), subnet(d2, self.d1, hidden)])
            for _ in range(blocks)
        )
        self.perms = [torch.randperm(dim) for _ in range(blocks)]

    def st(self, net: nn.Module, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = net(u).chunk(2, dim=1)
        return self.clamp * torch.tanh(s / self.clamp), t

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        log_det = x.new_zeros(x.shape[0])
        for (net1, net2), perm in zip(reversed(self.nets), reversed(self.perms), strict=True):
            x = x[:, torch.argsort(perm)]
            x1, x2 = x[:, : self.d1], x[:, self.d1 :]
            s1, t1 = self.st(net1, x1)
            z2 = (x2 - t1) * torch.exp(-s1)
            s2, t2 = self.st(net2, z2)
            x = torch.cat([(x1 - t2) * torch.exp(-s2), z2], dim=1)
            log_det = log_det - s1.sum(1) - s2.sum(1)
        return -0.5 * (x * x).sum(1) + log_det


def plain_training(x: torch.Tensor, network: INNConfig, batch: int) -> Callable[[int], None]:
    torch.manual_seed(0)
    model = PlainINN(x.shape[1], network.n_blocks, network.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run(n_updates: int) -> None:
        for _ in range(n_updates):
            index = torch.randint(0, x.shape[0], (batch,))
            loss = -model.log_prob(x[index]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return run


# -- (b) madsbi's training step, (r) the straightforward reference ----------------------------
def binn_training(events: np.ndarray, network: INNConfig, settings: BINNTraining) -> INN:
    model = build_inn(events, network, settings.seed)
    model.float()
    return model


def binn_step(
    events: np.ndarray, network: INNConfig, settings: BINNTraining
) -> Callable[[int], None]:
    model = binn_training(events, network, settings)

    def run(n_updates: int) -> None:
        train_inn(model, events, replace(settings, n_updates=n_updates))

    return run


def binn_reference(
    events: np.ndarray, network: INNConfig, settings: BINNTraining
) -> Callable[[int], None]:
    """The training step of train_inn written plainly: per-layer BayesianLinear, autograd KL."""
    model = binn_training(events, network, settings)
    for m in model.modules():  # every layer through BayesianLinear.forward
        if isinstance(m, coupling.Subnet):
            m._silu_chain = False
    x = torch.as_tensor(events, dtype=torch.float32)
    n = x.shape[0]
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, foreach=True)

    def run(n_updates: int) -> None:
        model.float().train()
        set_mode(model, "local")
        # BayesianLinear.forward itself (the library before issue 30 had no local_reparam)
        saved = getattr(coupling, "local_reparam", None)
        coupling.local_reparam = lambda layer, u: layer(u)
        try:
            for _ in range(n_updates):
                index = torch.randint(0, n, (settings.batch_size,))
                nll = -model.log_prob(x[index]).mean()
                loss = nll + settings.kl_weight * kl_divergence(model) / n
                if not bool(torch.isfinite(loss)):
                    raise RuntimeError("non-finite loss")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
                optimizer.step()
                float(nll.detach())
        finally:
            if saved is not None:
                coupling.local_reparam = saved

    return run


def rate(fn: Callable[[int], None], n_updates: int) -> float:
    start = time.process_time()
    fn(n_updates)
    return n_updates / (time.process_time() - start)


# -- (c) the study path, (d) the evaluation draws ---------------------------------------------
def study_config(blocks: int, n_updates: int) -> BINNStudyConfig:
    config = BINNStudyConfig.from_toml(EXAMPLE)
    return replace(
        config,
        network=replace(config.network, n_blocks=blocks),
        training=replace(config.training, n_updates=n_updates),
        evaluation=replace(config.evaluation, n_draws=2, n_samples=1000, n_generated=0),
    )


def run_rate(config: BINNStudyConfig) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.process_time()
        summary = run_binn_study(config, Path(tmp), progress=False, figures=False)
        seconds = time.process_time() - start
    return {
        "updates_per_cpu_s": config.training.n_updates / seconds,
        "cpu_s": seconds,
        "train_wall_s": summary["training"]["train_seconds"],
    }


def evaluation_rates(model: INN, events: np.ndarray, draws: int, n: int) -> dict[str, float]:
    bins = {
        k: np.quantile(v, np.linspace(0.002, 0.998, 41)) for k, v in dy.observables(events).items()
    }
    model.double().eval()
    start = time.process_time()
    marginal_histograms(model, dy.observables, bins, n_draws=draws, n_samples=n, seed=1)
    sample = time.process_time() - start
    start = time.process_time()
    predictive_density(model, events[:n], n_draws=draws, seed=2)
    density = time.process_time() - start
    return {
        "generate_events_x_draws_per_cpu_s": draws * n / sample,
        "density_events_x_draws_per_cpu_s": draws * n / density,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=200, help="updates per timed block")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--run-updates", type=int, default=2000, help="(c); 0 skips it")
    parser.add_argument("--draws", type=int, default=30)
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--no-reference", action="store_true", help="skip (r)")
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI (seconds)")
    parser.add_argument("--label", default="", help="suffix of the output out/*.json")
    args = parser.parse_args()
    if args.quick:
        args.updates, args.repeat, args.blocks = 5, 1, 2
        args.run_updates, args.draws, args.samples = 10, 2, 1000
    torch.set_num_threads(1)
    events = dy.load_events(dy.shipped_sample())
    base = study_config(args.blocks, args.run_updates or 1)
    network, settings = base.network, base.training
    x = torch.as_tensor((events - events.mean(0)) / events.std(0), dtype=torch.float32)
    runs: dict[str, Callable[[int], None]] = {
        "plain": plain_training(x, network, settings.batch_size),
        "binn_step": binn_step(events, network, settings),
    }
    if not args.no_reference:
        runs["binn_reference"] = binn_reference(events, network, settings)
    for fn in runs.values():  # warm-up
        fn(2)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            rates[name].append(rate(fn, args.updates))
    rows: list[dict[str, Any]] = []
    for name, values in rates.items():
        ratios = [v / p for v, p in zip(values, rates["plain"], strict=True)]
        rows.append(
            {
                "path": name,
                "updates_per_cpu_s": statistics.median(values),
                "all": " ".join(f"{v:.1f}" for v in values),
                "ratio_to_plain": statistics.median(ratios),
                "ratios": " ".join(f"{r:.3f}" for r in ratios),
            }
        )
    extra: dict[str, Any] = {"args": vars(args), "threads": torch.get_num_threads()}
    if args.run_updates:
        plain_before = rate(runs["plain"], args.updates)
        study = run_rate(base)
        plain_after = rate(runs["plain"], args.updates)
        plain_rate = 0.5 * (plain_before + plain_after)
        rows.append(
            {
                "path": f"binn_run ({args.run_updates} updates)",
                "updates_per_cpu_s": study["updates_per_cpu_s"],
                "all": f"plain {plain_before:.1f}/{plain_after:.1f} around it",
                "ratio_to_plain": study["updates_per_cpu_s"] / plain_rate,
                "ratios": f"{study['cpu_s']:.0f} CPU s",
            }
        )
    model = binn_training(events, network, settings)
    extra["evaluation"] = evaluation_rates(model, events, args.draws, args.samples)
    report("binn_throughput" + (f"_{args.label}" if args.label else ""), rows, extra)
    for key, value in extra["evaluation"].items():
        print(f"{key}: {value:,.0f} ({args.draws} draws x {args.samples} events)")


if __name__ == "__main__":
    main()
