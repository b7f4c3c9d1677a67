"""SNAS (Xie et al., ICLR 2019): relaxed Gumbel-softmax (concrete) samples, one loss.

Each step samples concrete mixing weights ``softmax((alpha + g) / tau)`` and
updates both the supernet weights (SGD) and the logits (Adam) from the same
training-batch loss (SNAS' single-level "generic loss"; the resource term is
not included). The temperature decays exponentially per epoch from ``tau0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch
from harness.optimizers.darts import ArchOptimizer, DartsConfig
from harness.optimizers.parts.samplers import gumbel_softmax_relaxed


@dataclass(frozen=True)
class SnasConfig(DartsConfig):
    """``tau = tau0 * tau_decay ** epoch``."""

    tau0: float = 1.0
    tau_decay: float = 0.97


@register_optimizer("snas")
class Snas(ArchOptimizer):
    name = "snas"
    config_cls = SnasConfig
    description = "SNAS, concrete samples, single-level loss (Xie et al. 2019)"

    @property
    def tau(self) -> float:
        return self.config.tau0 * self.config.tau_decay ** self.epoch

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        alpha = self.alpha.tensors()
        w = {k: gumbel_softmax_relaxed(a, self.tau, self.generator) for k, a in alpha.items()}
        logits = self.supernet(train[0], w)
        loss = F.cross_entropy(logits, train[1])
        grads = torch.autograd.grad(loss, list(alpha.values()) + self.weights.params, allow_unused=True)
        self.arch_update(dict(zip(alpha.keys(), grads[: len(alpha)])))
        self.weights.apply_grads(grads[len(alpha):])
        with torch.no_grad():
            logits_v = self.supernet(valid[0], {k: v.detach() for k, v in self.mix(alpha).items()})
            loss_v = F.cross_entropy(logits_v, valid[1])
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v),
                "tau": torch.tensor(self.tau)}
