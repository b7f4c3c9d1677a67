"""DrNAS (Chen et al., ICLR 2021): a Dirichlet distribution over each edge's ops.

Concentration ``beta = ELU(alpha) + 1`` per row; the supernet sees pathwise
(reparameterised) Dirichlet samples in both steps. The regulariser follows the
official ``architect.py`` / ``201-space/search_model.py``: ``reg_type="l2"``
(the official default) is an L2 penalty on the architecture parameters applied
as Adam weight decay ``reg_scale`` (no loss term); ``"kl"`` adds
``reg_scale * KL(Dir(beta) || Dir(prior))`` to the architecture loss and the
Adam weight decay is 0. ``arch_weight_decay`` (0 by default) adds to the Adam
weight decay in both cases. The final architecture is the argmax of the mean
``beta / sum(beta)``. ``partial_channels`` > 1 builds the supernet with
partial channel connections as DrNAS offers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.distributions import Dirichlet, kl_divergence

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch
from harness.optimizers.darts import ArchOptimizer, DartsConfig
from search_spaces import Architecture
from search_spaces.errors import ConfigError


@dataclass(frozen=True)
class DrnasConfig(DartsConfig):
    arch_weight_decay: float = 0.0
    reg_type: str = "l2"
    reg_scale: float = 1e-3
    prior: float = 1.0
    #: DrNAS' partial-channel option (K as in PC-DARTS; 1 = off).
    partial_channels: int = 1
    #: Architecture steps start at this epoch of each stage (DARTS-space train_search.py: ``if epoch >= 10``
    #: with the stage's own epoch counter); 0: from the start.
    warmup_epochs: int = 0
    #: Length of a progressive-learning stage (DARTS-space: 25 + 25 epochs); 0: one stage.
    stage_epochs: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reg_type not in ("kl", "l2"):
            raise ConfigError(f"DrnasConfig.reg_type must be 'kl' or 'l2', got {self.reg_type!r}")
        if self.warmup_epochs < 0 or self.stage_epochs < 0:
            raise ConfigError("DrnasConfig.warmup_epochs and stage_epochs must be >= 0")


def concentration(alpha: torch.Tensor) -> torch.Tensor:
    """``ELU(alpha) + 1`` (strictly positive)."""
    return F.elu(alpha) + 1.0


@register_optimizer("drnas")
class Drnas(ArchOptimizer):
    name = "drnas"
    config_cls = DrnasConfig
    description = "DrNAS, Dirichlet architecture distribution (Chen et al. 2021)"

    @classmethod
    def supernet_overrides(cls, config: DrnasConfig) -> dict:
        return {"partial_channels": config.partial_channels}

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        c = self.config
        wd = c.arch_weight_decay + (c.reg_scale if c.reg_type == "l2" else 0.0)
        for g in self.adam.param_groups:  # architect.py: Adam(weight_decay=reg_scale if l2 else 0)
            g["weight_decay"] = wd

    def _sample(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # torch's Dirichlet takes no generator: seed its draw from our host-side RNG
        # (checkpointed, and drawing it needs no device->host copy)
        seed = int(self.rng.integers(0, 2**62))
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            # validate_args=False: the argument checks read tensors on the host (a sync per step)
            return {k: Dirichlet(concentration(a), validate_args=False).rsample() for k, a in alpha.items()}

    def regulariser(self, alpha: dict[str, torch.Tensor]) -> torch.Tensor | float:
        """The loss term: ``reg_scale * KL`` under ``kl``; 0 under ``l2`` (that is Adam's weight decay)."""
        c = self.config
        if c.reg_type != "kl":
            return 0.0
        total = 0.0
        for a in alpha.values():
            beta = concentration(a)
            total = total + kl_divergence(Dirichlet(beta, validate_args=False),
                                          Dirichlet(torch.full_like(beta, c.prior), validate_args=False)).sum()
        return c.reg_scale * total

    def arch_active(self) -> bool:
        """Whether this epoch takes architecture steps: the epoch within its stage has reached the warm-up."""
        c = self.config
        return (self.epoch % c.stage_epochs if c.stage_epochs else self.epoch) >= c.warmup_epochs

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        alpha = self.alpha.tensors()
        if self.arch_active():
            logits_v = self.supernet(valid[0], self._sample(alpha))
            loss_v = F.cross_entropy(logits_v, valid[1])
            grads = torch.autograd.grad(loss_v + self.regulariser(alpha), list(alpha.values()))
            self.arch_update(dict(zip(alpha.keys(), grads)))
        else:  # warm-up: the official loop skips architect.step; the valid metrics are still reported
            with torch.no_grad():
                logits_v = self.supernet(valid[0], self._sample(alpha))
                loss_v = F.cross_entropy(logits_v, valid[1])
        w = {k: v.detach() for k, v in self._sample(self.alpha.tensors()).items()}
        logits = self.supernet(train[0], w)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v)}

    def mix(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: (b := concentration(a)) / b.sum(-1, keepdim=True) for k, a in alpha.items()}

    def current_architecture(self) -> Architecture:
        return self.space.discretize({k: v.detach() for k, v in self.mix(self.alpha.tensors()).items()})
