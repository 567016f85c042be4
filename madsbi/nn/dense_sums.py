"""The dense coverage product on a torch device (cuBLAS on a GPU), float64 throughout.

:mod:`madsbi.inference` stays torch-free (the import contract of ``.importlinter``): its dense
coverage (:func:`madsbi.inference.dense.toy_statistics`) takes any object with the
:class:`madsbi.inference.dense.DenseBackend` shape, and this is the torch one. The counts and
coefficients go to the device once; each grid chunk forms L = log(C·Φ) there (clamped as the
NumPy path) and accumulates S = N @ L in float64 (cuBLAS DGEMM on a GPU).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from madsbi._device import resolve_device

FloatArray = npt.NDArray[np.float64]

#: Elements of one block of L on the device: 1 GB of float64 (the device has the memory).
DEVICE_BLOCK_ELEMENTS = 1 << 27


class TorchDense:
    """Float64 dense product on ``device`` ("auto": CUDA when available, else the CPU).

    Parameters
    ----------
    device : str
        As ``madsbi._device.resolve_device`` reads it.
    block_elements : int
        Elements of one block of L (events × grid points of the chunk) on the device.

    Raises
    ------
    ConfigError
        If the device is unknown, or names CUDA and no GPU is available.
    """

    def __init__(self, device: str = "auto", block_elements: int = DEVICE_BLOCK_ELEMENTS) -> None:
        self.device = resolve_device(device, "device")
        self.block_elements = max(1, int(block_elements))

    def bind(
        self, counts: npt.NDArray[Any], coefficients: FloatArray, *, log1p: bool, floor: float
    ) -> _TorchSums:
        """Move counts (T, N) and coefficients (N, K) to the device, as float64."""
        return _TorchSums(self, counts, coefficients, log1p, floor)


class _TorchSums:
    def __init__(
        self,
        owner: TorchDense,
        counts: npt.NDArray[Any],
        coefficients: FloatArray,
        log1p: bool,
        floor: float,
    ) -> None:
        self._device = owner.device
        self._block = owner.block_elements
        self._first = 1 if log1p else 0
        self._log1p = log1p
        self._log_floor = math.log(floor)
        self._counts = torch.from_numpy(counts.astype(np.float64)).to(self._device)
        coef = np.ascontiguousarray(coefficients[:, self._first :], dtype=np.float64)
        self._coef = torch.from_numpy(coef).to(self._device)
        self._clamped = 0

    @property
    def clamped_pairs(self) -> int:
        return self._clamped

    def __call__(self, features: FloatArray) -> FloatArray:
        phi = np.ascontiguousarray(features[:, self._first :].T, dtype=np.float64)
        phi_t = torch.from_numpy(phi).to(self._device)
        n_toys, n_events = self._counts.shape
        step = max(1, self._block // max(1, phi_t.shape[1]))
        sums = torch.zeros((n_toys, phi_t.shape[1]), dtype=torch.float64, device=self._device)
        clamped = torch.zeros((), dtype=torch.int64, device=self._device)
        for e0 in range(0, n_events, step):
            x = self._coef[e0 : e0 + step] @ phi_t
            logs = torch.log1p(x) if self._log1p else torch.log(x)
            bad = ~torch.isfinite(logs)
            logs = torch.where(bad, torch.full_like(logs, self._log_floor), logs)
            clamped += bad.sum()
            sums += self._counts[:, e0 : e0 + step] @ logs
        self._clamped += int(clamped.item())
        result: FloatArray = sums.cpu().numpy()
        return result
