"""GDAS (Dong & Yang, CVPR 2019): one sampled op per edge, straight-through.

Per step: sample a hard Gumbel-softmax architecture, SGD step on the weights
with it (only the sampled ops run), then sample again and take an Adam step on
the logits from the validation batch, the gradient flowing through the
straight-through estimator. The temperature falls linearly from ``tau_max`` to
``tau_min`` over the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch
from harness.optimizers.darts import ArchOptimizer, DartsConfig
from harness.optimizers.parts.samplers import gumbel_softmax_hard, linear_tau
from search_spaces.errors import ConfigError


@dataclass(frozen=True)
class GdasConfig(DartsConfig):
    """GDAS settings: DARTS' optimizers plus the temperature schedule."""

    tau_max: float = 10.0
    tau_min: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.tau_min <= self.tau_max:
            raise ConfigError(f"GdasConfig: need 0 < tau_min <= tau_max, got {self.tau_min}, {self.tau_max}")


@register_optimizer("gdas")
class Gdas(ArchOptimizer):
    name = "gdas"
    config_cls = GdasConfig
    description = "GDAS, hard Gumbel-softmax with straight-through gradient (Dong & Yang 2019)"

    @property
    def tau(self) -> float:
        return linear_tau(self.epoch, self.epochs, self.config.tau_max, self.config.tau_min)

    def hard_sample(self) -> tuple[dict[str, torch.Tensor], dict[str, list[int]]]:
        """Straight-through one-hot weights and the sampled op index per row."""
        w, idx = {}, {}
        for k, a in self.alpha.tensors().items():
            w[k], i = gumbel_softmax_hard(a, self.tau, self.generator)
            idx[k] = i
        # one host read of a few ints per step: it lets the supernet skip 4/5 of the ops
        return w, {k: v.tolist() for k, v in idx.items()}

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        w, active = self.hard_sample()
        logits = self.forward(train[0], {k: v.detach() for k, v in w.items()}, active)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)

        w, active = self.hard_sample()
        logits_v = self.forward(valid[0], w, active)
        loss_v = F.cross_entropy(logits_v, valid[1])
        grads = torch.autograd.grad(loss_v, list(self.alpha.tensors().values()))
        self.arch_update(dict(zip(self.alpha.tensors().keys(), grads)))
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v),
                "tau": torch.tensor(self.tau)}
