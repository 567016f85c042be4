"""Train a MadMiner ratio estimator on given arrays and evaluate log r̂(x|θ, θ0) on a θ grid.

``--model parameterized`` is MadMiner's ``ParameterizedRatioEstimator`` (one network of (x, θ));
``--model morphing`` its ``MorphingAwareRatioEstimator`` (one network per morphing component,
learnable σ ratios; the morphing matrix of the basis θ_n = ``--basis`` is set directly, without
a MadMiner setup file); ``--model quadratic`` its ``QuadraticMorphingAwareRatioEstimator``
(r̂ = ((1 + θA(x))² + (θB(x))²)/((1 + θa)² + (θb)²)). ``--method`` is any of MadMiner's ratio
losses (alices, alice, carl, rolr, ...).

Runs inside a separate virtual environment with ``madminer`` installed (never madsbi's), called
by ``toy_vs_madminer.py``::

    /work/mm-venv/bin/python _madminer_alices.py --train train.npz --test test.npz --out out.json

``train.npz`` holds MadMiner's ``sample_train_ratio`` arrays: ``x`` (n, d), ``theta`` (n, p) the
numerator point of every event, ``y`` (n, 1) with 0 for events drawn from the numerator θ and 1
for events drawn from the reference θ0, ``r_xz`` (n, 1) = p(z|θ)/p(z|θ0) and ``t_xz`` (n, p) =
∇_θ log p(z|θ) at the numerator θ. ``test.npz`` holds ``x_test`` (m, d) and ``theta_grid`` (g, p).
``test.npz`` may also hold ``x_val`` (a validation sample at the test θ, for choosing settings).
The output JSON has the mean of log r̂ over the test (and validation) events per grid point, the
training and evaluation wall times and the loss history. Evaluation calls the trained torch
model on whole tensors (MadMiner's ``evaluate_log_likelihood_ratio`` builds its inputs row by
row in Python, 100-170 s for 10⁵ events × 61 θ here); the transforms are MadMiner's own.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import time

import numpy as np
import torch
from madminer.ml import (
    MorphingAwareRatioEstimator,
    ParameterizedRatioEstimator,
    QuadraticMorphingAwareRatioEstimator,
)


def mean_log_r(
    estimator: ParameterizedRatioEstimator, x: np.ndarray, grid: np.ndarray
) -> list[float]:
    """Mean over ``x`` of MadMiner's log r̂(x|θ, θ0) for every θ of ``grid`` (g, p)."""
    model = estimator.model
    model.eval()
    dtype = next(model.parameters()).dtype
    xt = torch.as_tensor(estimator._transform_inputs(x), dtype=dtype)
    means = []
    for theta in grid:
        th = estimator._transform_parameters(np.repeat(theta[None, :], x.shape[0], axis=0))
        with torch.no_grad():
            _, log_r, _ = model(torch.as_tensor(th, dtype=dtype), xt, track_score=False)
        means.append(float(log_r.double().mean()))
    return means


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
    parser.add_argument(
        "--model", choices=("parameterized", "morphing", "quadratic"), default="parameterized"
    )
    parser.add_argument("--method", default="alices")
    parser.add_argument("--basis", default="-1,0,1", help="morphing basis (--model morphing)")
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
    if args.model == "parameterized":
        estimator = ParameterizedRatioEstimator(n_hidden=hidden, activation=args.activation)
    elif args.model == "quadratic":
        estimator = QuadraticMorphingAwareRatioEstimator(
            n_hidden=hidden, activation=args.activation
        )
    else:
        estimator = MorphingAwareRatioEstimator(n_hidden=hidden, activation=args.activation)
        points = np.array([float(b) for b in args.basis.split(",")])
        estimator.components = np.arange(points.shape[0])[:, None]  # powers θ^0, θ^1, θ^2
        # weights w_n(θ) = Σ_c M[c, n] θ^c reproduce θ^c at the basis points: M = P^-1
        estimator.morphing_matrix = np.linalg.inv(points[:, None] ** estimator.components[:, 0])

    t0 = time.perf_counter()
    losses = estimator.train(
        method=args.method,
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
    # The morphing-aware estimators' train() drops the loss history (returns None in 0.9.6).
    losses_train, losses_val = losses if losses is not None else ([], [])

    t0 = time.perf_counter()
    grid = np.asarray(test["theta_grid"], dtype=float)
    mean_test = mean_log_r(estimator, test["x_test"], grid)
    mean_val = mean_log_r(estimator, test["x_val"], grid) if "x_val" in test else None
    at_reference = mean_log_r(estimator, test["x_test"], np.zeros((1, grid.shape[1])))[0]
    eval_seconds = time.perf_counter() - t0

    result = {
        "mean_log_r_hat": mean_test,
        "mean_log_r_hat_val": mean_val,
        "mean_log_r_hat_at_theta0": at_reference,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "epochs_run": len(losses_train) or args.epochs,
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
