"""Facts of the WZ SMEFT samples (shared/data/madgraph/README.md): weight ids and their θ."""

from __future__ import annotations

from pathlib import Path

#: θ = (cHWB, cW, cHq3) of every <rwgt> weight id, in file order.
THETAS = {
    "p00_sm": (0.0, 0.0, 0.0),
    "p01_cHWB_p1": (1.0, 0.0, 0.0),
    "p02_cHWB_m1": (-1.0, 0.0, 0.0),
    "p03_cW_p1": (0.0, 1.0, 0.0),
    "p04_cW_m1": (0.0, -1.0, 0.0),
    "p05_cHq3_p1": (0.0, 0.0, 1.0),
    "p06_cHq3_m1": (0.0, 0.0, -1.0),
    "p07_cHWB_cW_p1": (1.0, 1.0, 0.0),
    "p08_cHWB_cHq3_p1": (1.0, 0.0, 1.0),
    "p09_cW_cHq3_p1": (0.0, 1.0, 1.0),
    "p10_holdout": (0.3, -0.7, 0.5),
}
WEIGHT_IDS = tuple(THETAS)
HOLDOUT = "p10_holdout"
#: The ten points of the quadratic morphing basis.
BASIS_IDS = tuple(w for w in WEIGHT_IDS if w != HOLDOUT)

#: The [network] and [training] tables of the one-epoch plumbing WZ studies (tiny ensemble).
# Two epochs of the same tiny networks with a validation split: the WZ study and analysis tests.
TWO_EPOCH_TRAINING_TOML = """
[network]
kind = "ensemble"
hidden = [8, 8]
members = 2
repulsion = 1.0

[training]
epochs = 2
batch_size = 256
validation_fraction = 0.2
patience = 0
seed = 3
"""

TINY_TRAINING_TOML = """
[network]
kind = "ensemble"
hidden = [8]
members = 2
repulsion = 1.0

[training]
epochs = 1
batch_size = 256
patience = 0
seed = 3
"""


def convert_wz_1k(directory: Path) -> Path:
    """The 1000-event W⁺Z parton fixture converted into ``directory/wz_1k.h5``."""
    from madsbi.events.convert import convert_lhe

    out = directory / "wz_1k.h5"
    data = Path(__file__).parents[1] / "data" / "wz_parton_1k.lhe.gz"
    convert_lhe(data, out, parameters=["cHWB", "cW", "cHq3"])
    return out
