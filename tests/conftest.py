"""Shared fixtures and the skip logic of the gpu / mg5 / slow markers."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import madsbi

from helpers.training import StepCounter

DATA = Path(__file__).parent / "data"
#: The full MadGraph samples of the project (not shipped); tests that need them skip without.
SHARED_MADGRAPH = Path(
    os.environ.get("MADSBI_SHARED_DATA", Path(__file__).parents[2] / "shared" / "data" / "madgraph")
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU (madsbi.has_cuda() is False)")
    skip_mg5 = pytest.mark.skip(reason="needs MadGraph: set MG5_DIR")
    skip_slow = pytest.mark.skip(reason="slow: set MADSBI_SLOW=1")
    for item in items:
        if "gpu" in item.keywords and not madsbi.has_cuda():
            item.add_marker(skip_gpu)
        if "mg5" in item.keywords and not os.environ.get("MG5_DIR"):
            item.add_marker(skip_mg5)
        if "slow" in item.keywords and os.environ.get("MADSBI_SLOW") != "1":
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    """torch on one thread for the whole session, module-scoped fixtures included.

    The machines running the suite are small and shared; the results must not depend on
    the thread count anyway.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def optimizer_steps() -> Iterator[StepCounter]:
    """How much training a test's code did: a global torch optimiser step hook.

    Tests assert on this work (e.g. a resumed run takes zero steps), not on wall-clock time.
    """
    from torch.optim.optimizer import register_optimizer_step_post_hook

    counter = StepCounter()
    handle = register_optimizer_step_post_hook(counter)
    yield counter
    handle.remove()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's name: fresh inputs per test, reproducible per test."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture
def data_dir() -> Path:
    """tests/data: small LHE excerpts (first 1000 events of each shipped MadGraph sample)."""
    return DATA
