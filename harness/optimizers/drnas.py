"""DrNAS (Chen et al., ICLR 2021): a Dirichlet distribution over each edge's ops.

Concentration ``beta = ELU(alpha) + 1`` per row; the supernet sees pathwise
(reparameterised) Dirichlet samples in both steps, and the architecture loss
adds ``reg_scale`` times a regulariser on the concentration: the KL divergence
to the prior ``Dir(prior)`` ("kl") or ``||beta||^2`` ("l2"). The final
architecture is the argmax of the mean ``beta / sum(beta)``. ``partial_channels``
> 1 builds the supernet with partial channel connections as DrNAS offers.
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
    reg_type: str = "kl"
    reg_scale: float = 1e-3
    prior: float = 1.0
    #: DrNAS' partial-channel option (K as in PC-DARTS; 1 = off).
    partial_channels: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reg_type not in ("kl", "l2"):
            raise ConfigError(f"DrnasConfig.reg_type must be 'kl' or 'l2', got {self.reg_type!r}")


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

    def _sample(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # torch's Dirichlet takes no generator: seed its draw from our host-side RNG
        # (checkpointed, and drawing it needs no device->host copy)
        seed = int(self.rng.integers(0, 2**62))
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            # validate_args=False: the argument checks read tensors on the host (a sync per step)
            return {k: Dirichlet(concentration(a), validate_args=False).rsample() for k, a in alpha.items()}

    def regulariser(self, alpha: dict[str, torch.Tensor]) -> torch.Tensor:
        c = self.config
        total = 0.0
        for a in alpha.values():
            beta = concentration(a)
            if c.reg_type == "kl":
                total = total + kl_divergence(Dirichlet(beta, validate_args=False),
                                              Dirichlet(torch.full_like(beta, c.prior), validate_args=False)).sum()
            else:
                total = total + (beta ** 2).sum()
        return c.reg_scale * total

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        alpha = self.alpha.tensors()
        logits_v = self.supernet(valid[0], self._sample(alpha))
        loss_v = F.cross_entropy(logits_v, valid[1])
        grads = torch.autograd.grad(loss_v + self.regulariser(alpha), list(alpha.values()))
        self.arch_update(dict(zip(alpha.keys(), grads)))
        w = {k: v.detach() for k, v in self._sample(self.alpha.tensors()).items()}
        logits = self.supernet(train[0], w)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v)}

    def mix(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: (b := concentration(a)) / b.sum(-1, keepdim=True) for k, a in alpha.items()}

    def current_architecture(self) -> Architecture:
        return self.space.discretize({k: v.detach() for k, v in self.mix(self.alpha.tensors()).items()})
