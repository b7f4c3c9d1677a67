"""Turning architecture logits into mixing weights: softmax, Gumbel, uniform.

All samplers act row-wise on ``[rows, options]`` logits and draw their noise
from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import torch


def gumbel_noise(shape: torch.Size, generator: torch.Generator, device: torch.device,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """Standard Gumbel noise ``-log(Exp(1))`` (in the logits' ``dtype``, as ``empty_like(logits)``)."""
    e = torch.empty(shape, device=device, dtype=dtype).exponential_(generator=generator)
    return -e.clamp_min(1e-20).log()


def gumbel_softmax_hard(logits: torch.Tensor, tau: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """GDAS sampler: one-hot forward, softmax gradient (straight-through).

    ``probs = softmax((log_softmax(logits) + g) / tau)``; returns
    ``(one_hot - probs.detach() + probs, index)`` with index ``[rows]``.
    """
    g = gumbel_noise(logits.shape, generator, logits.device, logits.dtype)
    probs = torch.softmax((torch.log_softmax(logits, dim=-1) + g) / tau, dim=-1)
    index = probs.argmax(dim=-1)
    hard = torch.zeros_like(probs).scatter_(-1, index.unsqueeze(-1), 1.0)
    return hard - probs.detach() + probs, index


def gumbel_softmax_relaxed(logits: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """Concrete (relaxed Gumbel-softmax) sample: ``softmax((logits + g) / tau)`` (SNAS)."""
    g = gumbel_noise(logits.shape, generator, logits.device, logits.dtype)
    return torch.softmax((logits + g) / tau, dim=-1)


def linear_tau(epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """Temperature annealed linearly from ``tau_max`` (epoch 0) to ``tau_min`` (last epoch)."""
    if epochs <= 1:
        return tau_min
    return tau_max - (tau_max - tau_min) * epoch / (epochs - 1)


#: Temperature schedules: AutoDL GDAS.py reaches ``tau_min`` at the last epoch; nasbench-1shot1's
#: GDAS and DrNAS's NB-201 SNAS/GDAS step ``(tau_min - tau_max) / epochs`` after each epoch.
TAU_SCHEDULES = ("to-last-epoch", "per-epoch-step")


def tau_at(schedule: str, epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """Temperature of ``epoch`` (0-based) of ``epochs`` under ``schedule`` (see ``TAU_SCHEDULES``)."""
    if schedule == "to-last-epoch":
        return linear_tau(epoch, epochs, tau_max, tau_min)
    if schedule == "per-epoch-step":
        return tau_max + epoch * (tau_min - tau_max) / max(epochs, 1)
    raise ValueError(f"unknown tau schedule {schedule!r} (known: {TAU_SCHEDULES})")


def check_tau(owner: str, tau_max: float, tau_min: float, schedule: str) -> None:
    """``ConfigError`` unless ``0 < tau_min <= tau_max`` and ``schedule`` is one of ``TAU_SCHEDULES``."""
    from search_spaces.errors import ConfigError

    if not 0 < tau_min <= tau_max:
        raise ConfigError(f"{owner}: need 0 < tau_min <= tau_max, got {tau_min}, {tau_max}")
    if schedule not in TAU_SCHEDULES:
        raise ConfigError(f"{owner}: tau_schedule must be one of {TAU_SCHEDULES}, got {schedule!r}")
