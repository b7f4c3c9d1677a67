"""SNAS as DrNAS's NB-201 code runs it (``201-space/train_search.py --method snas``): bilevel, soft Gumbel.

This is the variant behind the NB-201 SNAS numbers usually cited (DrNAS,
Chen et al., ICLR 2021, Table 2). Per step, as DARTS with both mixtures
sampled: one Adam step of the logits ``alpha`` from the validation loss under
``softmax((alpha + g) / tau)`` (``F.gumbel_softmax(hard=False)``, ``g``
standard Gumbel), then one SGD step of the weights from the training loss
under a fresh (detached) sample. ``tau`` starts at ``tau_max`` and moves by
``(tau_min - tau_max) / epochs`` after every epoch (``tau_schedule``). The
architecture is the argmax of ``alpha``. Our ``snas`` is the single-level form.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch
from harness.optimizers.darts import ArchOptimizer, DartsConfig
from harness.optimizers.parts.samplers import check_tau, gumbel_softmax_relaxed, tau_at


@dataclass(frozen=True)
class SnasBilevelConfig(DartsConfig):
    """DARTS's optimizers plus the temperature schedule."""

    tau_max: float = 10.0
    tau_min: float = 1.0
    tau_schedule: str = "per-epoch-step"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_tau("SnasBilevelConfig", self.tau_max, self.tau_min, self.tau_schedule)


@register_optimizer("snas-bilevel")
class SnasBilevel(ArchOptimizer):
    name = "snas-bilevel"
    config_cls = SnasBilevelConfig
    description = "SNAS, bilevel with soft Gumbel samples, tau 10 -> 1 (DrNAS's NB-201 re-implementation)"

    @property
    def tau(self) -> float:
        c = self.config
        return tau_at(c.tau_schedule, self.epoch, self.epochs, c.tau_max, c.tau_min)

    def _sample(self) -> dict[str, torch.Tensor]:
        return {k: gumbel_softmax_relaxed(a, self.tau, self.generator) for k, a in self.alpha.tensors().items()}

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        alpha = self.alpha.tensors()
        logits_v = self.supernet(valid[0], self._sample())
        loss_v = F.cross_entropy(logits_v, valid[1])
        grads = torch.autograd.grad(loss_v, list(alpha.values()))
        self.arch_update(dict(zip(alpha.keys(), grads)))
        with torch.no_grad():
            w = self._sample()
        logits = self.supernet(train[0], w)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v),
                "tau": torch.tensor(self.tau)}
