"""Architecture-conditional batch norm: NSA-id's per-architecture BN affine (thudzj/NSA ``ArchConditionalBatchNorm``).

Every BN layer of the supernet keeps one set of batch / running statistics
shared by all architectures, and its affine becomes a per-architecture pair
``gamma[a], beta[a]`` (``[S, C]`` each, initialised to 1 and 0):
``y = gamma[a] * (x - mean) / sqrt(var + eps) + beta[a]``, ``a`` the pool index
of each example's architecture. Installed by forward hooks on the supernet's
BN modules, so the supernet stays algorithm-agnostic; it needs the supernet's
per-module path (``set_fused(False)``), which calls every BN module.

Where a BN layer has its own affine, it is frozen at (1, 0) (``requires_grad``
off) before the weight trainer is built, so the per-architecture affine
replaces it exactly as officially (``NormFunc`` builds the conditional BN
*instead of* ``nn.BatchNorm2d``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


def batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BN modules of ``module`` in registration order."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def freeze_bn_affine(supernet: nn.Module) -> None:
    """Fix the supernet's own BN affines at (1, 0), untrainable: the conditional affine replaces them."""
    for m in batch_norms(supernet):
        if m.affine:
            with torch.no_grad():
                m.weight.fill_(1.0)
                m.bias.zero_()
            m.weight.requires_grad_(False)
            m.bias.requires_grad_(False)


class ArchConditionalBN(nn.Module):
    """Per-architecture BN affines for ``size`` pool architectures over every BN of a supernet.

    ``ids`` selects what the hooks apply: a ``[B]`` long tensor (per example), an
    int (one pool member for the whole batch) or None (the pool mean of
    ``gamma`` and ``beta``: ours, for architectures outside the pool, which the
    official code cannot evaluate with conditional BN).
    """

    def __init__(self, channels: list[int], size: int, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.gamma = nn.ParameterList(nn.Parameter(torch.ones(size, c, device=device)) for c in channels)
        self.beta = nn.ParameterList(nn.Parameter(torch.zeros(size, c, device=device)) for c in channels)
        self.ids: torch.Tensor | int | None = None
        self._handles: list[Any] = []

    def attach(self, supernet: nn.Module) -> None:
        """Hook every BN of ``supernet`` (their count and widths must match) and select its per-module path."""
        bns = batch_norms(supernet)
        if [m.num_features for m in bns] != [g.shape[1] for g in self.gamma]:
            raise ValueError("conditional BN does not match this supernet's BN layers")
        self.detach()
        if hasattr(supernet, "set_fused"):
            supernet.set_fused(False)  # the fused paths read BN parameters without calling the modules
        self._handles = [m.register_forward_hook(self._hook(k)) for k, m in enumerate(bns)]

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _hook(self, k: int):
        def hook(_mod: nn.Module, _inp: Any, out: torch.Tensor) -> torch.Tensor:
            g, b = self.affine(k)
            shape = (g.shape[0] if g.dim() == 2 else 1, -1) + (1,) * (out.dim() - 2)
            return torch.addcmul(b.reshape(shape), g.reshape(shape), out)
        return hook

    def affine(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gamma, beta)`` of BN layer ``k`` under ``ids``: ``[B, C]`` per example, else ``[C]``."""
        g, b = self.gamma[k], self.beta[k]
        if self.ids is None:
            return g.mean(0), b.mean(0)
        return g[self.ids], b[self.ids]

    @contextmanager
    def using(self, ids: torch.Tensor | int | None) -> Iterator[None]:
        """Apply ``ids`` for the duration."""
        saved, self.ids = self.ids, ids
        try:
            yield
        finally:
            self.ids = saved
