"""The NB-201 search network (supernet), algorithm-agnostic.

``forward(x, weights)`` takes the already-normalised mixing weights of the
``"cell"`` group: ``[6, 5]`` (shared by the batch) or ``[B, 6, 5]``
(per-example architectures). Every cell of the network uses the same weights.

Two computation paths share one set of parameters:
- fused (default): per source node one ReLU, one convolution over the
  concatenated 3x3 kernels of all outgoing edges and one over their 1x1
  kernels, one BN call per convolution (on the CPU with row-reduced batch
  statistics, ``search_spaces.batch_norm``), one pooling (on the CPU box sums by
  a depthwise conv whose division by the in-image counts folds into the
  pool's mixing weight, ``search_spaces.depthwise.avg_pool_3x3_factored``);
  the first term of each node taken as is (no copy); ``none`` skipped
  (its output is zero, so skipping it changes neither the value nor any
  gradient). BN without affine parameters normalises channels independently,
  so one call over the concatenation is exact.
- eager (``fused=False``): the textbook per-edge, per-op loop; the reference
  that the fused path is tested and benchmarked against.

``active`` optionally names one op per edge; all other ops are skipped. That
equals the dense result when the weights are zero off the active entries
(one-hot or straight-through weights as in GDAS / RS-ws) and saves 4/5 of
the work. With ``unselected_terms=True`` every skipped op still adds its
mixing weight itself (not times an output) to the edge's target node, as
AutoDL's NB-201 ``SearchCell.forward_gdas`` does: the term's value is the
weight (zero for straight-through weights off the sample) and its gradient
with respect to that weight is the sum of the node's output gradient.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.depthwise import avg_pool_3x3_factored
from search_spaces.fusion import cat_params, concat_batch_norm, pointwise_conv2d, select_weights
from search_spaces.nb201.cell import EDGES, OPS
from search_spaces.nb201.ops import ReLUConvBN, Skeleton, avg_pool_3x3
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
        self._plans: dict[tuple, tuple] = {}  # see _fused_plan
        # plain lists: lookups through ModuleList and Module.__getattr__ are slow Python on every call
        self._ops = {CONV3: [m.conv3 for m in self.edges], CONV1: [m.conv1 for m in self.edges]}

    def forward(self, x: torch.Tensor, w: torch.Tensor, active: Sequence[int] | None,
                edge_norm: torch.Tensor | None = None,
                node_terms: list[torch.Tensor | None] | None = None) -> torch.Tensor:
        """``node_terms[t]`` (0-d or ``[B, 1, 1, 1]``) is added to node ``t`` (see ``unselected_node_terms``)."""
        nodes = [x]
        acc: list[torch.Tensor | float] = [0.0] * NUM_NODES
        for src in range(NUM_NODES - 1):
            h = nodes[src] if src == 0 else acc[src]
            if src > 0 and node_terms is not None and node_terms[src] is not None:
                h = h + node_terms[src]
            if src > 0:
                nodes.append(h)
            if self.fused and self.partial == 1:
                self._fused_source(h, w if edge_norm is None else w * edge_norm.unsqueeze(-1), src, active, acc)
                continue
            if self.partial > 1:
                outs = self._partial_edges(h, w, src, active)
            else:
                outs = self._eager_edges(h, w, src, active)
            for e, y in outs.items():
                if edge_norm is not None:
                    y = edge_norm[e] * y
                acc[EDGES[e][0]] = acc[EDGES[e][0]] + y
        out = acc[NUM_NODES - 1]
        out = out if torch.is_tensor(out) else torch.zeros_like(x)
        if node_terms is not None and node_terms[NUM_NODES - 1] is not None:
            out = out + node_terms[NUM_NODES - 1]
        return out

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

    def _fused_plan(self, src: int, active: Sequence[int] | None) -> tuple:
        """Which edges leaving ``src`` run which op under ``active``, worked out once per (src, choice).

        ``(convs, pool, terms, coefs)``: ``convs`` lists ``(kind, edges, (edge, kind) entries)`` per
        convolution kind that some edge runs; ``pool`` whether any edge pools; ``terms`` lists
        ``(edge, target, pools, skips, all_none)`` in edge order; ``coefs`` the ``(edge, kind)``
        entries of the pool and skip terms in the order ``terms`` uses them.
        """
        edges = self.out_edges[src]
        key = (src, None if active is None else tuple(active[e] for e in edges))
        plan = self._plans.get(key)
        if plan is None:
            ops = {e: (range(1, len(OPS)) if active is None else (active[e],)) for e in edges}
            convs = tuple((kind, tuple(g), tuple((e, kind) for e in g))
                          for kind in (CONV3, CONV1) for g in [[e for e in edges if kind in ops[e]]] if g)
            terms = tuple((e, EDGES[e][0], POOL in ops[e], SKIP in ops[e], not any(k != NONE for k in ops[e]))
                          for e in edges)
            coefs = tuple((e, k) for e, _, pool, skip, _ in terms for k, on in ((POOL, pool), (SKIP, skip)) if on)
            plan = self._plans[key] = (convs, any(t[2] for t in terms), terms, coefs)
        return plan

    def _fused_source(self, h: torch.Tensor, w: torch.Tensor, src: int, active: Sequence[int] | None,
                      acc: list[torch.Tensor | float]) -> None:
        """Add the weighted op outputs of every edge leaving node ``src`` to ``acc[target]``."""
        convs, pools, terms, coef_entries = self._fused_plan(src, active)
        shared = w.dim() == 2  # one architecture for the batch: fold weights into BN's scale
        relu_h = F.relu(h) if convs else None
        for kind, group, entries in convs:
            mods = [self._ops[kind][e] for e in group]
            y = self._conv_bn(relu_h, mods, select_weights(w, entries) if shared else None)
            # a single edge's output is used whole: split's backward would copy its gradient
            for e, y_e in zip(group, y.split(self.c, dim=1) if len(group) > 1 else (y,)):
                t, y_e = EDGES[e][0], (y_e if shared else self._coef(w, e, kind) * y_e)
                acc[t] = acc[t] + y_e if torch.is_tensor(acc[t]) else y_e  # no copy for a node's first term
        # pooled = box_sums * inv_count; the reciprocal counts fold into the pool's coefficient
        box_sums, inv_count = avg_pool_3x3_factored(h) if pools else (None, None)
        # the pool and skip coefficients in one gather (two selects per coefficient cost more, backward above all)
        coefs = iter(select_weights(w, coef_entries).unbind(-1) if coef_entries else ())
        for e, t, pool, skip, all_none in terms:
            if pool:
                c_pool = next(coefs) if shared else next(coefs).view(-1, 1, 1, 1)
                c_pool = c_pool if inv_count is None else c_pool * inv_count
                acc[t] = torch.addcmul(acc[t], c_pool, box_sums) if torch.is_tensor(acc[t]) else c_pool * box_sums
            if skip:
                c_skip = next(coefs) if shared else next(coefs).view(-1, 1, 1, 1)
                acc[t] = torch.addcmul(acc[t], c_skip, h) if torch.is_tensor(acc[t]) else c_skip * h
            if all_none:  # an all-`none` edge contributes exactly zero
                acc[t] = acc[t] + 0.0 * self._coef(w, e, NONE) * h

    def _conv_bn(self, h: torch.Tensor, mods: list[ReLUConvBN], scale: torch.Tensor | None) -> torch.Tensor:
        """Conv-BN of several same-kernel ops on one (already ReLU'd) input, channels concatenated.

        One convolution per kernel size: 1x1 kernels padded into 3x3 would cost 9x their FLOPs,
        which a compute-bound CPU pays in full. ``scale`` (``[len(mods)]``, optional) multiplies
        each op's output (folded into BN, see ``search_spaces.fusion``).
        """
        conv0 = mods[0].conv
        bias = cat_params([m.conv.bias for m in mods]) if conv0.bias is not None else None
        weight = cat_params([m.conv.weight for m in mods])
        y = (pointwise_conv2d(h, weight, bias) if conv0.kernel_size == (1, 1)
             else F.conv2d(h, weight, bias, padding=conv0.padding))
        return concat_batch_norm(y, [m.bn for m in mods], scale, self.training)


def unselected_node_terms(w: torch.Tensor, active: Sequence[int], edge_norm: torch.Tensor | None = None
                          ) -> list[torch.Tensor | None]:
    """Per node, the sum of the weights of the ops ``active`` skips on its incoming edges.

    ``w``: ``[6, 5]`` or ``[B, 6, 5]``; returns one 0-d (or ``[B, 1, 1, 1]``) tensor per node
    (None for the input node). ``edge_norm`` ``[6]`` / ``[B, 6]`` scales each edge's terms.
    """
    mask = torch.ones(w.shape[-2:], dtype=w.dtype, device=w.device)
    mask[torch.arange(len(active)), torch.tensor(active)] = 0.0
    per_edge = (w * mask).sum(-1)  # [6] or [B, 6]
    if edge_norm is not None:
        per_edge = per_edge * edge_norm
    out: list[torch.Tensor | None] = [None] * NUM_NODES
    for e, (t, _) in enumerate(EDGES):
        term = per_edge[..., e]
        out[t] = term if out[t] is None else out[t] + term
    return [None if t is None else (t.view(-1, 1, 1, 1) if t.dim() == 1 else t) for t in out]


class NB201Supernet(Skeleton):
    """NB-201 search network: stem, 3 x ``depth`` search cells, 2 ResNet blocks, head.

    Args:
        config: ``channels`` (C, 16 in the protocol), ``depth`` (cells per stage, 5),
            ``track_running_stats`` / ``affine`` for the search cells' BN.
        fused: Use the fused mixed-op path (same parameters as the eager one).
    """

    #: ``forward`` accepts ``active`` (one op per edge) to skip unselected ops.
    supports_active = True
    #: ``forward`` accepts ``unselected_terms`` (AutoDL's NB-201 GDAS forward, see the module doc).
    supports_unselected_terms = True
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
                active: dict[str, Sequence[int]] | None = None, unselected_terms: bool = False) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of ``x`` ``[B, C, H, W]`` under ``weights["cell"]``
        (``[6, 5]`` or ``[B, 6, 5]``); ``active["cell"]`` optionally names one op per edge;
        ``unselected_terms`` adds the skipped ops' weights as constants (module doc)."""
        w = weights["cell"]
        act = None if active is None else [int(a) for a in active["cell"]]
        en = weights.get("edge_norm:cell")
        terms = unselected_node_terms(w, act, en) if unselected_terms and act is not None else None
        h = self.stem(x)
        for layer in self.layers:
            h = layer(h, w, act, en, terms) if isinstance(layer, SearchCell) else layer(h)
        h = self.last(h)
        return self.classifier(h.mean(dim=(2, 3)))
