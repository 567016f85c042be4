"""Training throughput of the L-GATr network kind on the W±Z reco layout (issue 13).

Events per second of full training steps (forward, loss, repulsion, backward, Adam) on one
CPU thread, batch 256: the slim and the full L-GATr at the default sizes (LGATrConfig()) and
at the smallest test sizes and, for scale, the repulsive MLP ensemble. The L-GATr
networks are joint (9 outputs: R_i and R_ij for 3 parameters from the global token); the
MLP estimator trains one network per target, so its row is per network (×9 for all). Inputs
are random rows in the layout of madsbi.processes.wz.OBSERVABLES (throughput does not depend
on the values). Wall and CPU time of this process are both reported: on a shared machine
the CPU time is the fairer measure.

``--learn`` also trains each L-GATr size (M = 1) on a synthetic invariant target, the
standardised log of the Minkowski product p_0·p_1 of two tokens (2048 events, 6 epochs,
batch 64, lr 3e-3), and prints the validation MSE per epoch (1.0 = predicting the mean).

    OMP_NUM_THREADS=1 python benchmarks/lgatr_throughput.py [--steps 10] [--learn]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from typing import Any

import numpy as np
import torch

from madsbi.estimators import TrainingConfig, fit
from madsbi.nn import NetworkConfig, build_network
from madsbi.nn.lgatr import LGATrEnsemble
from madsbi.nn.lgatr_config import LGATrConfig
from madsbi.processes.wz import OBSERVABLES

from _common import interleaved, machine, report, summary

SMALL = {"blocks": 1, "vector_channels": 4, "scalar_channels": 8, "heads": 2}
LGATR = {
    "slim_default": {},
    "slim_small": SMALL,
    "full_small": {**SMALL, "variant": "full", "beam_reference": "xyplane"},
    "full_default": {"variant": "full", "beam_reference": "xyplane"},
}


def throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    n_in = len(OBSERVABLES)
    configs: dict[str, tuple[NetworkConfig, int]] = {}
    for name, sizes in LGATR.items():
        for m in (1, args.members):
            lg = LGATrConfig(**sizes)  # type: ignore[arg-type]
            configs[f"lgatr_{name}_M{m}"] = (NetworkConfig(kind="lgatr", members=m, lgatr=lg), 9)
    configs[f"mlp_ensemble_M{args.members}"] = (
        NetworkConfig(kind="ensemble", members=args.members),
        1,
    )
    steps, params = {}, {}
    for name, (config, n_out) in configs.items():
        net = build_network(config, n_in, n_out)
        params[name] = sum(p.numel() for p in net.parameters())
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        x, target = torch.randn(args.batch, n_in), torch.randn(args.batch, n_out)

        def step(
            net: torch.nn.Module = net,
            optimizer: torch.optim.Optimizer = optimizer,
            x: torch.Tensor = x,
            target: torch.Tensor = target,
        ) -> None:
            predictions = net(x)
            loss = ((predictions - target) ** 2).mean(dim=(1, 2)).sum()
            loss = loss + net.regulariser(predictions, 100_000)  # type: ignore[operator]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        steps[name] = step
    cpu: dict[str, list[float]] = {name: [] for name in steps}

    def cpu_timed(name: str) -> None:
        t0 = time.process_time()
        steps[name]()
        cpu[name].append(time.process_time() - t0)

    timed = {name: functools.partial(cpu_timed, name) for name in steps}
    times = interleaved(timed, repeat=args.steps, rounds=1, warmup=2)
    rows = []
    for name, t in times.items():
        cpu_median = statistics.median(cpu[name][2:])
        rows.append(
            {
                "network": name,
                "outputs": configs[name][1],
                "parameters": params[name],
                "step_wall_s": summary(t)["median_s"],
                "step_cpu_s": cpu_median,
                "events_per_s_wall": args.batch / summary(t)["median_s"],
                "events_per_s_cpu": args.batch / cpu_median,
            }
        )
    return rows


def learning() -> dict[str, list[float]]:
    rng = np.random.default_rng(6)
    n = 2048
    p = rng.normal(scale=50.0, size=(n, 4, 3))
    mass = rng.uniform(0.1, 20.0, size=(n, 4, 1))
    momenta = np.concatenate([np.sqrt((p**2).sum(-1, keepdims=True) + mass**2), p], -1) / 50
    x = torch.as_tensor(np.concatenate([momenta.reshape(n, 16), rng.normal(size=(n, 7))], 1))
    x = x.to(torch.float32)
    a, b = x[:, 0:4], x[:, 4:8]
    t = torch.log(a[:, 0] * b[:, 0] - (a[:, 1:] * b[:, 1:]).sum(1))
    target = ((t - t.mean()) / t.std()).unsqueeze(1)
    layout = {
        "layout": "explicit",
        "momenta": tuple(tuple(range(4 * k, 4 * k + 4)) for k in range(4)),
        "token_scalars": tuple((16 + k,) for k in range(4)),
    }
    curves = {}
    for name, sizes in LGATR.items():
        torch.manual_seed(6)
        config = LGATrConfig(**{**sizes, **layout})  # type: ignore[arg-type]
        net = LGATrEnsemble(config, x.shape[1], 1, 1)

        def loss(pred: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return ((pred - batch["target"].unsqueeze(0)) ** 2).mean(dim=(1, 2))

        training = TrainingConfig(
            epochs=6, batch_size=64, learning_rate=3e-3, patience=0, device="cpu"
        )
        history = fit(net, loss, {"x": x, "target": target}, training, progress=False)
        curves[name] = [round(v, 3) for v in history.validation_loss]
        print(f"learn {name}: validation MSE per epoch {curves[name]}", flush=True)
    return curves


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--learn", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    curves = learning() if args.learn else {}
    rows = throughput(args)
    report(
        "lgatr_throughput",
        rows,
        {"machine": machine(), "args": vars(args), "learning_curves": curves},
    )


if __name__ == "__main__":
    main()
