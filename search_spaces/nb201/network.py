"""The discrete NB-201 network of one architecture (stand-alone training, proxies)."""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.architecture import Architecture
from search_spaces.nb201.cell import EDGES, OPS
from search_spaces.nb201.ops import ReLUConvBN, ResNetBlock, Skeleton, avg_pool_3x3
from search_spaces.space import SupernetConfig


class _Pool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return avg_pool_3x3(x)


def _op(name: str, c: int) -> nn.Module:
    if name == "skip_connect":
        return nn.Identity()
    if name == "avg_pool_3x3":
        return _Pool()
    kernel = 1 if name == "nor_conv_1x1" else 3
    # stand-alone training uses affine BN that tracks running statistics
    return ReLUConvBN(c, c, kernel, 1, affine=True, track=True)


class InferCell(nn.Module):
    """A cell with only its chosen ops; ``none`` edges are dropped."""

    def __init__(self, arch: Architecture, c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleDict()
        self.inputs: dict[int, list[tuple[int, str]]] = {t: [] for t in range(1, 4)}
        for e, ((tgt, src), k) in enumerate(zip(EDGES, arch.choices)):
            if OPS[k] != "none":
                self.edges[str(e)] = _op(OPS[k], c)
                self.inputs[tgt].append((src, str(e)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for tgt in range(1, 4):
            terms = [self.edges[key](nodes[src]) for src, key in self.inputs[tgt]]
            nodes.append(sum(terms) if terms else torch.zeros_like(x))
        return nodes[-1]


class NB201Network(Skeleton):
    """Stand-alone NB-201 network: ``[B, C_in, H, W] -> [B, num_classes]``."""

    def __init__(self, arch: Architecture, config: SupernetConfig) -> None:
        super().__init__(config.channels, config.depth, config.in_channels, config.num_classes,
                         lambda c: InferCell(arch, c))
        self.arch = arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for layer in self.layers:
            h = layer(h)
        return self.classifier(self.last(h).mean(dim=(2, 3)))


__all__ = ["InferCell", "NB201Network", "ResNetBlock"]
