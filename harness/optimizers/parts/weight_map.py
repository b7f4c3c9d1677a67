"""How to evaluate an architecture with shared weights: its mixing weights and, for NSA-id, its BN affine.

``WeightMap`` is what an optimizer hands to evaluations (``eval_weight_map``) and what
``supernet.pt`` stores; ``call_supernet`` runs a supernet on one architecture's weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from harness.optimizers.parts.arch_conditional import ArchConditionalBN
from search_spaces import Architecture, SearchSpace


@dataclass
class WeightMap:
    """Mixing weights to evaluate an architecture with: one-hot unless an optimizer learned otherwise.

    Attributes:
        overrides: Architecture string -> weights (per group ``[rows, options]``).
        row_scale: Group -> ``[rows]`` multiplier of the one-hot rows of other architectures.
        conditional_bn: Per-architecture BN affines (NSA-id): ``{"pool": [arch strings],
            "gamma": [[S, C] per BN], "beta": [...]}``; applied by ``bound``.
    """

    overrides: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    row_scale: dict[str, torch.Tensor] = field(default_factory=dict)
    conditional_bn: dict[str, Any] | None = None

    def weights(self, space: SearchSpace, arch: Architecture, device: torch.device | str) -> dict[str, torch.Tensor]:
        """Per group ``[rows, options]`` on ``device``: the override of ``arch``, else its scaled one-hot."""
        w = self.overrides.get(space.to_str(arch))
        if w is None:
            w = {g: v * self.row_scale[g][:, None].cpu() if g in self.row_scale else v
                 for g, v in space.one_hot(arch).items()}
        return {g: v.detach().to(device) for g, v in w.items()}

    @contextmanager
    def bound(self, supernet: nn.Module, space: SearchSpace, arch: Architecture, live: Any = None) -> Iterator[None]:
        """Evaluate ``arch`` with its conditional BN affine (pool mean outside the pool) for the duration.

        ``live`` is an attached ``ArchConditionalBN`` (during training); otherwise one is
        built from ``conditional_bn`` and hooked into ``supernet`` until exit.
        """
        if self.conditional_bn is None and live is None:
            yield
            return
        cond, pool = live, None
        if cond is None:
            c = self.conditional_bn
            pool = c["pool"]
            cond = ArchConditionalBN([g.shape[1] for g in c["gamma"]], len(pool), next(supernet.parameters()).device)
            with torch.no_grad():
                for p, v in zip([*cond.gamma, *cond.beta], [*c["gamma"], *c["beta"]]):
                    p.copy_(v)
            cond.attach(supernet)
        else:
            pool = self.conditional_bn["pool"] if self.conditional_bn else None
        name = space.to_str(arch)
        idx = pool.index(name) if pool is not None and name in pool else None
        try:
            with cond.using(idx):
                yield
        finally:
            if live is None:
                cond.detach()

    def state(self) -> dict[str, Any]:
        """Plain CPU tensors, for ``supernet.pt``."""
        return {"overrides": {a: {g: v.detach().cpu() for g, v in w.items()} for a, w in self.overrides.items()},
                "row_scale": {g: v.detach().cpu() for g, v in self.row_scale.items()},
                "conditional_bn": self.conditional_bn}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> WeightMap:
        """Inverse of ``state`` (None: plain one-hot)."""
        return cls(**state) if state else cls()


def all_on_weights(space: SearchSpace, device: torch.device) -> dict[str, torch.Tensor]:
    """Every path on (weight 1 on every option): the all-paths-on one-shot model."""
    return {g.name: torch.ones(g.shape, device=device) for g in space.param_groups}


def call_supernet(supernet: nn.Module, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits ``[B, K]``; single-op rows run only that op (``active``), which equals the dense result."""
    single = all(v.dim() == 2 and bool(((v != 0).sum(-1) <= 1).all()) for v in weights.values())
    if single and getattr(supernet, "supports_active", False):
        return supernet(x, weights, active={g: v.abs().argmax(-1).tolist() for g, v in weights.items()})
    return supernet(x, weights)
