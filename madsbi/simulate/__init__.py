"""Simulation: the analytic toy model and fractional-smearing bookkeeping."""

from __future__ import annotations

from madsbi.simulate.smearing import (
    SmearingPlan,
    SurvivorGroups,
    copy_counts,
    copy_seeds,
    plan_copies,
    regroup_survivors,
    target_statistics,
)
from madsbi.simulate.toy import ToyModel, generate_toy_store

__all__ = [
    "SmearingPlan",
    "SurvivorGroups",
    "ToyModel",
    "copy_counts",
    "copy_seeds",
    "generate_toy_store",
    "plan_copies",
    "regroup_survivors",
    "target_statistics",
]
