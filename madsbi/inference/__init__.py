"""Inference: likelihood assembly, grid scans, limits and coverage (paper App. A)."""

from __future__ import annotations

from madsbi.inference.gridscan import GridScanResult, log_ratio_sums

__all__ = ["GridScanResult", "log_ratio_sums"]
