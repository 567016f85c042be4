"""L-GATr networks (paper Sec. 2.4, eq. 40) through the ``lgatr`` package, as repulsive ensembles.

Inputs are the flat rows x (B, d) every network here takes; :class:`LGATrMember` turns them
into tokens (four-momenta in the vector grade, scalars, reference multivectors for the
symmetry breakers, a global token; see :mod:`madsbi.nn.lgatr_config`) and returns the global
token's scalar outputs. :class:`LGATrEnsemble` holds M members in a ``ModuleList`` (the
``lgatr`` layers cannot stack members' weights per layer like
:class:`~madsbi.nn.ensemble.EnsembleMLP`) and regularises them with the same function-space
repulsion, :func:`madsbi.nn.ensemble.repulsion`.

Inputs must reach the network with their four-momenta scaled by one common factor and not
shifted (a shift would break Lorentz covariance): :class:`LorentzStandardiser` does that and
standardises the scalar columns as usual.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from madsbi.errors import OptionalDependencyError
from madsbi.nn.ensemble import repulsion
from madsbi.nn.lgatr_config import LGATrConfig, TokenLayout, resolve_layout
from madsbi.nn.standardise import Standardiser

#: Output vectors of the slim variant's global token whose Minkowski products feed the output.
READOUT_VECTORS = 4


def _lgatr() -> Any:
    try:
        import lgatr
    except ImportError:
        raise OptionalDependencyError(
            "network.kind = 'lgatr' needs the lgatr package: pip install 'madsbi[lgatr]'"
        ) from None
    return lgatr


def reference_vectors(config: LGATrConfig, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The reference multivectors of ``config`` (R, 16): beam, then time direction."""
    lg = _lgatr()
    beam = None if config.beam_reference == "none" else config.beam_reference
    refs: torch.Tensor = lg.get_spurions(
        beam_spurion=beam,
        add_time_spurion=config.time_reference,
        beam_mirror=config.beam_reference == "lightlike",
        dtype=dtype,
    )
    return refs


class LGATrMember(nn.Module):
    """One L-GATr network: inputs (B, d) → global-token scalars (B, n_out).

    Parameters
    ----------
    config : LGATrConfig
    n_in, n_out : int
    """

    references: torch.Tensor
    _momentum_index: torch.Tensor
    _token_scalar_index: torch.Tensor
    _global_index: torch.Tensor

    def __init__(self, config: LGATrConfig, n_in: int, n_out: int) -> None:
        super().__init__()
        lg = _lgatr()
        self.config = config
        self.layout: TokenLayout = resolve_layout(config, n_in)
        self.n_out = n_out
        p = self.layout.n_tokens
        self.n_scalars = (p + 1) + self.layout.n_token_scalars + len(self.layout.global_scalars)
        self.register_buffer(
            "references", reference_vectors(config, torch.float32), persistent=False
        )
        n_vec = 1 + config.n_references
        self.readout: nn.Linear | None = None
        if config.variant == "slim":
            # The slim variant's scalar stream sees the vectors only through attention
            # weights; the readout adds the Minkowski products of the global token's output
            # vectors (Lorentz scalars), which a regression of invariants needs.
            n_gram = READOUT_VECTORS * (READOUT_VECTORS + 1) // 2
            self.readout = nn.Linear(n_gram, n_out, bias=False)
            self.net = lg.LGATrSlim(
                num_blocks=config.blocks,
                in_v_channels=n_vec,
                out_v_channels=READOUT_VECTORS,
                hidden_v_channels=config.vector_channels,
                in_s_channels=self.n_scalars,
                out_s_channels=n_out,
                hidden_s_channels=config.scalar_channels,
                num_heads=config.heads,
            )
        else:
            self.net = lg.LGATr(
                num_blocks=config.blocks,
                in_mv_channels=n_vec,
                out_mv_channels=n_out,
                hidden_mv_channels=config.vector_channels,
                in_s_channels=self.n_scalars,
                out_s_channels=n_out,
                hidden_s_channels=config.scalar_channels,
                attention={"num_heads": config.heads},
                mlp={},
                # On a CPU the dense geometric product is ~1.6× faster (docs/design.md).
                primitives={"sparse_gp": False},
            )
        gather = [c if c >= 0 else n_in for mom in self.layout.momenta for c in mom]
        self.register_buffer("_momentum_index", torch.tensor(gather), persistent=False)
        width = self.layout.n_token_scalars
        token_cols = [list(s) + [n_in] * (width - len(s)) for s in self.layout.token_scalars]
        self.register_buffer(
            "_token_scalar_index", torch.tensor(token_cols, dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "_global_index",
            torch.tensor(self.layout.global_scalars, dtype=torch.long),
            persistent=False,
        )

    def tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectors (B, P+1, 1+R, 4) and scalars (B, P+1, S) of the tokens; item 0 is global.

        Channel 0 of the vectors is the four-momentum (zero for the global token), channels
        1 … R the reference vectors (the same for every token).
        """
        b, p = x.shape[0], self.layout.n_tokens
        padded = torch.cat([x, x.new_zeros(b, 1)], dim=1)  # column n_in is the zero column
        momenta = padded[:, self._momentum_index].reshape(b, p, 4)
        momenta = torch.cat([momenta.new_zeros(b, 1, 4), momenta], dim=1)
        refs = self.references.to(x.dtype)
        if self.config.variant == "slim":
            refs = refs[:, 1:5]  # the reference vectors as Lorentz vectors (t, x, y, z)
            vectors = momenta.unsqueeze(2)
        else:
            vectors = _lgatr().embed_vector(momenta).unsqueeze(2)
        refs = refs.expand(b, p + 1, *refs.shape)
        vectors = torch.cat([vectors, refs], dim=2)
        flags = torch.eye(p + 1, dtype=x.dtype, device=x.device).expand(b, p + 1, p + 1)
        token_s = padded[:, self._token_scalar_index]  # (B, P, width)
        token_s = torch.cat([token_s.new_zeros(b, 1, token_s.shape[2]), token_s], dim=1)
        global_s = x[:, self._global_index].unsqueeze(1).expand(b, p + 1, -1)
        scalars = torch.cat([flags, token_s, global_s], dim=2)
        return vectors, scalars

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scalar outputs (B, n_out) of the global token for standardised inputs (B, d)."""
        vectors, scalars = self.tokens(x)
        out_v, out_s = self.net(vectors, scalars)
        result: torch.Tensor = out_s[:, 0, :]
        if self.readout is None:
            # Full L-GATr: plus the scalar grade of the global token's output multivectors,
            # the paper's readout (Sec. 2.4).
            result = result + out_v[:, 0, :, 0]
        else:
            v = out_v[:, 0]  # (B, V, 4) of the global token
            metric = torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=v.dtype, device=v.device)
            gram = torch.einsum("bvi,bwi->bvw", v * metric, v)
            rows, cols = torch.triu_indices(v.shape[1], v.shape[1], device=v.device)
            result = result + self.readout(gram[:, rows, cols])
        return result


class LGATrEnsemble(nn.Module):
    """M L-GATr members trained jointly with function-space repulsion: (B, d) → (M, B, n_out).

    Parameters
    ----------
    config : LGATrConfig
    n_in, n_out : int
    members : int
        M; with M = 1 a single network without regulariser.
    repulsion_strength : float
        λ of the repulsion term λ/N_train · :func:`~madsbi.nn.ensemble.repulsion` (the same
        term and scale as :class:`~madsbi.nn.ensemble.EnsembleMLP`).
    """

    def __init__(
        self,
        config: LGATrConfig,
        n_in: int,
        n_out: int,
        members: int = 1,
        repulsion_strength: float = 0.0,
    ) -> None:
        super().__init__()
        self.members = nn.ModuleList(LGATrMember(config, n_in, n_out) for _ in range(members))
        self.n_members = members
        self.repulsion_strength = float(repulsion_strength)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions (M, B, n_out) of all members."""
        return torch.stack([member(x) for member in self.members])

    def regulariser(self, predictions: torch.Tensor, n_train: int) -> torch.Tensor:
        """Repulsion on this batch's predictions, scaled by strength / n_train (zero for M = 1)."""
        if self.repulsion_strength == 0.0 or self.n_members < 2:
            return predictions.new_zeros(())
        return self.repulsion_strength / n_train * repulsion(predictions)


class LorentzStandardiser(Standardiser):
    """Standardiser that keeps four-momenta Lorentz-covariant.

    The momentum columns get mean 0 and one common scale (the weighted root mean square of
    all their entries), which commutes with every Lorentz transformation; the other
    columns are standardised one by one as in :class:`Standardiser`.

    Parameters
    ----------
    n_features : int
    momentum_columns : sequence of int
    """

    def __init__(self, n_features: int, momentum_columns: tuple[int, ...]) -> None:
        super().__init__(n_features)
        self.momentum_columns = tuple(int(c) for c in momentum_columns)

    @torch.no_grad()
    def fit(
        self, values: torch.Tensor, weights: torch.Tensor | None = None, *, center: bool = True
    ) -> LorentzStandardiser:
        """Fit as :meth:`Standardiser.fit`, then set mean 0 and one scale for the momenta."""
        super().fit(values, weights, center=center)
        cols = list(self.momentum_columns)
        if not cols:
            return self
        v = values.to(torch.float64)[:, cols]
        w = torch.ones(v.shape[0], dtype=torch.float64) if weights is None else weights
        w = w.to(torch.float64)
        rms = ((w[:, None] * v**2).sum() / (w.sum() * len(cols))).sqrt()
        self.mean[cols] = 0.0
        self.scale[cols] = rms if rms > 0 else 1.0
        return self
