"""The NB-201 search network (supernet), algorithm-agnostic.

``forward(x, weights)`` takes the already-normalised mixing weights of the
``"cell"`` group: ``[6, 5]`` (shared by the batch) or ``[B, 6, 5]``
(per-example architectures). Every cell of the network uses the same weights.

Two computation paths share one set of parameters:
- fused (default): per source node one ReLU, one convolution over the
  concatenated 1x1 (embedded in 3x3) and 3x3 kernels of all outgoing edges,
  one BN call over the concatenated channels, one pooling; ``none`` skipped
  (its output is zero, so skipping it changes neither the value nor any
  gradient). BN without affine parameters normalises channels independently,
  so one call over the concatenation is exact.
- eager (``fused=False``): the textbook per-edge, per-op loop; the reference
  that the fused path is tested and benchmarked against.

``active`` optionally names one op per edge; all other ops are skipped. That
equals the dense result when the weights are zero off the active entries
(one-hot or straight-through weights as in GDAS / RS-ws) and saves 4/5 of
the work.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.nb201.ops import ReLUConvBN, Skeleton, avg_pool_3x3
from search_spaces.nb201.space import EDGES, OPS
from search_spaces.space import SupernetConfig

NONE, SKIP, CONV1, CONV3, POOL = range(len(OPS))
NUM_NODES = 4


class MixedEdge(nn.Module):
    """Parameters of one edge: the 1x1 and 3x3 ReLU-Conv-BN ops."""

    def __init__(self, c: int, affine: bool, track: bool) -> None:
        super().__init__()
        self.conv1 = ReLUConvBN(c, c, 1, 1, affine, track)
        self.conv3 = ReLUConvBN(c, c, 3, 1, affine, track)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` channel groups: ``[B, C, H, W] -> [B, C, H, W]``."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class SearchCell(nn.Module):
    """Four-node NB-201 cell whose six edges each mix all five ops.

    With ``partial`` = K > 1 (PC-DARTS) each edge mixes its ops on the first
    C/K channels only, concatenates the untouched rest and shuffles channels.
    """

    def __init__(self, c: int, affine: bool, track: bool, fused: bool, partial: int = 1) -> None:
        super().__init__()
        if c % partial:
            raise ValueError(f"channels {c} not divisible by partial_channels {partial}")
        self.c, self.fused, self.partial = c // partial, fused, partial
        self.edges = nn.ModuleList(MixedEdge(c // partial, affine, track) for _ in EDGES)
        # edges leaving each source node, in edge order
        self.out_edges = [[e for e, (_, s) in enumerate(EDGES) if s == src] for src in range(NUM_NODES - 1)]

    def forward(self, x: torch.Tensor, w: torch.Tensor, active: Sequence[int] | None,
                edge_norm: torch.Tensor | None = None) -> torch.Tensor:
        nodes = [x]
        acc: list[torch.Tensor | float] = [0.0] * NUM_NODES
        for src in range(NUM_NODES - 1):
            h = nodes[src] if src == 0 else acc[src]
            if src > 0:
                nodes.append(h)
            if self.partial > 1:
                outs = self._partial_edges(h, w, src, active)
            else:
                outs = (self._fused_edges if self.fused else self._eager_edges)(h, w, src, active)
            for e, y in outs.items():
                if edge_norm is not None:
                    y = edge_norm[e] * y
                acc[EDGES[e][0]] = acc[EDGES[e][0]] + y
        out = acc[NUM_NODES - 1]
        return out if torch.is_tensor(out) else torch.zeros_like(x)

    @staticmethod
    def _coef(w: torch.Tensor, e: int, k: int) -> torch.Tensor:
        c = w[..., e, k]
        return c.view(-1, 1, 1, 1) if c.dim() == 1 else c

    def _partial_edges(self, h, w, src, active):
        hp, rest = h[:, : self.c], h[:, self.c:]
        mixed = self._eager_edges(hp, w, src, active)
        return {e: channel_shuffle(torch.cat([y if torch.is_tensor(y) else hp * 0.0, rest], 1), self.partial)
                for e, y in mixed.items()}

    def _eager_edges(self, h, w, src, active):
        out = {}
        for e in self.out_edges[src]:
            edge, terms = self.edges[e], []
            for k in (range(len(OPS)) if active is None else (active[e],)):
                if k == NONE:
                    terms.append(self._coef(w, e, k) * h.mul(0.0))
                elif k == SKIP:
                    terms.append(self._coef(w, e, k) * h)
                elif k == CONV1:
                    terms.append(self._coef(w, e, k) * edge.conv1(h))
                elif k == CONV3:
                    terms.append(self._coef(w, e, k) * edge.conv3(h))
                else:
                    terms.append(self._coef(w, e, k) * avg_pool_3x3(h))
            out[e] = sum(terms)
        return out

    def _fused_edges(self, h, w, src, active):
        edges = self.out_edges[src]
        ops = {e: (range(1, len(OPS)) if active is None else (active[e],)) for e in edges}
        convs = [(e, k) for e in edges for k in ops[e] if k in (CONV1, CONV3)]
        conv_out = self._fused_convs(h, convs) if convs else {}
        pooled = avg_pool_3x3(h) if any(POOL in ops[e] for e in edges) else None
        out = {}
        for e in edges:
            terms = []
            for k in ops[e]:
                if k == SKIP:
                    terms.append(self._coef(w, e, k) * h)
                elif k == POOL:
                    terms.append(self._coef(w, e, k) * pooled)
                elif k in (CONV1, CONV3):
                    terms.append(self._coef(w, e, k) * conv_out[(e, k)])
            # an all-`none` edge contributes exactly zero
            out[e] = sum(terms) if terms else 0.0 * self._coef(w, e, NONE) * h
        return out

    def _fused_convs(self, h: torch.Tensor, convs: list[tuple[int, int]]) -> dict[tuple[int, int], torch.Tensor]:
        mods = [self.edges[e].conv1 if k == CONV1 else self.edges[e].conv3 for e, k in convs]
        kernels = [F.pad(m.conv.weight, (1, 1, 1, 1)) if m.conv.kernel_size[0] == 1 else m.conv.weight for m in mods]
        bias = torch.cat([m.conv.bias for m in mods]) if mods[0].conv.bias is not None else None
        y = F.conv2d(F.relu(h), torch.cat(kernels), bias, padding=1)
        bns = [m.bn for m in mods]
        bn0 = bns[0]
        weight = torch.cat([b.weight for b in bns]) if bn0.affine else None
        bnbias = torch.cat([b.bias for b in bns]) if bn0.affine else None
        if bn0.track_running_stats:
            rm = torch.cat([b.running_mean for b in bns])
            rv = torch.cat([b.running_var for b in bns])
            y = F.batch_norm(y, rm, rv, weight, bnbias, self.training, bn0.momentum, bn0.eps)
            if self.training:
                with torch.no_grad():
                    for b, m_, v_ in zip(bns, rm.split(self.c), rv.split(self.c)):
                        b.running_mean.copy_(m_)
                        b.running_var.copy_(v_)
                        b.num_batches_tracked += 1
        else:
            y = F.batch_norm(y, None, None, weight, bnbias, True, 0.0, bn0.eps)
        return dict(zip(convs, y.split(self.c, dim=1)))


class NB201Supernet(Skeleton):
    """NB-201 search network: stem, 3 x ``depth`` search cells, 2 ResNet blocks, head.

    Args:
        config: ``channels`` (C, 16 in the protocol), ``depth`` (cells per stage, 5),
            ``track_running_stats`` / ``affine`` for the search cells' BN.
        fused: Use the fused mixed-op path (same parameters as the eager one).
    """

    #: ``forward`` accepts ``active`` (one op per edge) to skip unselected ops.
    supports_active = True
    #: Rows of each weight group grouped by target node (for per-node edge normalisation).
    edge_targets = {"cell": [[0], [1, 2], [3, 4, 5]]}

    def __init__(self, config: SupernetConfig, fused: bool = True) -> None:
        super().__init__(config.channels, config.depth, config.in_channels, config.num_classes,
                         lambda c: SearchCell(c, config.affine, config.track_running_stats, fused,
                                              config.partial_channels))
        self.config = config

    def set_fused(self, fused: bool) -> None:
        """Switch between the fused and the eager computation (same parameters)."""
        for m in self.modules():
            if isinstance(m, SearchCell):
                m.fused = fused

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor],
                active: dict[str, Sequence[int]] | None = None) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of ``x`` ``[B, C, H, W]`` under ``weights["cell"]``
        (``[6, 5]`` or ``[B, 6, 5]``); ``active["cell"]`` optionally names one op per edge."""
        w = weights["cell"]
        act = None if active is None else [int(a) for a in active["cell"]]
        en = weights.get("edge_norm:cell")
        h = self.stem(x)
        for layer in self.layers:
            h = layer(h, w, act, en) if isinstance(layer, SearchCell) else layer(h)
        h = self.last(h)
        return self.classifier(h.mean(dim=(2, 3)))
