"""The DARTS search network (supernet), algorithm-agnostic and driven by a ``CellSpec``.

Skeleton (DARTS): stem 3x3 conv to 3C + BN, ``depth`` cells, global average
pooling, linear head. Reduction cells sit at ``depth // 3`` and
``2 * depth // 3`` (channels double, resolution halves); for ``depth < 3``
there are no reduction cells, so the reduction group's weights are unused.
Each cell preprocesses c_{k-2} (FactorizedReduce after a reduction cell,
else ReLU-Conv1x1-BN) and c_{k-1} (ReLU-Conv1x1-BN) to C channels, runs its
mixed edges and concatenates its intermediate nodes.

Two computation paths share one set of parameters: the fused mixed ops of
``search_spaces.darts.fused`` (default) and the textbook per-edge, per-op
loop (``set_fused(False)``), which the fused path is tested against.

``forward(x, weights, active=None)``: ``weights[group]`` is ``[edges, options]``
or per-example ``[B, edges, options]``, already normalised by the caller.
An edge's output is ``sum_k w[e, k] * op_k(h)``; ``none`` is skipped since it
contributes exactly zero (value and gradient). ``active[group][e] = k``
computes only op ``k`` of edge ``e`` (``k < 0``: skip the edge), which equals
the dense result when the other weights of that row are zero.

PC-DARTS support: ``weights["edge_norm:<group>"]`` (``[edges]``, optional)
multiplies each edge's output; ``edge_targets`` lists each node's incoming
rows per group. With ``config.partial_channels = K > 1`` the mixed ops of an
edge see only the first C/K channels; the rest bypass them (max-pooled on
strided edges) and the channels are shuffled, so an edge then passes its
bypassed channels even when its op weights are all zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from search_spaces.darts.fused import fused_cell
from search_spaces.darts.ops import FactorizedReduce, ReLUConvBN, drop_path, make_op
from search_spaces.darts.spaces import CellSpec
from search_spaces.space import SupernetConfig

#: Stem width is this multiple of ``config.channels`` (DARTS).
STEM_MULTIPLIER = 3


def reduction_cells(depth: int) -> frozenset[int]:
    """Indices of reduction cells: ``depth//3`` and ``2*depth//3``, none when ``depth < 3``."""
    return frozenset({depth // 3, 2 * depth // 3}) if depth >= 3 else frozenset()


def _coef(w: torch.Tensor, e: int, k: int) -> torch.Tensor:
    """Weight of op ``k`` on edge ``e``: a scalar, or ``[B, 1, 1, 1]`` for per-example weights."""
    c = w[..., e, k]
    return c.view(-1, 1, 1, 1) if c.dim() == 1 else c


def _edge_coef(edge_norm: torch.Tensor, e: int) -> torch.Tensor:
    """Edge weight ``edge_norm[..., e]``: a scalar, or ``[B, 1, 1, 1]`` for ``[B, edges]``."""
    c = edge_norm[..., e]
    return c.view(-1, 1, 1, 1) if c.dim() == 1 else c


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` channel groups: ``[B, C, H, W] -> [B, C, H, W]``."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class SearchCell(nn.Module):
    """One cell whose edges mix all ops of their option lists.

    Args:
        spec: Topology of the space.
        options: Op names per edge (the group of this cell type).
        c_pp, c_p: Channels of c_{k-2} and c_{k-1}.
        c: Channels of every node in this cell.
        reduction: Stride 2 on the edges leaving the cell inputs.
        reduction_prev: The previous cell reduced, so c_{k-2} is twice as large.
        affine, track: BN settings of the search model.
        partial: PC-DARTS K (1 = mixed ops see all channels).
    """

    def __init__(self, spec: CellSpec, options: Sequence[Sequence[str]], c_pp: int, c_p: int, c: int,
                 reduction: bool, reduction_prev: bool, affine: bool, track: bool, partial: int = 1) -> None:
        super().__init__()
        if c % partial:
            raise ValueError(f"channels {c} not divisible by partial_channels {partial}")
        self.spec, self.reduction, self.partial = spec, reduction, partial
        self.fused = True
        self.pre0 = (FactorizedReduce(c_pp, c, affine, track) if reduction_prev
                     else ReLUConvBN(c_pp, c, 1, 1, affine, track))
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, affine, track)
        self.names = [tuple(opts) for opts in options]
        self.edges = nn.ModuleList()
        for (_, src), opts in zip(spec.edges, options):
            stride = 2 if reduction and src < 2 else 1
            self.edges.append(nn.ModuleList(make_op(n, c // partial, stride, affine, track, search=True)
                                            for n in opts))
        # ceil_mode so that bypassed channels match the ops' ceil(H/2) on odd sizes
        self.bypass = nn.MaxPool2d(2, 2, ceil_mode=True) if partial > 1 and reduction else None
        self.node_edges = [[e for e, (n, _) in enumerate(spec.edges) if n == node] for node in range(spec.steps)]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, w: torch.Tensor, active: Sequence[int] | None,
                drop_prob: float, edge_norm: torch.Tensor | None = None) -> torch.Tensor:
        """``s0 [B, c_pp, H0, W0]``, ``s1 [B, c_p, H, W]``, ``w [E, K]`` or ``[B, E, K]``,
        ``edge_norm [E]`` or ``[B, E]`` -> ``[B, steps * c, H', W']`` (``H' = ceil(H/2)`` in a reduction cell)."""
        states = [self.pre0(s0), self.pre1(s1)]
        if self.fused and self.partial == 1 and not (self.training and drop_prob > 0.0):
            return fused_cell(self, states, w if edge_norm is None else w * edge_norm.unsqueeze(-1), active)
        for node in range(self.spec.steps):
            acc: torch.Tensor | None = None
            for e in self.node_edges[node]:
                src = self.spec.edges[e][1]
                if self.partial == 1:
                    y = self._edge(e, states[src], w, active, drop_prob)
                else:
                    y = self._partial_edge(e, states[src], src, w, active, drop_prob)
                if y is not None and edge_norm is not None:
                    y = _edge_coef(edge_norm, e) * y
                if y is not None:
                    acc = y if acc is None else acc + y
            states.append(acc if acc is not None else self._zeros(states[1]))
        return torch.cat(states[2:], dim=1)

    def _zeros(self, h: torch.Tensor) -> torch.Tensor:
        # A node whose edges all contribute nothing outputs zeros of node shape.
        s = 2 if self.reduction else 1
        return h[:, :, ::s, ::s].mul(0.0)

    def _partial_edge(self, e: int, h: torch.Tensor, src: int, w: torch.Tensor, active: Sequence[int] | None,
                      drop_prob: float) -> torch.Tensor:
        # PC-DARTS: mix ops on the first C/K channels, bypass the rest, shuffle.
        cp = h.shape[1] // self.partial
        hp, rest = h[:, :cp], h[:, cp:]
        strided = self.reduction and src < 2
        if strided:
            rest = self.bypass(rest)
        mixed = self._edge(e, hp, w, active, drop_prob)
        if mixed is None:
            s = 2 if strided else 1
            mixed = hp[:, :, ::s, ::s].mul(0.0)
        return channel_shuffle(torch.cat([mixed, rest], dim=1), self.partial)

    def _edge(self, e: int, h: torch.Tensor, w: torch.Tensor, active: Sequence[int] | None,
              drop_prob: float) -> torch.Tensor | None:
        if active is None:
            ks: Sequence[int] = range(len(self.names[e]))
        else:
            ks = () if active[e] < 0 else (int(active[e]),)
        out: torch.Tensor | None = None
        for k in ks:
            if self.names[e][k] == "none":
                continue
            y = _coef(w, e, k) * self.edges[e][k](h)
            out = y if out is None else out + y
        if out is not None and self.training and drop_prob > 0.0:
            # RobustDARTS src/search/model_search.py Cell.forward: drop-path on each edge's whole mixed-op
            # output (every op, skip included), one keep/drop coin per example
            out = drop_path(out, drop_prob)
        return out


class DartsSupernet(nn.Module):
    """DARTS search network over a ``CellSpec``: ``[B, C_in, H, W] -> [B, num_classes]``.

    Args:
        spec: Topology and op lists of the space.
        config: ``channels`` (C), ``depth`` (cells), input/output sizes and
            the search cells' BN settings (``affine``, ``track_running_stats``).

    Attributes:
        drop_path_prob: Drop-path probability of each edge's whole mixed-op output in training (default 0;
            RobustDARTS `Cell.forward`).
    """

    #: ``forward`` accepts ``active`` (one op per row) to skip unselected ops.
    supports_active = True
    #: Per group, per intermediate node: the rows (edges) entering it (PC-DARTS edge normalisation).
    edge_targets: dict[str, list[list[int]]]

    def __init__(self, spec: CellSpec, config: SupernetConfig) -> None:
        super().__init__()
        self.spec, self.config = spec, config
        self.drop_path_prob = 0.0
        self.edge_targets = {g: [[e for e, (n, _) in enumerate(spec.edges) if n == node] for node in range(spec.steps)]
                             for g in spec.groups}
        c = config.channels
        c_stem = STEM_MULTIPLIER * c
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, c_stem, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_stem))
        reductions = reduction_cells(config.depth)
        c_pp, c_p, c_cur, red_prev = c_stem, c_stem, c, False
        self.cells = nn.ModuleList()
        self.cell_groups: list[str] = []
        for i in range(config.depth):
            red = i in reductions
            if red:
                c_cur *= 2
            group = spec.group_of(red)
            self.cells.append(SearchCell(spec, spec.options[group], c_pp, c_p, c_cur, red, red_prev,
                                         config.affine, config.track_running_stats, config.partial_channels))
            self.cell_groups.append(group)
            c_pp, c_p, red_prev = c_p, spec.steps * c_cur, red
        self.classifier = nn.Linear(c_p, config.num_classes)

    def set_fused(self, fused: bool) -> None:
        """Switch between the fused mixed ops (``search_spaces.darts.fused``) and the per-op loop."""
        for cell in self.cells:
            cell.fused = fused

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor],
                active: dict[str, Sequence[int]] | None = None) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of ``x [B, C_in, H, W]`` under ``weights`` (see module doc)."""
        act = None if active is None else {g: [int(k) for k in v] for g, v in active.items()}
        s0 = s1 = self.stem(x)
        for cell, group in zip(self.cells, self.cell_groups):
            s0, s1 = s1, cell(s0, s1, weights[group], None if act is None else act[group], self.drop_path_prob,
                              weights.get(f"edge_norm:{group}"))
        return self.classifier(s1.mean(dim=(2, 3)))
