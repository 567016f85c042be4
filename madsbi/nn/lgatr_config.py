"""Configuration of the L-GATr network: sizes, token layout, symmetry breakers (torch-free).

The network itself is :mod:`madsbi.nn.lgatr`; this module only describes it, so that
:class:`~madsbi.nn.build.NetworkConfig` can hold it without importing torch or ``lgatr``.
In a study's TOML (members > 1: a repulsive ensemble, as for the MLPs)::

    [network]
    kind = "lgatr"
    members = 5
    repulsion = 100.0

    [network.lgatr]
    variant = "slim"        # or "full" (multivectors; ~7x slower on a CPU)
    blocks = 2
    vector_channels = 8
    scalar_channels = 32
    heads = 4
    beam_reference = "spacelike"
    time_reference = true

Token layout
------------
The network reads the flat input row x (one event) as tokens:

- one token per entry of ``momenta``: the four columns (E, p_x, p_y, p_z) of x that form its
  four-momentum (the vector grade of the multivector, paper eq. 40); ``-1`` is a component
  fixed to zero (E_T^miss enters as (|E_T^miss|, E_x^miss, E_y^miss, 0));
- per token the scalar columns ``token_scalars`` (charge, flavour), zero-padded to equal
  length;
- event-level scalar columns ``global_scalars`` (Σ charge, n_jets, the high-level
  observables), given to every token; ``None`` means every column that is no momentum or
  token scalar;
- a global token (zero vector, its own one-hot flag) whose scalar outputs are the network's
  outputs (Sec. 2.4; ``lgatr`` has no built-in global token): in the full variant its scalar
  channels plus the scalar grade of its output multivectors; in the slim variant, whose
  scalar stream sees vectors only through the attention weights, its scalar channels plus a
  linear map of the Minkowski products of its output vectors.

E_T^miss enters as the token (|E_T^miss|, E_x^miss, E_y^miss, 0) (as in the reco store's
``tokens``), not as the paper's scalar inputs (Sec. 4.2): as scalars its components would
break the rotation about the beam axis uncontrolled; as a vector they rotate with the
leptons. A layout with E_T^miss as scalars is ``layout = "explicit"`` with three momenta.

Every token carries a one-hot flag of its position (the leptons are ordered: Z leptons,
then the W lepton), so the network is not permutation-invariant over tokens.

Symmetry breakers
-----------------
L-GATr is exactly Lorentz-equivariant; the input breaks the symmetry in three places, and
each enters explicitly:

- the beam axis, through reference multivectors appended as extra channels to every token
  (``beam_reference``): ``"spacelike"`` the vector (0, 0, 0, 1), ``"lightlike"`` the two
  beams (1, 0, 0, ±1), ``"xyplane"`` the bivector e_x e_y (full L-GATr only; it is fixed by
  rotations about and boosts along the beam), or ``"none"``;
- the lab frame, through the time direction (1, 0, 0, 0) as another reference vector
  (``time_reference``); E_T^miss is only a transverse vector, measured in the lab frame, so
  a boost along the beam does not act on it as on a four-vector;
- the high-level observables (p_T, m_T, m_T^WZ, …) are functions of the lab-frame transverse
  momenta: they enter as scalar channels, i.e. as invariant inputs by construction.

With the beam and time references the exact symmetry of the network is the group that
fixes both, the rotations about the beam axis. Without references the network is invariant
under all proper orthochronous Lorentz transformations of its four-momenta.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from madsbi.errors import ConfigError

if TYPE_CHECKING:
    from madsbi.processes import Token

VARIANTS = ("slim", "full")
BEAM_REFERENCES = ("spacelike", "lightlike", "xyplane", "none")
#: Layouts taken from a registered process's reco tokens → the process.
PROCESS_LAYOUTS = {"wz_reco": "wz"}
LAYOUTS = (*PROCESS_LAYOUTS, "explicit")


@dataclass(frozen=True)
class LGATrConfig:
    """Sizes, token layout and symmetry breakers of an L-GATr network.

    Attributes
    ----------
    variant : {"slim", "full"}
        ``lgatr.LGATrSlim`` (Lorentz vectors and scalars; ~10× faster on a CPU) or
        ``lgatr.LGATr`` (full multivectors; the only one that takes the ``"xyplane"`` beam
        reference).
    blocks : int
        Transformer blocks.
    vector_channels, scalar_channels : int
        Hidden vector (multivector) and scalar channels.
    heads : int
        Attention heads.
    layout : {"wz_reco", "explicit"}
        ``"wz_reco"``: the reco observables and tokens of the ``"wz"`` process
        (:data:`madsbi.processes.wz.TOKENS`: three leptons with charge and flavour,
        E_T^miss, the event-level observables); ``"explicit"``: the columns given in
        ``momenta``, ``token_scalars`` and ``global_scalars``.
    momenta : tuple of tuple of int
        Per token the columns (E, p_x, p_y, p_z) of x; -1 is a zero component.
    token_scalars : tuple of tuple of int
        Per token its scalar columns (empty tuples allowed); empty: none for any token.
    global_scalars : tuple of int or None
        Event-level scalar columns; ``None``: all columns not used above.
    beam_reference : {"spacelike", "lightlike", "xyplane", "none"}
    time_reference : bool
    """

    variant: str = "slim"
    blocks: int = 2
    vector_channels: int = 8
    scalar_channels: int = 32
    heads: int = 4
    layout: str = "wz_reco"
    momenta: tuple[tuple[int, ...], ...] = ()
    token_scalars: tuple[tuple[int, ...], ...] = ()
    global_scalars: tuple[int, ...] | None = None
    beam_reference: str = "spacelike"
    time_reference: bool = True

    def __post_init__(self) -> None:
        where = "network.lgatr"
        if self.variant not in VARIANTS:
            raise ConfigError(f"{where}.variant: expected one of {VARIANTS}, got {self.variant!r}")
        for name in ("blocks", "vector_channels", "scalar_channels", "heads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{where}.{name}: expected >= 1, got {getattr(self, name)}")
        if self.beam_reference not in BEAM_REFERENCES:
            raise ConfigError(
                f"{where}.beam_reference: expected one of {BEAM_REFERENCES}, "
                f"got {self.beam_reference!r}"
            )
        if self.beam_reference == "xyplane" and self.variant != "full":
            raise ConfigError(
                f"{where}.beam_reference: 'xyplane' is a bivector and needs variant = 'full' "
                f"(the slim variant carries vectors only), got variant {self.variant!r}"
            )
        if self.layout not in LAYOUTS:
            raise ConfigError(f"{where}.layout: expected one of {LAYOUTS}, got {self.layout!r}")
        if self.layout == "explicit":
            if not self.momenta or any(len(p) != 4 for p in self.momenta):
                raise ConfigError(
                    f"{where}.momenta: expected one or more [E, px, py, pz] column lists, "
                    f"got {self.momenta!r}"
                )
            if self.token_scalars and len(self.token_scalars) != len(self.momenta):
                raise ConfigError(
                    f"{where}.token_scalars: expected one list per token "
                    f"({len(self.momenta)}), got {len(self.token_scalars)}"
                )
        elif self.momenta or self.token_scalars or self.global_scalars is not None:
            raise ConfigError(
                f"{where}: momenta / token_scalars / global_scalars are read only with "
                f"layout = 'explicit', got layout {self.layout!r}"
            )

    @property
    def n_references(self) -> int:
        """Reference multivectors appended to every token."""
        beam = {"spacelike": 1, "lightlike": 2, "xyplane": 1, "none": 0}[self.beam_reference]
        return beam + int(self.time_reference)


@dataclass(frozen=True)
class TokenLayout:
    """Resolved column indices of the tokens (see the module docstring)."""

    momenta: tuple[tuple[int, int, int, int], ...]
    token_scalars: tuple[tuple[int, ...], ...]
    global_scalars: tuple[int, ...]

    @property
    def n_tokens(self) -> int:
        """Particle tokens (without the global token)."""
        return len(self.momenta)

    @property
    def momentum_columns(self) -> tuple[int, ...]:
        """All columns that are four-momentum components."""
        return tuple(sorted({c for p in self.momenta for c in p if c >= 0}))

    @property
    def n_token_scalars(self) -> int:
        """Scalar channels per token from ``token_scalars`` (after padding)."""
        return max((len(s) for s in self.token_scalars), default=0)


def token_columns(tokens: Sequence[Token], names: Sequence[str], layout: str) -> dict[str, Any]:
    """The explicit layout of a process's tokens (:class:`madsbi.processes.Token`) over ``names``.

    Each token's four-momentum columns (``""``: a zero component) and scalar columns are
    looked up by name; every other column is an event-level scalar. Returns the keys
    ``layout``, ``momenta``, ``token_scalars`` and ``global_scalars`` of :class:`LGATrConfig`.

    Raises
    ------
    ConfigError
        If a needed column is missing (naming it, the layout and the columns given).
    """
    index = {name: i for i, name in enumerate(names)}

    def col(name: str) -> int:
        if not name:
            return -1
        if name not in index:
            raise ConfigError(
                f"network.lgatr.layout {layout!r}: no input column {name!r} in {list(names)}"
            )
        return index[name]

    momenta = tuple(tuple(col(c) for c in token.momentum) for token in tokens)
    scalars = tuple(tuple(col(c) for c in token.scalars) for token in tokens)
    used = {c for p in momenta for c in p} | {c for s in scalars for c in s}
    return {
        "layout": "explicit",
        "momenta": momenta,
        "token_scalars": scalars,
        "global_scalars": tuple(i for i in range(len(names)) if i not in used),
    }


def wz_reco_columns(names: Sequence[str]) -> dict[str, Any]:
    """The explicit layout of the W±Z reco tokens (:data:`madsbi.processes.wz.TOKENS`).

    Tokens ``l1``, ``l2``, ``l3`` (columns ``l<k>_e/px/py/pz``, scalars ``l<k>_charge`` and
    ``l<k>_flavour``) and E_T^miss (``met``, ``met_x``, ``met_y``, 0); every other column is an
    event-level scalar (:func:`token_columns`).

    Raises
    ------
    ConfigError
        If a needed column is missing (naming it and the columns given).
    """
    return token_columns(_process_tokens("wz_reco"), names, "wz_reco")


def resolve_layout(config: LGATrConfig, n_in: int) -> TokenLayout:
    """Column indices of the tokens for inputs of width ``n_in``.

    Raises
    ------
    ConfigError
        If a column is out of range or used twice, or the ``"wz_reco"`` layout meets inputs
        of another width.
    """
    if config.layout in PROCESS_LAYOUTS:
        from madsbi.processes import get_process

        observables = get_process(PROCESS_LAYOUTS[config.layout]).observables
        if n_in != len(observables):
            raise ConfigError(
                f"network.lgatr.layout {config.layout!r}: expects the {len(observables)} "
                f"columns of the {PROCESS_LAYOUTS[config.layout]!r} process's reco "
                f"observables, the inputs have {n_in}; give layout = 'explicit' with momenta / "
                "token_scalars / global_scalars"
            )
        columns = token_columns(_process_tokens(config.layout), observables, config.layout)
        return resolve_layout(LGATrConfig(**_sizes(config), **columns), n_in)
    momenta = tuple((int(p[0]), int(p[1]), int(p[2]), int(p[3])) for p in config.momenta)
    token_scalars = config.token_scalars or tuple(() for _ in momenta)
    used = [c for p in momenta for c in p if c >= 0] + [c for s in token_scalars for c in s]
    if config.global_scalars is None:
        global_scalars = tuple(i for i in range(n_in) if i not in set(used))
    else:
        global_scalars = tuple(config.global_scalars)
    every = used + list(global_scalars)
    bad = [c for c in every if not 0 <= c < n_in]
    if bad or any(c < -1 for p in momenta for c in p):
        raise ConfigError(
            f"network.lgatr: column indices {bad or list(momenta)} out of range for {n_in} inputs"
        )
    if len(set(every)) != len(every):
        raise ConfigError(f"network.lgatr: a column is used twice in {every}")
    return TokenLayout(momenta, tuple(tuple(s) for s in token_scalars), global_scalars)


def _process_tokens(layout: str) -> tuple[Token, ...]:
    from madsbi.processes import get_process

    return get_process(PROCESS_LAYOUTS[layout]).reco_selection().tokens


def _sizes(config: LGATrConfig) -> dict[str, Any]:
    return {
        "variant": config.variant,
        "blocks": config.blocks,
        "vector_channels": config.vector_channels,
        "scalar_channels": config.scalar_channels,
        "heads": config.heads,
        "beam_reference": config.beam_reference,
        "time_reference": config.time_reference,
    }
