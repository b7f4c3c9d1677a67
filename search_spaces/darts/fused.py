"""Fused mixed ops of the DARTS search cell (every space built on it: S1-S5).

Per source state, the edges leaving it are computed together, op by op:

- ``sep_conv_k`` / ``dil_conv_k`` of m edges: one shared ReLU, the input
  repeated m times along channels, one depthwise conv over the concatenated
  kernels and one pointwise conv with ``groups=m`` per stage, one BN call per
  stage (``search_spaces.fusion.concat_batch_norm``), the mixing weights
  folded into the last BN;
- ``max_pool_3x3`` / ``avg_pool_3x3``: the pooling once, then the edges' BNs
  in one call (one call in all when their outputs coincide: batch statistics
  and no affine parameters, the search default);
- ``skip_connect``: the identity as a multiply-add; on stride 2 the edges'
  factorized reductions as two 1x1 convs over concatenated kernels and one BN;
- ``none`` is skipped; ``noise`` is drawn in the order of the eager loop, so
  with the same RNG state both paths draw the same numbers.

The cell falls back to its eager per-op loop under drop-path in training
(its masks are drawn per op) and with partial channels (PC-DARTS).
Equality with that loop, values and gradients, is tested on every space.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.batch_norm import batch_norm_batch_stats
from search_spaces.depthwise import avg_pool_3x3, depthwise_conv2d
from search_spaces.fusion import cat_params, concat_batch_norm, pointwise_conv2d, select_weights

Acc = list  # per intermediate node: the running sum of its incoming edges (tensor) or None


def fused_cell(cell: nn.Module, states: list[torch.Tensor], w: torch.Tensor,
               active: Sequence[int] | None) -> torch.Tensor:
    """The cell output ``[B, steps * C, H', W']`` from its preprocessed inputs ``states`` (2 tensors).

    ``w``: ``[E, K]`` or ``[B, E, K]`` mixing weights (edge normalisation already folded in).
    """
    steps = cell.spec.steps
    s, inp, made = 2 if cell.reduction else 1, states[1], []

    def template() -> torch.Tensor:
        # zeros of an intermediate node's shape [B, C, H', W'], made only for a node no edge reaches or for
        # `noise` from an intermediate node (it reads the shape only)
        if not made:
            made.append(inp[:, :, ::s, ::s].mul(0.0))
        return made[0]

    noise = _draw_noise(cell, states, template, active)
    acc: Acc = [None] * steps
    for src in range(steps + 1):  # the last node feeds no edge
        if src >= 2:
            states.append(acc[src - 2] if acc[src - 2] is not None else template())
        _source(cell, states[src], src, w, active, acc, noise)
    states.append(acc[steps - 1] if acc[steps - 1] is not None else template())
    return torch.cat(states[2:], dim=1)


def _ops_of(cell: nn.Module, e: int, active: Sequence[int] | None) -> Sequence[int]:
    if active is None:
        return range(len(cell.names[e]))
    return () if active[e] < 0 else (int(active[e]),)


def _draw_noise(cell, states, template, active) -> dict[tuple[int, int], torch.Tensor]:
    out = {}
    # the loop's order: node by node, each node's incoming edges in edge order
    for e in sorted(range(len(cell.spec.edges)), key=lambda e: cell.spec.edges[e][0]):
        src = cell.spec.edges[e][1]
        for k in _ops_of(cell, e, active):
            if cell.names[e][k] == "noise":
                out[(e, k)] = cell.edges[e][k](states[src] if src < 2 else template())
    return out


def _coef(w: torch.Tensor, e: int, k: int) -> torch.Tensor:
    c = w[..., e, k]
    return c.view(-1, 1, 1, 1) if c.dim() == 1 else c


def _add(acc: Acc, node: int, y: torch.Tensor) -> None:
    acc[node] = y if acc[node] is None else acc[node] + y


def _source(cell, h: torch.Tensor, src: int, w: torch.Tensor, active, acc: Acc, noise) -> None:
    """Add the weighted outputs of every edge leaving state ``src`` to ``acc``."""
    groups: dict[str, list[tuple[int, int]]] = {}
    for e, (_, s) in enumerate(cell.spec.edges):
        if s == src:
            for k in _ops_of(cell, e, active):
                groups.setdefault(cell.names[e][k], []).append((e, k))
    stride = 2 if cell.reduction and src < 2 else 1
    shared = w.dim() == 2  # one architecture for the whole batch: weights fold into BN
    relu_h = None
    for name, members in groups.items():
        node_of = [cell.spec.edges[e][0] for e, _ in members]
        if name == "none":
            continue
        if name == "noise":
            for (e, k), n in zip(members, node_of):
                _add(acc, n, _coef(w, e, k) * noise[(e, k)])
            continue
        if name == "skip_connect" and stride == 1:
            for (e, k), n in zip(members, node_of):
                _add(acc, n, _coef(w, e, k) * h)
            continue
        mods = [cell.edges[e][k] for e, k in members]
        scale = select_weights(w, members) if shared else None
        if name in ("max_pool_3x3", "avg_pool_3x3"):
            y, common = _pools(cell, h, name, stride, mods, scale)
            if common:  # one unscaled output for all members
                for (e, k), n in zip(members, node_of):
                    _add(acc, n, _coef(w, e, k) * y)
                continue
        else:
            relu_h = F.relu(h) if relu_h is None else relu_h
            if name == "skip_connect":
                y = _factorized_reduces(cell, relu_h, mods, scale)
            elif name.startswith("sep_conv"):
                y = _dil_blocks(cell, relu_h, [m.op[0] for m in mods], None)
                y = _dil_blocks(cell, F.relu(y), [m.op[1] for m in mods], scale)
            elif name.startswith("dil_conv"):
                y = _dil_blocks(cell, relu_h, mods, scale)
            else:
                raise ValueError(f"no fused form of op {name!r}")
        for (e, k), n, y_e in zip(members, node_of, y.split(y.shape[1] // len(members), dim=1)):
            _add(acc, n, y_e if shared else _coef(w, e, k) * y_e)


def _repeat(x: torch.Tensor, m: int) -> torch.Tensor:
    return x if m == 1 else x.repeat(1, m, 1, 1)


def _dil_blocks(cell, relu_x: torch.Tensor, blocks: list[nn.Module], scale: torch.Tensor | None) -> torch.Tensor:
    """m ``DilConv`` blocks (ReLU -> depthwise -> pointwise -> BN) on one ReLU'd input -> ``[B, m * C, H', W']``.

    ``relu_x`` is ``[B, C, H, W]`` (one input for all) or ``[B, m * C, H, W]`` (block i reads channel block i).
    """
    m = len(blocks)
    dw0 = blocks[0].op[1]
    x = _repeat(relu_x, m) if relu_x.shape[1] == dw0.in_channels else relu_x
    y = depthwise_conv2d(x, cat_params([b.op[1].weight for b in blocks]), dw0.stride[0], dw0.padding[0],
                         dw0.dilation[0])
    y = pointwise_conv2d(y, cat_params([b.op[2].weight for b in blocks]), groups=m)
    return concat_batch_norm(y, [b.op[3] for b in blocks], scale, cell.training)


def _factorized_reduces(cell, relu_x: torch.Tensor, mods: list[nn.Module], scale: torch.Tensor | None) -> torch.Tensor:
    """m ``FactorizedReduce`` ops on one ReLU'd input: two strided 1x1 convs, one BN -> ``[B, m * C, H/2, W/2]``."""
    shifted = F.pad(relu_x[:, :, 1:, 1:], (0, 1, 0, 1))
    a = pointwise_conv2d(relu_x, cat_params([f.conv_a.weight for f in mods]), stride=2)
    b = pointwise_conv2d(shifted, cat_params([f.conv_b.weight for f in mods]), stride=2)
    m, (n, _, hh, ww) = len(mods), a.shape
    y = torch.cat([a.view(n, m, -1, hh, ww), b.view(n, m, -1, hh, ww)], dim=2).view(n, -1, hh, ww)
    return concat_batch_norm(y, [f.bn for f in mods], scale, cell.training)


def _pools(cell, h: torch.Tensor, name: str, stride: int, mods: list[nn.Module],
           scale: torch.Tensor | None) -> tuple[torch.Tensor, bool]:
    """Search-model pooling ops (pool -> BN) of m edges: ``([B, m * C, H', W'], False)``, or
    ``([B, C, H', W'], True)``, one unscaled output common to all, when their BNs compute the same
    function (batch statistics, no affine parameters: the search default)."""
    pooled = (F.max_pool2d(h, 3, stride, 1) if name == "max_pool_3x3" else avg_pool_3x3(h, stride))
    bns = [mod[1] for mod in mods]
    if not bns[0].affine and not bns[0].track_running_stats:
        return batch_norm_batch_stats(pooled, None, None, bns[0].eps), True
    return concat_batch_norm(_repeat(pooled, len(mods)), bns, scale, cell.training), False
