"""Helpers shared by the fused mixed-op paths of the supernets.

A fused path runs the same op of several edges that read one input as one
wide op over concatenated parameters. Its BN is one call over the
concatenated channels, which is exact because BN normalises every channel
on its own; a per-op output scale (the edge's mixing weight) folds into BN's
per-channel weight, saving a pass over the output and one in its backward.
With batch statistics only (no running statistics: the search default) that
call is ``search_spaces.batch_norm.batch_norm_batch_stats``, faster on the CPU.

The fused paths' 1x1 convolutions go through ``pointwise_conv2d``: on the CPU
a batched matrix product, which at the supernets' small channel counts beats
PyTorch's (oneDNN) 1x1 convolution (about 1.5x forward + backward at NB-201's
first stage; ``harness bench``'s ``kernels`` row times both).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.batch_norm import batch_norm_batch_stats


def concat_batch_norm(y: torch.Tensor, bns: Sequence[nn.BatchNorm2d], scale: torch.Tensor | None,
                      training: bool) -> torch.Tensor:
    """``cat_i(scale[i] * bns[i](y_i))`` for the channel blocks ``y_i`` of ``y``, in one BN call.

    Args:
        y: ``[B, m * C, H, W]``, block ``i`` normalised by ``bns[i]`` (all with ``C`` features and the
            same ``affine``, ``track_running_stats``, ``eps`` and ``momentum``).
        scale: ``[len(bns)]`` output factors, or None.
        training: The module's mode (batch statistics, running-statistics update).
    """
    bn0 = bns[0]
    sizes = [b.num_features for b in bns]
    if len(set(sizes)) > 1:
        raise ValueError(f"concat_batch_norm expects equal block sizes, got {sizes}")
    weight = torch.cat([b.weight for b in bns]) if bn0.affine else None
    bias = torch.cat([b.bias for b in bns]) if bn0.affine else None
    if scale is not None:
        # one gather: repeat_interleave's autograd chain (four nodes) cost more at these sizes
        per_channel = scale.index_select(-1, _repeat_index(len(bns), sizes[0], scale.device))
        weight = per_channel if weight is None else per_channel * weight
        bias = None if bias is None else per_channel * bias
    if not bn0.track_running_stats:
        return batch_norm_batch_stats(y, weight, bias, bn0.eps)
    rm = torch.cat([b.running_mean for b in bns])
    rv = torch.cat([b.running_var for b in bns])
    y = F.batch_norm(y, rm, rv, weight, bias, training, bn0.momentum, bn0.eps)
    if training:
        with torch.no_grad():
            for b, m, v in zip(bns, rm.split(sizes), rv.split(sizes)):
                b.running_mean.copy_(m)
                b.running_var.copy_(v)
                b.num_batches_tracked += 1
    return y


def pointwise_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
                     groups: int = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, groups=groups)`` for a 1x1 kernel, no padding.

    Args:
        x: ``[B, C_in, H, W]``.
        weight: ``[C_out, C_in / groups, 1, 1]``.
        bias: ``[C_out]`` or None.

    Returns:
        ``[B, C_out, H', W']`` (``H' = ceil(H / stride)``). On the CPU with an NCHW-contiguous ``x``,
        ``weight @ x`` per sample and group as one ``bmm``; otherwise (GPU, channels-last) ``F.conv2d``.
    """
    if x.device.type != "cpu" or not x.is_contiguous():
        return F.conv2d(x, weight, bias, stride, groups=groups)
    if stride > 1:
        x = x[:, :, ::stride, ::stride]
    b, c_in, h, w = x.shape
    c_out = weight.shape[0]
    # [B * G, C_out / G, C_in / G] @ [B * G, C_in / G, H * W]; the expanded weight is copied only for G > 1
    wg = weight.view(groups, c_out // groups, c_in // groups).expand(b, -1, -1, -1)
    wg = wg.reshape(b * groups, c_out // groups, c_in // groups)
    xg = x.reshape(b * groups, c_in // groups, h * w)
    if bias is None:
        y = torch.bmm(wg, xg)
    else:
        bg = bias.view(groups, c_out // groups, 1).expand(b, -1, -1, -1).reshape(b * groups, c_out // groups, 1)
        y = torch.baddbmm(bg, wg, xg)
    return y.view(b, c_out, h, w)


def cat_params(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``torch.cat(tensors)`` that skips the copy for a single tensor."""
    return tensors[0] if len(tensors) == 1 else torch.cat(list(tensors))


_INDEX_CACHE: dict[tuple, torch.Tensor] = {}


def _repeat_index(m: int, c: int, device: torch.device) -> torch.Tensor:
    """``[0] * c + [1] * c + ... + [m - 1] * c`` on ``device``, cached."""
    key = ("repeat", m, c, device)
    idx = _INDEX_CACHE.get(key)
    if idx is None:
        idx = _INDEX_CACHE[key] = torch.arange(m, device=device).repeat_interleave(c)
    return idx


def select_weights(w: torch.Tensor, entries: Sequence[tuple[int, int]]) -> torch.Tensor:
    """``[w[..., e, k] for (e, k) in entries]`` stacked last: ``w [..., E, K] -> [..., len(entries)]``.

    The flat indices live on ``w``'s device, cached per (entries, shape, device), so a step
    copies no index list from the host.
    """
    key = (tuple(entries), tuple(w.shape[-2:]), w.device)
    idx = _INDEX_CACHE.get(key)
    if idx is None:
        idx = torch.tensor([e * w.shape[-1] + k for e, k in entries], device=w.device)
        _INDEX_CACHE[key] = idx
    return w.flatten(-2).index_select(-1, idx)
