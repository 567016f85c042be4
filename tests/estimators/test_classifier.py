"""The process classifier: the weighted cross-entropy and the learned shares D_c(x)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi.errors import InputError
from madsbi.estimators.classifier import ProcessClassifier
from madsbi.estimators.loading import load_any_estimator
from madsbi.estimators.losses import multiclass_cross_entropy
from madsbi.estimators.trainer import TrainingConfig
from madsbi.inference.processes import classifier_data
from madsbi.nn.build import NetworkConfig
from madsbi.studies.toy_mixture import default_toy

TOY = default_toy()


# -- the classifier -----------------------------------------------------------------------
def test_multiclass_cross_entropy_is_minimal_at_the_weighted_shares() -> None:
    label = torch.tensor([0, 0, 1, 2, 2, 2])
    weights = torch.tensor([1.0, 2.0, 3.0, 0.5, 0.5, 1.0])
    shares = torch.tensor([3.0, 3.0, 2.0]) / 8.0
    best = torch.log(shares).expand(1, 6, 3).clone()
    value = multiclass_cross_entropy(best, label, weights)
    expected = -(weights * torch.log(shares[label])).sum() / weights.sum()
    torch.testing.assert_close(value, expected.reshape(1))
    for delta in ([0.1, 0, 0], [0, -0.2, 0.1]):
        moved = best + torch.tensor(delta)
        assert multiclass_cross_entropy(moved, label, weights) > value


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> ProcessClassifier:
    samples = TOY.draw(4000, seed=5)
    clf = ProcessClassifier(
        TOY.names, 1, NetworkConfig(kind="ensemble", hidden=(32, 32), members=2)
    )
    clf.fit(
        *classifier_data(samples),
        TrainingConfig(epochs=25, batch_size=256, patience=5, device="cpu"),
        progress=False,
    )
    return clf


def test_classifier_learns_the_cross_section_weighted_shares(
    classifier: ProcessClassifier, tmp_path: Path
) -> None:
    x = np.linspace(-2.0, 4.0, 61)  # where every process lives
    learned = classifier.event_fractions(x)
    np.testing.assert_allclose(learned.sum(1), 1.0, rtol=1e-12)
    # 12k events, 2 members: a mean error of a few percent (measured 0.01–0.02)
    assert np.abs(learned - TOY.shares(x)).mean() < 0.04
    path = classifier.save(tmp_path / "clf")
    again = load_any_estimator(path)
    assert isinstance(again, ProcessClassifier)
    np.testing.assert_array_equal(again.predict_fractions(x), classifier.predict_fractions(x))
    assert again.classes == classifier.classes


def test_classifier_refuses_bad_labels_and_empty_classes() -> None:
    clf = ProcessClassifier(["a", "b"], 1, NetworkConfig(kind="mlp", hidden=(4,), members=1))
    cfg = TrainingConfig(epochs=1, device="cpu")
    with pytest.raises(InputError, match="classes in"):
        clf.fit(np.zeros(4), np.array([0, 1, 2, 0]), np.ones(4), cfg, progress=False)
    with pytest.raises(InputError, match=r"\['b'\]"):
        clf.fit(np.zeros(4), np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0.0]), cfg, progress=False)
    with pytest.raises(InputError, match="two distinct"):
        ProcessClassifier(["a", "a"], 1, NetworkConfig(kind="mlp", hidden=(4,), members=1))
