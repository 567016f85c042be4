"""MadMiner on the two-Gaussian toy (paper Sec. 3), scored against the exact ratio.

python benchmarks/toy_vs_madminer.py [--alpha 3] [--n-train 300000] [--epochs 40]
    [--prior gauss|uniform] [--model parameterized|morphing|quadratic] [--method alices]
    [--madsbi-single alice|alices|carl|mse] [--madminer-python /work/mm-venv/bin/python]
    [--ours path/to/summary.json]

MadMiner lives in its own virtual environment (it is no dependency of madsbi); this script
makes the data with madsbi's ToyModel, hands it to ``_madminer_alices.py`` in that environment
and compares MadMiner's mean log r̂(x|θ, θ0 = 0) over test events drawn at θ = 0.6 with the
analytic mean log r on a θ grid. Training data as MadMiner's ``sample_train_ratio`` makes it:
half of the events drawn at a numerator θ from the prior (y = 0), half at the reference θ0 = 0
(y = 1, each paired with its own θ from the prior), with the joint ratio r(z|θ, θ0) and the joint
score t(z|θ) = ∂_θ log p(z|θ) from the parton-level density. The prior is N(0, 1)
(``--prior gauss``, MadMiner's usual choice) or uniform over [−1.5, 1.5] (``--prior uniform``,
the test range). A separate validation sample at θ = 0.6 (``--n-val`` events, own seed) gives
``val_rms_error``, the number settings are chosen by; the test sample is never used for that.

``--madsbi-single LOSS`` trains madsbi's jointly trained single-network morphing baseline
(:class:`madsbi.estimators.single_network.SingleNetworkMorphingEstimator`) on the *same*
arrays (x, θ, y, r, t) and scores it the same way (``--no-madminer`` skips MadMiner).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from madsbi.simulate.toy import BSM_WIDTH, SM_WIDTH, ToyModel

from _common import report

HERE = Path(__file__).parent
THETA0 = 0.0


def joint_ratio_and_score(
    model: ToyModel, z: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """r(z|θ, θ0) = p(z|θ)/p(z|θ0) and t(z|θ) = ∂_θ log p(z|θ), one θ per event.

    From the joint coefficients: dσ(z|θ) = c0 + c1 Δ + c2 Δ² with Δ = θ − θ0, σ(θ) = 1 + θ²,
    p(z|θ) = dσ(z|θ)/σ(θ), so ∂_θ log p = (c1 + 2 c2 Δ)/dσ − 2θ/(1 + θ²).
    """
    c = model.parton_coefficients(z, THETA0)
    delta = theta - THETA0
    dsigma = c[:, 0] + c[:, 1] * delta + c[:, 2] * delta**2
    p_theta = dsigma / ToyModel.cross_section(theta)
    p_theta0 = c[:, 0] / ToyModel.cross_section(THETA0)
    score = (c[:, 1] + 2.0 * c[:, 2] * delta) / dsigma - 2.0 * theta / (1.0 + theta**2)
    return p_theta / p_theta0, score


def check_joint_terms(
    model: ToyModel, z: np.ndarray, theta: np.ndarray, r: np.ndarray, t: np.ndarray
) -> dict[str, float]:
    """Compare r with ToyModel.parton_density and t with a central finite difference."""
    h = 1e-5
    r_ref = np.array(
        [
            model.parton_density(zi, ti) / model.parton_density(zi, THETA0)
            for zi, ti in zip(z, theta, strict=True)
        ]
    )
    t_ref = np.array(
        [
            (np.log(model.parton_density(zi, ti + h)) - np.log(model.parton_density(zi, ti - h)))
            / (2 * h)
            for zi, ti in zip(z, theta, strict=True)
        ]
    )
    r_dev = float(np.max(np.abs(r / r_ref - 1.0)))
    t_dev = float(np.max(np.abs(t - t_ref) / (1.0 + np.abs(t_ref))))
    if r_dev > 1e-10 or t_dev > 1e-6:
        raise SystemExit(f"joint ratio/score check failed: r {r_dev:.3g}, t {t_dev:.3g}")
    return {"r_xz_max_rel_dev": r_dev, "t_xz_max_finite_difference_dev": t_dev}


PRIOR_RANGE = (-1.5, 1.5)


def draw_prior(prior: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """θ from N(0, 1) (``gauss``) or uniform over [−1.5, 1.5] (``uniform``)."""
    if prior == "gauss":
        return rng.standard_normal(n)
    if prior == "uniform":
        return rng.uniform(*PRIOR_RANGE, size=n)
    raise SystemExit(f"--prior: expected gauss or uniform, got {prior!r}")


def sample_parton_per_event(
    alpha: float, theta: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One z from p(z|θ_e) = [N(0, 1) + θ_e² N(α, 0.1)]/(1 + θ_e²) for every θ_e (vectorised)."""
    bsm = rng.random(theta.shape[0]) < theta**2 / (1.0 + theta**2)
    g = rng.standard_normal(theta.shape[0])
    return np.where(bsm, alpha + BSM_WIDTH * g, SM_WIDTH * g)


def training_data(
    model: ToyModel, n_train: int, rng: np.random.Generator, prior: str = "gauss"
) -> dict[str, np.ndarray]:
    """MadMiner's ``sample_train_ratio`` arrays for the θ prior ``prior``, shuffled."""
    n_num = n_train // 2
    n_den = n_train - n_num
    theta_num = draw_prior(prior, n_num, rng)
    z_num = sample_parton_per_event(model.alpha, theta_num, rng)
    z_den = model.sample_parton(n_den, THETA0, rng)
    theta_den = draw_prior(prior, n_den, rng)
    z = np.concatenate([z_num, z_den])
    theta = np.concatenate([theta_num, theta_den])
    y = np.concatenate([np.zeros(n_num), np.ones(n_den)])
    x = model.smear(z, rng)
    r_xz, t_xz = joint_ratio_and_score(model, z, theta)
    order = rng.permutation(n_train)
    return {
        "z": z[order],
        "x": x[order, None],
        "theta": theta[order, None],
        "y": y[order, None],
        "r_xz": r_xz[order, None],
        "t_xz": t_xz[order, None],
    }


def read_ours(path: Path) -> list[dict[str, Any]]:
    """Rows for madsbi's methods from a study summary.json ({"methods": {name: {...}}})."""
    keys = ("rms_error", "max_abs_error", "train_seconds")
    try:
        methods = json.loads(path.read_text())["methods"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"--ours {path}: cannot read a 'methods' table ({exc!r}); showing MadMiner only")
        return []
    if not isinstance(methods, dict):
        print(f"--ours {path}: 'methods' is not a table of methods; showing MadMiner only")
        return []
    rows = []
    for name, entry in methods.items():
        try:
            row = {k: float(entry[k]) for k in keys}
        except (KeyError, TypeError, ValueError) as exc:
            print(f"--ours {path}: method {name!r}: no numeric {'/'.join(keys)} ({exc!r}); skipped")
            continue
        rows.append(
            {
                "method": f"madsbi {name}",
                "rms_error": row["rms_error"],
                "relative_rms_error": float(entry.get("relative_rms_error", math.nan)),
                "val_rms_error": math.nan,
                "max_abs_error": row["max_abs_error"],
                "mean_log_r_at_theta0": math.nan,
                "train_s": row["train_seconds"],
                "epochs": entry.get("epochs", ""),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alpha", type=float, default=3.0)
    parser.add_argument("--n-train", type=int, default=300_000, help="simulated events in all")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", default="64,64,64")
    parser.add_argument("--activation", default="tanh", help="MadMiner's names; it has no silu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--final-lr", type=float, default=1e-4)
    parser.add_argument("--validation-split", type=float, default=0.2)
    parser.add_argument("--score-weight", type=float, default=1.0, help="ALICES alpha")
    parser.add_argument("--prior", choices=("gauss", "uniform"), default="gauss")
    parser.add_argument(
        "--model", choices=("parameterized", "morphing", "quadratic"), default="parameterized"
    )
    parser.add_argument("--method", default="alices", help="MadMiner's loss")
    parser.add_argument("--no-madminer", action="store_true", help="skip MadMiner")
    parser.add_argument(
        "--madsbi-single",
        choices=("alice", "alices", "carl", "mse"),
        help="also train madsbi's single-network morphing baseline on the same arrays",
    )
    parser.add_argument("--madsbi-members", type=int, default=1, help="1: plain MLP")
    parser.add_argument("--n-val", type=int, default=20_000, help="validation events at θ_test")
    parser.add_argument("--n-test", type=int, default=100_000)
    parser.add_argument("--theta-test", type=float, default=0.6)
    parser.add_argument(
        "--grid", type=float, nargs=3, default=[-1.5, 1.5, 61], metavar=("LO", "HI", "N")
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in MadMiner")
    parser.add_argument("--n-workers", type=int, default=0, help="MadMiner DataLoader workers")
    parser.add_argument("--madminer-python", default="/work/mm-venv/bin/python")
    parser.add_argument("--ours", type=Path, help="a madsbi study summary.json to compare")
    parser.add_argument("--name", help="output name (default toy_vs_madminer_alpha<alpha>)")
    args = parser.parse_args()

    model = ToyModel(args.alpha)
    train_seq, test_seq, mm_seq, val_seq = np.random.SeedSequence(args.seed).spawn(4)
    rng = np.random.default_rng(train_seq)
    t0 = time.perf_counter()
    data = training_data(model, args.n_train, rng, args.prior)
    generate_s = time.perf_counter() - t0
    sub = rng.choice(args.n_train, size=500, replace=False)
    checks = check_joint_terms(
        model, data["z"][sub], data["theta"][sub, 0], data["r_xz"][sub, 0], data["t_xz"][sub, 0]
    )

    test_rng = np.random.default_rng(test_seq)
    x_test = model.smear(model.sample_parton(args.n_test, args.theta_test, test_rng), test_rng)
    lo, hi, n_grid = args.grid
    grid = np.linspace(lo, hi, int(n_grid))
    analytic = np.array([model.log_likelihood_ratio(x_test, t, THETA0).mean() for t in grid])
    val_rng = np.random.default_rng(val_seq)
    x_val = model.smear(model.sample_parton(args.n_val, args.theta_test, val_rng), val_rng)
    analytic_val = np.array([model.log_likelihood_ratio(x_val, t, THETA0).mean() for t in grid])

    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if not args.no_madminer:
        mm_row, extra = run_madminer(
            args, data, x_test, x_val, grid, analytic, analytic_val, mm_seq
        )
        rows.append(mm_row)
    if args.madsbi_single is not None:
        row, curves = run_madsbi_single(args, data, x_test, x_val, grid, analytic, analytic_val)
        rows.append(row)
        extra.update(curves)
    if args.ours is not None:
        rows += read_ours(args.ours)
    analytic_range = float(analytic.max() - analytic.min())
    print(
        f"alpha = {args.alpha:g}: analytic mean log r over the grid spans {analytic_range:.4g} "
        f"(max at θ = {grid[np.argmax(analytic)]:.3g})"
    )
    name = args.name or f"toy_vs_madminer_alpha{args.alpha:g}"
    report(
        name,
        rows,
        {
            "alpha": args.alpha,
            "theta0": THETA0,
            "theta_prior": f"{args.prior} (gauss: N(0, 1); uniform: U{PRIOR_RANGE}), every event",
            "n_train_events": args.n_train,
            "n_numerator_events": int(np.sum(data["y"] == 0)),
            "n_reference_events": int(np.sum(data["y"] == 1)),
            "n_test_events": args.n_test,
            "n_val_events": args.n_val,
            "theta_test": args.theta_test,
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "python_project": sys.version.split()[0],
            "joint_term_checks": checks,
            "generate_seconds": generate_s,
            "analytic_range": analytic_range,
            "theta_grid": grid.tolist(),
            "analytic_mean_log_r": analytic.tolist(),
            "analytic_mean_log_r_val": analytic_val.tolist(),
            **extra,
            "note": "shared 2-core machine, other engineers training at the same time: "
            "timings are noisy",
        },
    )
    if rows and not all(math.isfinite(r["rms_error"]) for r in rows[:2]):
        raise SystemExit("a learned curve is not finite")


def _scores(curve: np.ndarray, analytic: np.ndarray) -> tuple[float, float]:
    diff = curve - analytic
    return float(np.sqrt(np.mean(diff**2))), float(np.max(np.abs(diff)))


def run_madminer(
    args: argparse.Namespace,
    data: dict[str, np.ndarray],
    x_test: np.ndarray,
    x_val: np.ndarray,
    grid: np.ndarray,
    analytic: np.ndarray,
    analytic_val: np.ndarray,
    mm_seq: np.random.SeedSequence,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train MadMiner in its own environment on ``data``; its row and its curves."""
    with tempfile.TemporaryDirectory() as tmp:
        train_path, test_path, out_path = (Path(tmp) / n for n in ("tr.npz", "te.npz", "o.json"))
        np.savez(train_path, **{k: v for k, v in data.items() if k != "z"})
        np.savez(test_path, x_test=x_test[:, None], x_val=x_val[:, None], theta_grid=grid[:, None])
        command = [
            args.madminer_python,
            str(HERE / "_madminer_alices.py"),
            *("--train", str(train_path), "--test", str(test_path), "--out", str(out_path)),
            *("--hidden", args.hidden, "--activation", args.activation),
            *("--epochs", str(args.epochs), "--batch-size", str(args.batch_size)),
            *("--lr", str(args.lr), "--final-lr", str(args.final_lr)),
            *("--validation-split", str(args.validation_split)),
            *("--score-weight", str(args.score_weight)),
            *("--model", args.model, "--method", args.method),
            *("--n-workers", str(args.n_workers), "--threads", str(args.threads)),
            *("--seed", str(int(mm_seq.generate_state(1)[0] % 2**31))),
        ]
        t0 = time.perf_counter()
        subprocess.run(command, check=True)
        subprocess_s = time.perf_counter() - t0
        mm = json.loads(out_path.read_text())

    mm_curve = np.array(mm["mean_log_r_hat"])
    rms_error, max_abs = _scores(mm_curve, analytic)
    val_rms, _ = _scores(np.array(mm["mean_log_r_hat_val"]), analytic_val)
    analytic_range = float(analytic.max() - analytic.min())
    row = {
        "method": f"MadMiner {args.model} {args.method}",
        "rms_error": rms_error,
        "relative_rms_error": rms_error / analytic_range,
        "val_rms_error": val_rms,
        "max_abs_error": max_abs,
        "mean_log_r_at_theta0": mm["mean_log_r_hat_at_theta0"],
        "train_s": mm["train_seconds"],
        "epochs": mm["epochs_run"],
    }
    extra = {
        "madminer": mm["madminer"],
        "madminer_torch": mm["torch"],
        "madminer_settings": mm["settings"],
        "madminer_subprocess_seconds": subprocess_s,
        "madminer_eval_seconds": mm["eval_seconds"],
        "madminer_loss_train": mm["loss_train"],
        "madminer_loss_val": mm["loss_val"],
        "madminer_mean_log_r": mm_curve.tolist(),
        "madminer_mean_log_r_val": mm["mean_log_r_hat_val"],
    }
    return row, extra


def run_madsbi_single(
    args: argparse.Namespace,
    data: dict[str, np.ndarray],
    x_test: np.ndarray,
    x_val: np.ndarray,
    grid: np.ndarray,
    analytic: np.ndarray,
    analytic_val: np.ndarray,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """madsbi's jointly trained single-network baseline on the same arrays as MadMiner."""
    import torch

    from madsbi.estimators.single_network import SingleNetworkMorphingEstimator
    from madsbi.estimators.trainer import TrainingConfig
    from madsbi.nn.build import NetworkConfig
    from madsbi.theory.morphing import MorphingBasis

    torch.set_num_threads(args.threads)
    basis = MorphingBasis.from_points([[-1.0], [0.0], [1.0]], [THETA0])
    sigma = ToyModel.cross_section(basis.points[:, 0])
    hidden = tuple(int(h) for h in args.hidden.split(","))
    members = args.madsbi_members
    network = NetworkConfig(
        kind="mlp" if members == 1 else "ensemble",
        hidden=hidden,
        activation=args.activation,
        members=members,
    )
    estimator = SingleNetworkMorphingEstimator(
        basis, sigma, 1.0, 1, network, loss=args.madsbi_single, seed=args.seed
    )
    training = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        final_learning_rate=args.final_lr,
        validation_fraction=args.validation_split,
        patience=0,
        seed=args.seed,
    )
    numerator = data["y"][:, 0] == 0  # MadMiner's y = 0: drawn at the numerator θ
    t0 = time.perf_counter()
    estimator.fit_pairs(
        data["x"],
        data["theta"],
        numerator,
        data["r_xz"][:, 0],
        data["t_xz"],
        training,
        progress=False,
    )
    train_s = time.perf_counter() - t0
    curve = estimator.mean_log_ratio(x_test[:, None], grid[:, None]).mean(0)
    curve_val = estimator.mean_log_ratio(x_val[:, None], grid[:, None]).mean(0)
    at_theta0 = float(estimator.mean_log_ratio(x_test[:, None], [[THETA0]]).mean())
    rms_error, max_abs = _scores(curve, analytic)
    val_rms, _ = _scores(curve_val, analytic_val)
    row = {
        "method": f"madsbi single network ({args.madsbi_single})",
        "rms_error": rms_error,
        "relative_rms_error": rms_error / float(analytic.max() - analytic.min()),
        "val_rms_error": val_rms,
        "max_abs_error": max_abs,
        "mean_log_r_at_theta0": at_theta0,
        "train_s": train_s,
        "epochs": args.epochs,
    }
    return row, {"madsbi_single_mean_log_r": curve.tolist()}


if __name__ == "__main__":
    main()
