"""DARTS primitive ops used by S5 (DARTS definitions).

``sep_conv_3x3`` is two stacked ReLU-depthwise-pointwise-BN blocks (the first
strided); ``skip_connect`` is identity, or FactorizedReduce when strided;
``none`` is zero (strided on reduction).
"""

from __future__ import annotations

import torch
from torch import nn


class ReLUConvBN(nn.Module):
    """ReLU -> Conv -> BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool, track: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                                nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """DARTS separable conv: (ReLU, dw kxk, pw 1x1, BN) twice; the first block carries the stride."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool, track: bool = True) -> None:
        super().__init__()
        p = kernel // 2

        def block(ci: int, co: int, s: int) -> list[nn.Module]:
            return [nn.ReLU(), nn.Conv2d(ci, ci, kernel, s, p, groups=ci, bias=False),
                    nn.Conv2d(ci, co, 1, bias=False), nn.BatchNorm2d(co, affine=affine, track_running_stats=track)]

        self.op = nn.Sequential(*block(c_in, c_in, stride), *block(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset 1x1 stride-2 convs, concatenated (C_out even)."""

    def __init__(self, c_in: int, c_out: int, affine: bool, track: bool = True) -> None:
        super().__init__()
        self.a = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.b = nn.Conv2d(c_in, c_out - c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(x)
        # the shifted branch sees odd pixels; pad so both halves agree on odd sizes
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.a(x), self.b(shifted)], dim=1))


class Zero(nn.Module):
    """The ``none`` op: zeros of the (strided) output shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def make_op(name: str, c: int, stride: int, affine: bool, track: bool = True) -> nn.Module:
    """Build op ``name`` mapping ``c`` channels to ``c`` channels with ``stride``."""
    if name == "none":
        return Zero(stride)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine, track)
    if name == "sep_conv_3x3":
        return SepConv(c, c, 3, stride, affine, track)
    raise ValueError(f"unknown op {name!r}")
