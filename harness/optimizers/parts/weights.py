"""Supernet weight training: SGD with momentum, cosine schedule, grad clipping."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def cosine_lr(config: Any, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch``: ``w_lr_min + (w_lr - w_lr_min) * (1 + cos(pi e / T)) / 2``.

    ``T`` is ``config.w_lr_period`` when positive, else ``epochs`` (AutoDL
    ``xautodl/procedures/optimizers.py`` CosineAnnealingLR: ``T_max`` defaults to the
    epochs; with a shorter ``T_max`` the cosine goes on past ``pi`` and the rate rises again).
    """
    period = getattr(config, "w_lr_period", 0) or epochs
    return config.w_lr_min + (config.w_lr - config.w_lr_min) * (1 + math.cos(math.pi * epoch / max(period, 1))) / 2


class WeightTrainer:
    """SGD on the supernet weights with a per-step cosine schedule.

    The learning rate follows ``lr_min + (lr - lr_min) * (1 + cos(pi * e / E)) / 2``
    evaluated per epoch ``e`` of ``E`` (the NB-201/DARTS schedule), computed from
    the step counter so that resume restores it exactly.
    """

    def __init__(self, module: nn.Module, config: Any, total_steps: int) -> None:
        self.module, self.config = module, config
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.opt = torch.optim.SGD(self.params, lr=config.w_lr, momentum=config.w_momentum,
                                   weight_decay=config.w_weight_decay, nesterov=config.w_nesterov)
        self.total_steps = max(total_steps, 1)
        self.steps = 0
        self.steps_per_epoch = 1

    def set_epoch(self, epoch: int, epochs: int) -> float:
        """Set the learning rate for ``epoch``; returns it."""
        lr = cosine_lr(self.config, epoch, epochs)
        for g in self.opt.param_groups:
            g["lr"] = lr
        return lr

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def step(self, loss: torch.Tensor) -> None:
        """Backward ``loss`` into the weights only, clip, and update."""
        self.apply_grads(torch.autograd.grad(loss, self.params, allow_unused=True))

    def apply_grads(self, grads) -> None:
        """Clip and apply precomputed gradients (one per parameter, None allowed)."""
        self.opt.zero_grad(set_to_none=True)
        for p, g in zip(self.params, grads):
            p.grad = g
        if self.config.grad_clip > 0:
            # foreach clipping keeps the norm on the device (no host sync)
            torch.nn.utils.clip_grad_norm_([p for p in self.params if p.grad is not None],
                                           self.config.grad_clip, foreach=True)
        self.opt.step()
        self.steps += 1

    def momentum_buffers(self) -> list[torch.Tensor | None]:
        """The SGD momentum buffer of each parameter (None before the first step)."""
        return [self.opt.state.get(p, {}).get("momentum_buffer") for p in self.params]

    def state_dict(self) -> dict[str, Any]:
        return {"opt": self.opt.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.opt.load_state_dict(state["opt"])
        self.steps = state["steps"]
