"""NB-201 primitive ops and the ResNet reduction block.

Definitions follow the NB-201 paper: ``nor_conv_kxk`` is ReLU-Conv-BN (the
conv carries a bias exactly when BN has no affine parameters, as in the
official code), ``avg_pool_3x3`` excludes padding from the average, ``none``
is the zero op. Stem, reduction blocks and the last BN always use affine BN
that tracks running statistics; only the searched cells follow the config.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReLUConvBN(nn.Module):
    """ReLU -> Conv(k, stride) -> BN.  ``[B, C_in, H, W] -> [B, C_out, H', W']``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool, track: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=not affine)
        self.bn = nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(F.relu(x)))


def avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """3x3 average pool, stride 1, padding excluded from the count."""
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class ResNetBlock(nn.Module):
    """The reduction block between NB-201 stages (stride 2, doubles channels)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, affine=True, track=True)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, affine=True, track=True)
        self.down = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x) + self.conv_b(self.conv_a(x))


class Skeleton(nn.Module):
    """Stem, 3 stages of ``depth`` cells with reduction blocks, BN-ReLU, pool, linear.

    Subclasses fill ``self.cells`` (a ModuleList aligned with ``self.layout``:
    ``"cell"`` or ``"reduce"`` per position) with cells of width ``c``.
    """

    def __init__(self, channels: int, depth: int, in_channels: int, num_classes: int, make_cell) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        layers, c = [], channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBlock(c, 2 * c))
                c *= 2
            layers.extend(make_cell(c) for _ in range(depth))
        self.layers = nn.ModuleList(layers)
        self.last = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.classifier = nn.Linear(c, num_classes)
