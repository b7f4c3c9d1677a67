"""S5 networks: the supernet (mixed edges) and the discrete network share one skeleton.

Skeleton (DARTS): stem 3x3 conv to 3C, ``depth`` cells with reduction cells at
``depth // 3`` and ``2 * depth // 3`` (channels double there), global pooling,
linear head. A cell preprocesses c_{k-2} (FactorizedReduce after a reduction)
and c_{k-1} with 1x1 ReLU-Conv-BN, then runs the 4 edges of ``space.EDGES``.

Supernet ``forward(x, weights, active=None)``: ``weights["cell"]`` is ``[4, 3]``
or per-example ``[B, 4, 3]`` (already normalised); ``active["cell"]`` optionally
names one op per edge, skipping the others (equal to the dense result for
one-hot weights). The supernet's cells run the fused mixed ops of
``search_spaces.darts.fused`` unless ``set_fused(False)`` selects the per-op loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from search_spaces.architecture import Architecture
from search_spaces.darts.fused import fused_cell
from search_spaces.darts.ops import FactorizedReduce, ReLUConvBN, make_op
from search_spaces.darts.spaces import S5_SPEC
from search_spaces.s5.cell import EDGES, OPS
from search_spaces.space import SupernetConfig

_NODE = {"k-2": 0, "k-1": 1, "n0": 2}


class Cell(nn.Module):
    """One S5 cell; ``arch`` None builds all ops per edge (supernet), else only the chosen one."""

    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool,
                 affine: bool, track: bool, arch: Architecture | None, partial: int = 1) -> None:
        super().__init__()
        if c % partial:
            raise ValueError(f"channels {c} not divisible by partial_channels {partial}")
        self.partial, self.cp = partial, c // partial
        self.pre0 = FactorizedReduce(c_pp, c, affine, track) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, affine, track)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, affine, track)
        self.arch = arch
        # what search_spaces.darts.fused reads: the same cell as the DARTS-spec S5, written as data
        self.spec, self.reduction, self.fused = S5_SPEC, reduction, True
        self.names = [OPS for _ in EDGES]
        self.edges = nn.ModuleList()
        for e, (_, src) in enumerate(EDGES):
            stride = 2 if reduction and src in ("k-2", "k-1") else 1
            names = OPS if arch is None else (OPS[arch.choices[e]],)
            self.edges.append(nn.ModuleList(make_op(n, c // partial, stride, affine, track) for n in names))
            if partial > 1 and stride == 2:
                self.add_module(f"bypass{e}", nn.MaxPool2d(2, 2))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, w: torch.Tensor | None,
                active: Sequence[int] | None, edge_norm: torch.Tensor | None = None) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        if w is not None and self.fused and self.partial == 1:
            return fused_cell(self, states, w if edge_norm is None else w * edge_norm.unsqueeze(-1), active)
        nodes: dict[str, torch.Tensor] = {}
        for target in ("n0", "n1"):
            acc = 0.0
            for e, (tgt, src) in enumerate(EDGES):
                if tgt != target:
                    continue
                h = states[_NODE[src]] if src != "n0" else nodes["n0"]
                y = self._edge(e, h, w, active) if self.partial == 1 else self._partial_edge(e, h, w, active)
                acc = acc + (y if edge_norm is None else edge_norm[e] * y)
            nodes[target] = acc
        return torch.cat([nodes["n0"], nodes["n1"]], dim=1)

    def _partial_edge(self, e: int, h: torch.Tensor, w: torch.Tensor, active) -> torch.Tensor:
        # PC-DARTS: mix ops on C/K channels, bypass the rest (max-pooled on reduction), shuffle
        from search_spaces.nb201.supernet import channel_shuffle

        hp, rest = h[:, : self.cp], h[:, self.cp:]
        if hasattr(self, f"bypass{e}"):
            rest = getattr(self, f"bypass{e}")(rest)
        return channel_shuffle(torch.cat([self._edge(e, hp, w, active), rest], 1), self.partial)

    def _edge(self, e: int, h: torch.Tensor, w: torch.Tensor | None, active: Sequence[int] | None) -> torch.Tensor:
        ops = self.edges[e]
        if w is None:  # discrete network
            return ops[0](h)
        ks = range(len(OPS)) if active is None else (active[e],)
        out = 0.0
        for k in ks:
            c = w[..., e, k]
            c = c.view(-1, 1, 1, 1) if c.dim() == 1 else c
            out = out + c * ops[k](h)
        return out


class S5Network(nn.Module):
    """S5 supernet (``arch`` None) or discrete network: ``[B, C_in, H, W] -> [B, K]``."""

    supports_active = True
    edge_targets = {"cell": [[0, 1], [2, 3]]}

    def __init__(self, config: SupernetConfig, arch: Architecture | None) -> None:
        super().__init__()
        c, depth = config.channels, config.depth
        self.arch, self.config = arch, config
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, 3 * c, 3, padding=1, bias=False), nn.BatchNorm2d(3 * c))
        c_pp, c_p, c_cur, red_prev = 3 * c, 3 * c, c, False
        self.cells = nn.ModuleList()
        reductions = {depth // 3, 2 * depth // 3} if depth >= 3 else set()
        for i in range(depth):
            red = i in reductions
            if red:
                c_cur *= 2
            self.cells.append(Cell(c_pp, c_p, c_cur, red, red_prev, config.affine, config.track_running_stats, arch,
                                   config.partial_channels))
            c_pp, c_p, red_prev = c_p, 2 * c_cur, red
        self.classifier = nn.Linear(c_p, config.num_classes)

    def set_fused(self, fused: bool) -> None:
        """Switch between the fused mixed ops (``search_spaces.darts.fused``) and the per-op loop."""
        for cell in self.cells:
            cell.fused = fused

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None,
                active: dict[str, Sequence[int]] | None = None) -> torch.Tensor:
        w = None if self.arch is not None else weights["cell"]
        act = None if active is None else [int(a) for a in active["cell"]]
        en = None if weights is None else weights.get("edge_norm:cell")
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w, act, en)
        return self.classifier(s1.mean(dim=(2, 3)))
