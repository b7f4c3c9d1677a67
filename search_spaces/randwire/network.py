"""The random-wired wide ResNet (thudzj/NSA ``models/wrn_r.py``), taking its wiring as edge weights.

Skeleton: 3x3 stem conv to C + BN; stage 1 (C), transition (ReLU, 1x1 conv,
2x2 average pool, BN) to 2C, stage 2, transition to 4C, stage 3; ReLU, global
average pool, linear. ``C = config.channels`` (the official ``16 * width``).

A stage has ``NUM_NODES`` ReLU-Conv3x3-BN nodes. With the wiring matrix ``M``
(``[n+1, n+1]``, or ``[B, n+1, n+1]`` per example) taken from the ``on``
weights, node ``i`` reads ``sum_j out_j * M[i, j] / d_i`` and the stage returns
``sum_j out_j * M[n, j] / d_n`` (``out_0`` the stage input), where ``d_i`` counts
the nonzero entries of row ``i``: the official mean over a node's inputs
(``adj / adj.sum``); a gate that scales the weights (NSA-id's learned
aggregation) leaves ``d_i`` unchanged, as officially the gate multiplies the
already normalised adjacency.

The official auxiliary head (``--aux_weight 0.1``) is not built: the harness's
supernets return one logit tensor (a deviation listed in the ``nsa`` protocol).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import init

from search_spaces.randwire.wiring import ENTRIES, NUM_NODES, STAGES
from search_spaces.space import SupernetConfig

_ROWS = torch.tensor([i for i, _ in ENTRIES])
_COLS = torch.tensor([j for _, j in ENTRIES])


def _bn(c: int, config: SupernetConfig) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=config.affine, track_running_stats=config.track_running_stats)


def wiring(w: torch.Tensor) -> torch.Tensor:
    """Stage weights ``[..., rows, 2]`` -> row-normalised wiring ``[..., n+1, n+1]`` (see module docstring)."""
    on = w[..., 1]
    m = on.new_zeros(*on.shape[:-1], NUM_NODES + 1, NUM_NODES + 1)
    m[..., _ROWS.to(on.device), _COLS.to(on.device)] = on
    deg = (m != 0).sum(-1, keepdim=True).clamp(min=1)
    return m / deg


class Node(nn.Module):
    """ReLU, 3x3 conv, BN (the official ``ReLuConvBN`` without dropout: ``--dropout_rate 0``)."""

    def __init__(self, c: int, config: SupernetConfig) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = _bn(c, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(torch.relu(x)))


class Stage(nn.Module):
    """One stage: ``forward(x [B, C, H, W], m)`` with ``m`` from ``wiring`` (``[n+1, n+1]`` or ``[B, n+1, n+1]``)."""

    def __init__(self, c: int, config: SupernetConfig) -> None:
        super().__init__()
        self.nodes = nn.ModuleList(Node(c, config) for _ in range(NUM_NODES))

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        def mix(row: int, outs: list[torch.Tensor]) -> torch.Tensor:
            coef = m[..., row, :]  # [n+1] or [B, n+1]
            if coef.dim() == 2:
                coef = coef[:, :, None, None, None]  # per example: broadcast over C, H, W
            return sum(o * coef[..., j] if coef.dim() == 1 else o * coef[:, j] for j, o in enumerate(outs))

        outs = [x]
        for i, node in enumerate(self.nodes):
            outs.append(node(mix(i, outs)))
        return mix(NUM_NODES, outs)


class Transition(nn.Module):
    """ReLU, 1x1 conv to ``c_out``, 2x2 average pool, BN."""

    def __init__(self, c_in: int, c_out: int, config: SupernetConfig) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)
        self.bn = _bn(c_out, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pool(self.conv(torch.relu(x))))


class RandWireWRN(nn.Module):
    """Supernet ``forward(x [B, C_in, H, W], weights) -> [B, K]``; ``weights[stage]`` ``[rows, 2]`` or ``[B, rows, 2]``."""

    def __init__(self, config: SupernetConfig) -> None:
        super().__init__()
        c = config.channels
        self.stem = nn.Conv2d(config.in_channels, c, 3, padding=1, bias=False)
        self.stem_bn = _bn(c, config)
        self.stages = nn.ModuleList([Stage(c, config), Stage(2 * c, config), Stage(4 * c, config)])
        self.transitions = nn.ModuleList([Transition(c, 2 * c, config), Transition(2 * c, 4 * c, config)])
        self.classifier = nn.Linear(4 * c, config.num_classes)
        # WRN.__init__: Kaiming-normal convolutions and linear weights, zero linear bias, BN 1 / 0
        for mod in self.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                init.kaiming_normal_(mod.weight)
                if mod.bias is not None:
                    mod.bias.data.zero_()

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.stem_bn(self.stem(x))
        for k, stage in enumerate(self.stages):
            h = stage(h, wiring(weights[STAGES[k]]))
            if k < len(self.transitions):
                h = self.transitions[k](h)
        return self.classifier(torch.relu(h).mean((2, 3)))


class FixedWiring(nn.Module):
    """A stand-alone network: the WRN with one wiring's weights fixed (buffers)."""

    def __init__(self, net: RandWireWRN, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.net = net
        for k, v in weights.items():
            self.register_buffer(f"w_{k}", v.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, {k: getattr(self, f"w_{k}") for k in STAGES})
