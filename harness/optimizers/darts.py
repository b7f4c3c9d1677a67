"""DARTS, first and second order (Liu et al., ICLR 2019), NB-201 protocol defaults.

Per step: one Adam step on the architecture logits from the validation batch
(first-order gradient, or the unrolled second-order one), then one SGD step on
the supernet weights from the training batch with the updated (detached)
mixing weights ``softmax(alpha)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch, OptimizerConfig, SearchOptimizer
from harness.optimizers.parts import darts_grad
from harness.optimizers.parts.arch_params import ArchParameters, adam_state, load_adam_state, make_adam, set_grads
from search_spaces import Architecture
from search_spaces.errors import ConfigError

#: Orders of the two updates of a bilevel step.
STEP_ORDERS = ("arch-first", "weights-first")


@dataclass(frozen=True)
class DartsConfig(OptimizerConfig):
    """DARTS settings (NB-201 search protocol).

    Attributes:
        arch_lr, arch_betas, arch_weight_decay: Adam on the architecture logits.
        order: 1 (first order) or 2 (unrolled second order).
        init_std: Std of the random init of the logits.
        unrolled_eps: Finite-difference scale: eps = unrolled_eps / ||v||.
        step_order: ``"arch-first"`` (DARTS ``train_search.py``: architecture step, then the
            weight step) or ``"weights-first"`` (AutoDL ``DARTS-V1.py``, the NB-201 paper's
            first-order DARTS: weight step, then the architecture step on the updated weights).
    """

    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    order: int = 1
    init_std: float = 1e-3
    unrolled_eps: float = 0.01
    step_order: str = "arch-first"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.order not in (1, 2):
            raise ConfigError(f"DartsConfig.order must be 1 or 2, got {self.order}")
        if self.step_order not in STEP_ORDERS:
            raise ConfigError(f"step_order must be one of {STEP_ORDERS}, got {self.step_order!r}")


@dataclass(frozen=True)
class Darts2Config(DartsConfig):
    order: int = 2


class ArchOptimizer(SearchOptimizer):
    """Base of optimizers with architecture logits updated by Adam."""

    config_cls = DartsConfig

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        c = self.config
        self.alpha = ArchParameters(self.space, c.init_std, self.generator, self.device)
        self.adam = make_adam(self.alpha, c.arch_lr, tuple(c.arch_betas), c.arch_weight_decay)

    def mix(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mixing weights from logits (softmax per row); subclasses may override."""
        return {k: torch.softmax(v, dim=-1) for k, v in alpha.items()}

    def current_architecture(self) -> Architecture:
        return self.space.discretize({k: v.detach() for k, v in self.alpha.softmax().items()})

    def sample(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        probs = {k: v.detach().cpu().double().numpy() for k, v in self.alpha.softmax().items()}
        out = []
        for _ in range(n):
            w = {}
            for k, p in probs.items():
                idx = [rng.choice(p.shape[1], p=row / row.sum()) for row in p]
                w[k] = torch.nn.functional.one_hot(torch.tensor(idx), p.shape[1]).float()
            out.append(self.space.discretize(w))
        return out

    def arch_weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.mix(self.alpha.tensors()).items()}

    def arch_parameters(self) -> dict[str, torch.Tensor]:
        return self.alpha.tensors()

    def arch_update(self, grads: dict[str, torch.Tensor]) -> None:
        """One Adam step on the logits with ``grads``."""
        self.adam.zero_grad(set_to_none=True)
        set_grads(self.alpha, grads)
        self.adam.step()

    def extra_state(self) -> dict[str, Any]:
        return adam_state(self.alpha, self.adam)

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_adam_state(self.alpha, self.adam, state)


@register_optimizer("darts")
class Darts(ArchOptimizer):
    """DARTS (first order by default; ``order=2`` for the unrolled gradient)."""

    name = "darts"
    description = "DARTS, first-order architecture gradient (Liu et al. 2019)"

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        if self.config.step_order == "weights-first":
            logits, loss = self._weight_step(train)
            logits_v, loss_v = self._arch_step(train, valid)
        else:
            logits_v, loss_v = self._arch_step(train, valid)
            logits, loss = self._weight_step(train)
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v)}

    def _arch_step(self, train: Batch, valid: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One Adam step of the logits (first- or second-order gradient); returns the valid logits and loss."""
        loss_fn = darts_grad.cross_entropy_loss(self.supernet, self.mix)
        if self.config.order == 1:
            loss_v, logits_v, grads = darts_grad.first_order(loss_fn, self.alpha.tensors(), valid)
        else:
            c = self.config
            loss_v, logits_v, grads = darts_grad.second_order(
                loss_fn, self.alpha.tensors(), self.weights.params, train, valid, xi=self.weights.lr,
                momentum=c.w_momentum, weight_decay=c.w_weight_decay,
                momentum_buffers=self.weights.momentum_buffers(), eps_scale=c.unrolled_eps)
        self.arch_update(grads)
        return logits_v, loss_v

    def _weight_step(self, train: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step of the weights with the current (detached) mixing weights."""
        w = {k: v.detach() for k, v in self.mix(self.alpha.tensors()).items()}
        logits = self.supernet(train[0], w)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        return logits, loss


@register_optimizer("darts-2nd")
class Darts2(Darts):
    """DARTS with the unrolled second-order architecture gradient."""

    name = "darts-2nd"
    config_cls = Darts2Config
    description = "DARTS, second-order (unrolled) architecture gradient (Liu et al. 2019)"
