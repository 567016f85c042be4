"""L-GATr: Lorentz invariance with fixed symmetry breakers, breakers entering, training,
save/load, repulsive members, configuration."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi.config import build
from madsbi.errors import ConfigError, OptionalDependencyError
from madsbi.estimators import DerivativeEstimator, HypothesisSample, TrainingConfig, fit
from madsbi.estimators.network import seeded_network
from madsbi.nn import NetworkConfig, build_network
from madsbi.nn.lgatr import LGATrEnsemble, LorentzStandardiser
from madsbi.nn.lgatr_config import LGATrConfig, resolve_layout, wz_reco_columns
from madsbi.processes.wz import OBSERVABLES

#: A change the symmetry cannot explain: 10⁴ × the invariance tolerance (untrained networks
#: react weakly to the references; the invariance errors are ~1e-15).
CHANGED = 1e-6
SMALL = {"blocks": 1, "vector_channels": 4, "scalar_channels": 8, "heads": 2}
#: Synthetic layout: four tokens with full four-momenta (columns 4k … 4k+3), one scalar per
#: token (16 + k) and three event-level scalars (20, 21, 22).
N_SYNTH = 23
SYNTH = {
    "layout": "explicit",
    "momenta": tuple(tuple(range(4 * k, 4 * k + 4)) for k in range(4)),
    "token_scalars": tuple((16 + k,) for k in range(4)),
}


# -- Lorentz transformations (float64, (t, x, y, z)) ------------------------------------------


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    out = np.eye(4)
    out[1:, 1:] = np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k
    return out


def boost(direction: np.ndarray, rapidity: float) -> np.ndarray:
    n = direction / np.linalg.norm(direction)
    out = np.eye(4)
    out[0, 0] = math.cosh(rapidity)
    out[0, 1:] = out[1:, 0] = math.sinh(rapidity) * n
    out[1:, 1:] += (math.cosh(rapidity) - 1) * np.outer(n, n)
    return out


Z = np.array([0.0, 0.0, 1.0])


def random_lorentz(rng: np.random.Generator) -> np.ndarray:
    """A random proper orthochronous transformation: rotation · boost (rapidity ≤ 1)."""
    rot = rotation(rng.normal(size=3), rng.uniform(0, 2 * math.pi))
    return rot @ boost(rng.normal(size=3), rng.uniform(0.2, 1.0))


def transform(
    x: torch.Tensor, momenta: tuple[tuple[int, ...], ...], lam: np.ndarray
) -> torch.Tensor:
    """x with every token's four-momentum (columns ``momenta``, all four present) mapped by lam."""
    out = x.clone()
    lam_t = torch.as_tensor(lam, dtype=x.dtype)
    for cols in momenta:
        out[:, list(cols)] = x[:, list(cols)] @ lam_t.T
    return out


def momenta_sample(rng: np.random.Generator, n: int, n_tokens: int = 4) -> np.ndarray:
    """Massive on-shell four-momenta (n, n_tokens, 4) with p ~ 50 GeV."""
    p = rng.normal(scale=50.0, size=(n, n_tokens, 3))
    mass = rng.uniform(0.1, 20.0, size=(n, n_tokens, 1))
    energy = np.sqrt((p**2).sum(-1, keepdims=True) + mass**2)
    return np.concatenate([energy, p], axis=-1)


def synthetic_x(rng: np.random.Generator, n: int) -> torch.Tensor:
    x = np.concatenate(
        [momenta_sample(rng, n).reshape(n, 16) / 50.0, rng.normal(size=(n, 7))], axis=1
    )
    return torch.as_tensor(x)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def ensemble(members: int = 1, seed: int = 0, **lgatr: object) -> LGATrEnsemble:
    torch.manual_seed(seed)
    config = LGATrConfig(**{**SMALL, **SYNTH, **lgatr})  # type: ignore[arg-type]
    return LGATrEnsemble(config, N_SYNTH, 3, members, 1.0).double().eval()


# -- invariance ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["slim", "full"])
def test_invariant_under_all_lorentz_without_references(variant: str) -> None:
    rng = np.random.default_rng(1)
    net = ensemble(variant=variant, beam_reference="none", time_reference=False)
    x = synthetic_x(rng, 64)
    with torch.no_grad():
        reference = net(x)
        for _ in range(3):
            lam = random_lorentz(rng)
            assert relative(net(transform(x, SYNTH["momenta"], lam)), reference) <= 1e-10


def test_full_beam_plane_invariant_under_beam_rotations_and_boosts() -> None:
    """The xy-plane bivector is the only breaker: rotations about z and boosts along z."""
    rng = np.random.default_rng(2)
    net = ensemble(variant="full", beam_reference="xyplane", time_reference=False)
    x = synthetic_x(rng, 64)
    with torch.no_grad():
        reference = net(x)
        for _ in range(3):
            lam = rotation(Z, rng.uniform(0, 2 * math.pi)) @ boost(Z, rng.uniform(-1.5, 1.5))
            assert relative(net(transform(x, SYNTH["momenta"], lam)), reference) <= 1e-10
        # A tilt of the beam axis (rotation about x) changes the output: the breaker enters.
        tilted = net(transform(x, SYNTH["momenta"], rotation(np.array([1.0, 0, 0]), 0.7)))
        assert relative(tilted, reference) > CHANGED


@pytest.mark.parametrize(("variant", "beam"), [("slim", "spacelike"), ("full", "lightlike")])
def test_beam_and_time_references(variant: str, beam: str) -> None:
    """Beam and time references: invariant under rotations about z only."""
    rng = np.random.default_rng(3)
    net = ensemble(variant=variant, beam_reference=beam, time_reference=True)
    x = synthetic_x(rng, 64)
    with torch.no_grad():
        reference = net(x)
        for _ in range(3):
            lam = rotation(Z, rng.uniform(0, 2 * math.pi))
            assert relative(net(transform(x, SYNTH["momenta"], lam)), reference) <= 1e-10
        tilt = rotation(np.array([0, 1.0, 0]), 0.5)
        z_boost = boost(Z, 0.8)
        for lam in (tilt, z_boost):
            assert relative(net(transform(x, SYNTH["momenta"], lam)), reference) > CHANGED


@pytest.mark.parametrize("variant", ["slim", "full"])
def test_references_are_the_only_breakers(variant: str) -> None:
    """Transforming the particles and the reference vectors together leaves the output."""
    rng = np.random.default_rng(8)
    net = ensemble(members=2, variant=variant, beam_reference="lightlike", time_reference=True)
    x = synthetic_x(rng, 32)
    with torch.no_grad():
        reference = net(x)
        lam = random_lorentz(rng)
        moved = transform(x, SYNTH["momenta"], lam)
        assert relative(net(moved), reference) > CHANGED
        for member in net.members:
            refs = member.references.clone()  # (R, 16): vectors in the components 1–4
            refs[:, 1:5] = refs[:, 1:5] @ torch.as_tensor(lam).T
            member.references = refs
        assert relative(net(moved), reference) <= 1e-10


def wz_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Rows in the layout of OBSERVABLES with random leptons, E_T^miss and observables."""
    x = rng.normal(size=(n, len(OBSERVABLES)))
    leptons = momenta_sample(rng, n, 3)
    col = {name: i for i, name in enumerate(OBSERVABLES)}
    for k in range(3):
        for j, c in enumerate(("e", "px", "py", "pz")):
            x[:, col[f"l{k + 1}_{c}"]] = leptons[:, k, j]
        x[:, col[f"l{k + 1}_charge"]] = rng.choice([-1.0, 1.0], size=n)
        x[:, col[f"l{k + 1}_flavour"]] = rng.choice([11.0, 13.0], size=n)
    met = rng.normal(scale=40.0, size=(n, 2))
    x[:, col["met_x"]], x[:, col["met_y"]] = met[:, 0], met[:, 1]
    x[:, col["met"]] = np.hypot(met[:, 0], met[:, 1])
    return x


def rotate_wz(x: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate the leptons and the E_T^miss vector about the beam; scalars stay."""
    col = {name: i for i, name in enumerate(OBSERVABLES)}
    out = x.clone()
    c, s = math.cos(angle), math.sin(angle)
    pairs = [(f"l{k}_px", f"l{k}_py") for k in (1, 2, 3)] + [("met_x", "met_y")]
    for a, b in pairs:
        out[:, col[a]] = c * x[:, col[a]] - s * x[:, col[b]]
        out[:, col[b]] = s * x[:, col[a]] + c * x[:, col[b]]
    return out


def test_wz_standardised_network_invariant_under_beam_rotations() -> None:
    """The W±Z layout through the fitted Lorentz standardiser, float64, ≤ 1e-10."""
    rng = np.random.default_rng(4)
    config = NetworkConfig(kind="lgatr", members=2, lgatr=LGATrConfig(**SMALL))  # type: ignore[arg-type]
    net = seeded_network(config, len(OBSERVABLES), 1, seed=4)
    assert isinstance(net.inputs, LorentzStandardiser)
    x = torch.as_tensor(wz_rows(rng, 256))
    net.inputs.fit(x)
    momentum_cols = list(resolve_layout(config.lgatr, len(OBSERVABLES)).momentum_columns)  # type: ignore[arg-type]
    assert torch.all(net.inputs.mean[momentum_cols] == 0)
    assert torch.unique(net.inputs.scale[momentum_cols]).numel() == 1
    net = net.double().eval()
    with torch.no_grad():
        reference = net(x)
        for angle in rng.uniform(0, 2 * math.pi, size=3):
            assert relative(net(rotate_wz(x, float(angle))), reference) <= 1e-10
        # Moving an invariant input (m_T^WZ) or tilting the beam changes the output.
        moved = x.clone()
        moved[:, OBSERVABLES.index("mt_wz")] += 1.0
        assert relative(net(moved), reference) > CHANGED
        lam = rotation(np.array([1.0, 0, 0]), 0.6)
        tilted = x.clone()
        for k in (1, 2, 3):
            cols = [OBSERVABLES.index(f"l{k}_{c}") for c in ("e", "px", "py", "pz")]
            tilted[:, cols] = x[:, cols] @ torch.as_tensor(lam).T
        assert relative(net(tilted), reference) > CHANGED


# -- ensemble and repulsion -----------------------------------------------------------------


def test_members_differ_and_repulsion_pushes_them_apart() -> None:
    rng = np.random.default_rng(5)
    net = ensemble(members=3, seed=5, beam_reference="spacelike")
    x = synthetic_x(rng, 32)
    predictions = net(x).detach().requires_grad_(True)
    assert predictions.shape == (3, 32, 3)
    spread = predictions.detach().std(0).mean()
    assert float(spread) > CHANGED
    term = net.regulariser(predictions, n_train=100)
    assert float(term.detach()) > 0
    term.backward()  # type: ignore[no-untyped-call]
    assert predictions.grad is not None
    stepped = predictions.detach() - 0.1 * predictions.grad / predictions.grad.abs().max()
    assert float(stepped.std(0).mean()) > float(spread)
    single = ensemble(members=1)
    assert float(single.regulariser(single(x), 100)) == 0.0


# -- training and persistence ---------------------------------------------------------------


def test_training_lowers_the_loss_on_an_invariant_target() -> None:
    """Target: log of the Minkowski product p_0 · p_1 (standardised), a Lorentz scalar."""
    rng = np.random.default_rng(6)
    x = synthetic_x(rng, 1536).to(torch.float32)
    a, b = x[:, 0:4], x[:, 4:8]
    dot = torch.log(a[:, 0] * b[:, 0] - (a[:, 1:] * b[:, 1:]).sum(1))
    target = ((dot - dot.mean()) / dot.std()).unsqueeze(1)
    # The default sizes: the SMALL network learns this pair invariant only slowly.
    config = LGATrConfig(**SYNTH)  # type: ignore[arg-type]
    torch.manual_seed(6)
    net = LGATrEnsemble(config, N_SYNTH, 1, members=1)

    def loss(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return ((predictions - batch["target"].unsqueeze(0)) ** 2).mean(dim=(1, 2))

    data = {"x": x, "target": target}
    with torch.no_grad():
        before = float(loss(net(x), data).mean())
    history = fit(
        net,
        loss,
        data,
        TrainingConfig(epochs=4, batch_size=64, learning_rate=3e-3, patience=0, device="cpu"),
        progress=False,
    )
    with torch.no_grad():
        after = float(loss(net(x), data).mean())
    assert after < 0.5 * before
    assert history.train_loss[-1] < history.train_loss[0]


def test_derivative_estimator_with_lgatr_saves_and_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    x = wz_rows(rng, 256)
    theta = rng.normal(size=(256, 1))
    coefficients = np.concatenate([np.ones((256, 1)), theta, theta**2], axis=1)
    sample = HypothesisSample.build(x, coefficients)
    network = NetworkConfig(kind="lgatr", members=2, lgatr=LGATrConfig(**SMALL))  # type: ignore[arg-type]
    estimator = DerivativeEstimator([0.0], len(OBSERVABLES), network, combination_seed=3)
    training = TrainingConfig(epochs=1, batch_size=64, device="cpu")
    histories = estimator.fit(sample, training, out_dir=tmp_path / "train", progress=False)
    # L-GATr is joint by default: one network, the global token gives both t_1 and t_2.
    assert set(histories) == {"t"}
    assert estimator.networks["t"].positive_outputs == (False, True)
    path = estimator.save(tmp_path / "est")
    loaded = DerivativeEstimator.load(path)
    assert loaded.config == network
    assert loaded.joint
    assert loaded.n_members == 2
    ratios = estimator.predict_ratios(x[:50])
    torch.testing.assert_close(loaded.predict_ratios(x[:50]), ratios, rtol=0, atol=0)
    assert bool((ratios[:, :, 2] >= 0).all())  # the square's coefficient stays non-negative
    # The finished training checkpoint (weights-only) restores the same network.
    again = DerivativeEstimator([0.0], len(OBSERVABLES), network, combination_seed=3)
    again.fit(sample, training, out_dir=tmp_path / "train", progress=False)
    torch.testing.assert_close(again.predict_ratios(x[:50]), ratios, rtol=0, atol=0)


# -- configuration ------------------------------------------------------------------------------


def test_configuration_from_toml_tables_and_errors() -> None:
    config = build(
        NetworkConfig,
        {"kind": "lgatr", "members": 3, "lgatr": {"variant": "full", "blocks": 1}},
        "network",
    )
    assert isinstance(config.lgatr, LGATrConfig)
    assert (config.lgatr.variant, config.lgatr.blocks) == ("full", 1)
    assert NetworkConfig(kind="lgatr").lgatr == LGATrConfig()
    with pytest.raises(ConfigError, match=r"network\.lgatr\] blocks"):
        NetworkConfig(kind="lgatr", lgatr={"blocks": "two"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="xyplane"):
        LGATrConfig(beam_reference="xyplane")
    with pytest.raises(ConfigError, match="layout = 'explicit'"):
        LGATrConfig(momenta=((0, 1, 2, 3),))
    with pytest.raises(ConfigError, match="expects the 28 columns"):
        build_network(NetworkConfig(kind="lgatr", lgatr=LGATrConfig(**SMALL)), 5, 1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="out of range"):
        resolve_layout(LGATrConfig(layout="explicit", momenta=((0, 1, 2, 9),)), 5)
    with pytest.raises(ConfigError, match="no input column 'met_x'"):
        wz_reco_columns([c for c in OBSERVABLES if c != "met_x"])
    layout = resolve_layout(LGATrConfig(), len(OBSERVABLES))
    assert layout.n_tokens == 4
    assert layout.momenta[3][3] == -1  # E_T^miss has no longitudinal component
    names = [OBSERVABLES[i] for i in layout.global_scalars]
    assert names == ["sum_charge", "n_jets", "m_ll_z", "pt_z", "pt_lw", "mt_w", "mt_wz"]


def test_missing_lgatr_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lgatr", None)  # import lgatr now raises ImportError
    with pytest.raises(OptionalDependencyError, match=r"pip install 'madsbi\[lgatr\]'"):
        build_network(NetworkConfig(kind="lgatr"), len(OBSERVABLES), 1)
