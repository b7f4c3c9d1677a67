"""The discrete NAS-Bench-101 network of one cell (``ModelSpec``).

Skeleton as NB-101: 3x3 conv-BN-ReLU stem of ``channels`` (128 in NB-101),
three stacks of ``depth`` cells (3), 2x2 max-pooling and channel doubling
between stacks, global average pooling, linear classifier.

Inside a cell (NB-101 semantics): the output width is split evenly among the
vertices feeding the output (remainder to the first ones); every other
interior vertex gets the largest width among its successors. Edges from the
input are 1x1 conv-BN-ReLU projections to the target's width; edges between
interior vertices truncate channels. A vertex applies its op to the sum of
its inputs. The output concatenates the vertices that feed it and adds a
projection of the input when the input feeds the output directly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.errors import ArchitectureError
from search_spaces.nb101.spec import CONV1X1, CONV3X3, MAXPOOL3X3, ModelSpec
from search_spaces.space import SupernetConfig


class ConvBnRelu(nn.Module):
    """Conv (no bias) -> BN -> ReLU, 'same' padding."""

    def __init__(self, c_in: int, c_out: int, k: int, affine: bool = True, track: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def vertex_channels(c_in: int, c_out: int, matrix: np.ndarray) -> list[int]:
    """Width of every vertex of a pruned cell, NB-101's rule (see module docstring)."""
    v = matrix.shape[0]
    ch = [0] * v
    ch[0], ch[v - 1] = c_in, c_out
    if v == 2:
        return ch
    in_deg = matrix[1:].sum(axis=0)  # ignores edges from the input
    fan = int(in_deg[v - 1])
    base, extra = divmod(c_out, fan)
    for u in range(1, v - 1):
        if matrix[u, v - 1]:
            ch[u] = base + (1 if extra > 0 else 0)
            extra -= 1
    for u in range(v - 3, 0, -1):
        if not matrix[u, v - 1]:
            ch[u] = max([ch[d] for d in range(u + 1, v - 1) if matrix[u, d]], default=0)
    return ch


class Cell(nn.Module):
    """One NB-101 cell with fixed widths."""

    def __init__(self, spec: ModelSpec, c_in: int, c_out: int, affine: bool, track: bool) -> None:
        super().__init__()
        assert spec.matrix is not None and spec.ops is not None
        self.m = spec.matrix.astype(bool)
        v = self.m.shape[0]
        self.ch = vertex_channels(c_in, c_out, spec.matrix)
        self.proj = nn.ModuleDict()
        self.ops = nn.ModuleDict()
        for t in range(1, v):
            if self.m[0, t]:
                self.proj[str(t)] = ConvBnRelu(c_in, self.ch[t], 1, affine, track)
        for t in range(1, v - 1):
            op = spec.ops[t]
            if op == CONV3X3:
                self.ops[str(t)] = ConvBnRelu(self.ch[t], self.ch[t], 3, affine, track)
            elif op == CONV1X1:
                self.ops[str(t)] = ConvBnRelu(self.ch[t], self.ch[t], 1, affine, track)
            elif op != MAXPOOL3X3:
                raise ArchitectureError(f"unknown NB-101 op {op!r}")
        self.pool_vertices = {t for t in range(1, v - 1) if spec.ops[t] == MAXPOOL3X3}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.m.shape[0]
        t_out: list[torch.Tensor] = [x]
        for t in range(1, v - 1):
            ins = [t_out[s][:, : self.ch[t]] for s in range(1, t) if self.m[s, t]]
            if self.m[0, t]:
                ins.append(self.proj[str(t)](x))
            h = sum(ins)
            h = F.max_pool2d(h, 3, stride=1, padding=1) if t in self.pool_vertices else self.ops[str(t)](h)
            t_out.append(h)
        feeds = [t_out[s] for s in range(1, v - 1) if self.m[s, v - 1]]
        out = torch.cat(feeds, dim=1) if feeds else None
        if self.m[0, v - 1]:
            p = self.proj[str(v - 1)](x)
            out = p if out is None else out + p
        assert out is not None
        return out


class NB101Network(nn.Module):
    """Stand-alone network of one NB-101 cell.

    Args:
        spec: The cell (must be valid).
        config: ``channels`` = stem width (128 in NB-101), ``depth`` = cells per stack (3).
    """

    def __init__(self, spec: ModelSpec, config: SupernetConfig) -> None:
        super().__init__()
        if not spec.is_valid():
            raise ArchitectureError(f"invalid NB-101 cell: {'; '.join(spec.problems())}")
        aff, trk = config.affine, config.track_running_stats
        c = config.channels
        self.stem = ConvBnRelu(config.in_channels, c, 3, aff, trk)
        layers: list[nn.Module] = []
        c_in = c
        for stack in range(3):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2))
                c *= 2
            for _ in range(config.depth):
                layers.append(Cell(spec, c_in, c, aff, trk))
                c_in = c
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of ``x`` ``[B, C, H, W]``."""
        return self.classifier(self.layers(self.stem(x)).mean(dim=(2, 3)))
