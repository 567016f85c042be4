"""Train MadMiner's ALICES on given arrays and evaluate log r̂(x|θ, θ0) on a θ grid.

Runs inside a separate virtual environment with ``madminer`` installed (never madsbi's), called
by ``toy_vs_madminer.py``::

    /work/mm-venv/bin/python _madminer_alices.py --train train.npz --test test.npz --out out.json

``train.npz`` holds MadMiner's ``sample_train_ratio`` arrays: ``x`` (n, d), ``theta`` (n, p) the
numerator point of every event, ``y`` (n, 1) with 0 for events drawn from the numerator θ and 1
for events drawn from the reference θ0, ``r_xz`` (n, 1) = p(z|θ)/p(z|θ0) and ``t_xz`` (n, p) =
∇_θ log p(z|θ) at the numerator θ. ``test.npz`` holds ``x_test`` (m, d) and ``theta_grid`` (g, p).
The output JSON has the mean of log r̂ over the test events per grid point, the training and
evaluation wall times and the loss history.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import time

import numpy as np
import torch
from madminer.ml import ParameterizedRatioEstimator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--hidden", default="64,64,64")
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--final-lr", type=float, default=1e-4)
    parser.add_argument("--validation-split", type=float, default=0.2)
    parser.add_argument("--score-weight", type=float, default=1.0)
    parser.add_argument("--optimizer", default="amsgrad")
    parser.add_argument("--n-workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", default="all")
    args = parser.parse_args()

    logging.basicConfig(
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", level=logging.INFO
    )
    torch.set_num_threads(args.threads)
    # MadMiner draws its validation split with np.random and initialises torch's weights.
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    train = np.load(args.train)
    test = np.load(args.test)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    estimator = ParameterizedRatioEstimator(n_hidden=hidden, activation=args.activation)

    t0 = time.perf_counter()
    losses_train, losses_val = estimator.train(
        method="alices",
        x=train["x"],
        y=train["y"],
        theta=train["theta"],
        r_xz=train["r_xz"],
        t_xz=train["t_xz"],
        alpha=args.score_weight,
        optimizer=args.optimizer,
        n_epochs=args.epochs,
        batch_size=args.batch_size,
        initial_lr=args.lr,
        final_lr=args.final_lr,
        validation_split=args.validation_split,
        early_stopping=True,
        n_workers=args.n_workers,
        verbose=args.verbose,
    )
    train_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    log_r_hat, _ = estimator.evaluate_log_likelihood_ratio(
        x=test["x_test"], theta=test["theta_grid"], test_all_combinations=True
    )
    eval_seconds = time.perf_counter() - t0
    log_r_hat = np.asarray(log_r_hat)  # (n_grid, n_test)

    result = {
        "mean_log_r_hat": log_r_hat.mean(axis=1).tolist(),
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "epochs_run": len(losses_train),
        "loss_train": np.asarray(losses_train).tolist(),
        "loss_val": np.asarray(losses_val).tolist(),
        "n_train_events": int(train["x"].shape[0]),
        "n_test_events": int(test["x_test"].shape[0]),
        "torch": torch.__version__,
        "madminer": importlib.metadata.version("madminer"),
        "settings": vars(args),
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
