"""DARTS primitive operations (DARTS / RobustDARTS definitions).

Every op maps ``[B, C, H, W]`` to ``[B, C, ceil(H/s), ceil(W/s)]`` for stride
``s`` in {1, 2}. ``make_op`` builds one by name; the per-edge op lists of a
space are data (``spaces.py``), so no space needs its own op code.

Differences between the search and the evaluation model (as in DARTS): the
search model follows each pooling op with a BN and uses BN without affine
parameters; the evaluation model uses plain pooling and affine BN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.depthwise import DepthwiseConv2d


def _bn(c: int, affine: bool, track: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=affine, track_running_stats=track)


class ReLUConvBN(nn.Module):
    """ReLU -> Conv(kernel, stride) -> BN: ``[B, C_in, H, W] -> [B, C_out, H/s, W/s]``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool, track: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                                _bn(c_out, affine, track))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU -> depthwise dilated conv -> pointwise conv -> BN (``dil_conv_kxk``, dilation 2)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, dilation: int,
                 affine: bool, track: bool = True) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.op = nn.Sequential(
            nn.ReLU(), DepthwiseConv2d(c_in, kernel, stride, pad, dilation),
            nn.Conv2d(c_in, c_out, 1, bias=False), _bn(c_out, affine, track))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked (ReLU, depthwise kxk, pointwise 1x1, BN) blocks; the first carries the stride."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool, track: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(DilConv(c_in, c_in, kernel, stride, 1, affine, track),
                                DilConv(c_in, c_out, kernel, 1, 1, affine, track))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halve the resolution: ReLU, two 1x1 stride-2 convs on pixel grids offset by one, concat, BN.

    ``[B, C_in, H, W] -> [B, C_out, ceil(H/2), ceil(W/2)]``.
    """

    def __init__(self, c_in: int, c_out: int, affine: bool, track: bool = True) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out - c_out // 2, 1, 2, bias=False)
        self.bn = _bn(c_out, affine, track)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        # Zero-pad the shifted grid so both halves agree on odd sizes too; on
        # even sizes the pad is never sampled, matching DARTS exactly.
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


class Zero(nn.Module):
    """``none``: zeros of the (strided) output shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class Noise(nn.Module):
    """``noise`` (RobustDARTS S4): standard normal noise of the output shape.

    The input's values are ignored (only its shape, dtype and device are used),
    so the op carries no signal and no gradient to its input. Draws from the
    global torch RNG, in training and evaluation alike.
    """

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(x[:, :, :: self.stride, :: self.stride])


def _pool(kind: str, c: int, stride: int, affine: bool, track: bool, search: bool) -> nn.Module:
    pool = (nn.MaxPool2d(3, stride, 1) if kind == "max"
            else nn.AvgPool2d(3, stride, 1, count_include_pad=False))
    # DARTS' search model normalises pooled outputs so that their scale is
    # comparable with the (BN-terminated) conv ops they compete with.
    return nn.Sequential(pool, _bn(c, affine, track)) if search else pool


def _skip(c: int, stride: int, affine: bool, track: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine, track)


_Factory = Callable[[int, int, bool, bool, bool], nn.Module]

#: name -> factory(c, stride, affine, track, search).
OPS: dict[str, _Factory] = {
    "none": lambda c, s, a, t, search: Zero(s),
    "noise": lambda c, s, a, t, search: Noise(s),
    "skip_connect": lambda c, s, a, t, search: _skip(c, s, a, t),
    "max_pool_3x3": lambda c, s, a, t, search: _pool("max", c, s, a, t, search),
    "avg_pool_3x3": lambda c, s, a, t, search: _pool("avg", c, s, a, t, search),
    "sep_conv_3x3": lambda c, s, a, t, search: SepConv(c, c, 3, s, a, t),
    "sep_conv_5x5": lambda c, s, a, t, search: SepConv(c, c, 5, s, a, t),
    "dil_conv_3x3": lambda c, s, a, t, search: DilConv(c, c, 3, s, 2, a, t),
    "dil_conv_5x5": lambda c, s, a, t, search: DilConv(c, c, 5, s, 2, a, t),
}


def make_op(name: str, c: int, stride: int, affine: bool, track: bool = True, search: bool = False) -> nn.Module:
    """Build op ``name`` on ``c`` channels.

    Args:
        name: A key of ``OPS``.
        c: Input and output channels.
        stride: 1, or 2 on the input edges of a reduction cell.
        affine: BN affine parameters (search model: False).
        track: BN running statistics.
        search: Search-model variant (pooling followed by BN).
    """
    try:
        factory = OPS[name]
    except KeyError:
        raise ValueError(f"unknown DARTS op {name!r} (known: {', '.join(OPS)})") from None
    return factory(c, stride, affine, track, search)


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole examples with probability ``drop_prob``, rescaling the rest (``[B, ...]``)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


def is_identity(op: nn.Module) -> bool:
    """Whether ``op`` is a plain identity (DARTS exempts those from drop-path)."""
    return isinstance(op, nn.Identity)
