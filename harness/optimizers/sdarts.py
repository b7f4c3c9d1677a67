"""SDARTS-RS and SDARTS-ADV (Chen & Hsieh, ICML 2020): smoothing the weight step.

DARTS (first order) where the supernet-weight step sees perturbed mixing
weights: random ``U(-eps, eps)`` noise (RS) or a 7-step PGD attack in the
L-infinity ball (ADV), each followed by SDARTS's row clip-and-renormalise, the
attack run with the supernet in eval mode and dropped when it did not raise
the loss (``parts.perturb``). ``eps`` ramps linearly from ``eps_start`` (0.03)
to ``eps_end`` (0.3) over the search, as in SmoothDARTS ``nasbench201/train_search.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch
from harness.optimizers.darts import Darts, DartsConfig
from harness.optimizers.parts import darts_grad
from harness.optimizers.parts.perturb import epsilon_schedule, pgd_linf, random_smoothing


@dataclass(frozen=True)
class SdartsConfig(DartsConfig):
    eps_start: float = 0.03
    eps_end: float = 0.3
    pgd_steps: int = 7
    #: BN statistics of the eval-mode attack: "running" (the supernet tracks running statistics, as SDARTS's
    #: supernets do: BatchNorm2d(affine=False) keeps torch's track_running_stats=True) or "batch" (ours before).
    attack_bn: str = "running"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.attack_bn not in ("running", "batch"):
            from search_spaces.errors import ConfigError

            raise ConfigError(f"SdartsConfig.attack_bn must be 'running' or 'batch', got {self.attack_bn!r}")


class _Sdarts(Darts):
    config_cls = SdartsConfig
    adversarial = False

    @property
    def epsilon(self) -> float:
        c = self.config
        return epsilon_schedule(self.epoch, self.epochs, c.eps_start, c.eps_end)

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        loss_fn = darts_grad.cross_entropy_loss(self.supernet, self.mix)
        loss_v, logits_v, grads = darts_grad.first_order(loss_fn, self.alpha.tensors(), valid)
        self.arch_update(grads)
        clean = {k: v.detach() for k, v in self.mix(self.alpha.tensors()).items()}
        if self.adversarial:
            was = self.supernet.training
            self.supernet.eval()  # Linf_PGD_alpha attacks in eval mode
            try:
                w = pgd_linf(clean, lambda a: F.cross_entropy(self.supernet(train[0], a), train[1]),
                             self.epsilon, self.config.pgd_steps, self.generator)
            finally:
                self.supernet.train(was)
        else:
            w = random_smoothing(clean, self.epsilon, self.generator)
        logits = self.supernet(train[0], {k: v.detach() for k, v in w.items()})
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v),
                "epsilon": torch.tensor(self.epsilon)}


@register_optimizer("sdarts-rs")
class SdartsRS(_Sdarts):
    name = "sdarts-rs"
    description = "SDARTS-RS: random smoothing of the weight step (Chen & Hsieh 2020)"


@register_optimizer("sdarts-adv")
class SdartsADV(_Sdarts):
    name = "sdarts-adv"
    adversarial = True
    description = "SDARTS-ADV: PGD-perturbed weight step (Chen & Hsieh 2020)"

    @classmethod
    def supernet_overrides(cls, config: SdartsConfig) -> dict:
        # the attack runs in eval mode: with running statistics tracked, it normalises with them
        return {"track_running_stats": True} if config.attack_bn == "running" else {}
