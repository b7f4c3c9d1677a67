"""Perturbations of mixing weights in the supernet-weight step (SDARTS, Chen & Hsieh, ICML 2020).

Semantics of the official code (xiangning-chen/SmoothDARTS ``attacker/perturb.py``
and ``Network.clip`` in ``nasbench201/model.py``), on the softmax-normalised
weights ``A`` (one row per edge):

- ``clip_rows``: per row, clamp to [0, 1]; a row that became all zero gets a 1
  at the entry that was its largest before clamping; divide by the row sum.
- ``random_smoothing`` (SDARTS-RS): ``clip(A + U(-eps, eps))``.
- ``pgd_linf`` (SDARTS-ADV): random start ``clip(A + U(-eps, eps))``, then
  ``steps`` signed-gradient ascent steps of size ``2 eps / steps`` on the
  training loss, each followed by projection onto the L-inf ball of radius
  ``eps`` around ``A`` and ``clip``; if the attack did not raise the loss
  (``loss(A) > loss(perturbed)``), ``A`` itself is returned. The caller puts
  the supernet in eval mode around the attack, as ``Linf_PGD_alpha`` does.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def epsilon_schedule(epoch: int, epochs: int, eps_start: float, eps_end: float) -> float:
    """SDARTS ramp: ``eps_start + (eps_end - eps_start) * epoch / epochs``."""
    return eps_start + (eps_end - eps_start) * epoch / max(epochs, 1)


def clip_rows(w: torch.Tensor) -> torch.Tensor:
    """SDARTS ``clip`` of ``[rows, options]`` (or ``[..., options]``) weights, row-wise."""
    top = w.argmax(-1, keepdim=True)
    c = w.clamp(0.0, 1.0)
    empty = (c.sum(-1, keepdim=True) == 0.0)
    c = torch.where(empty & (torch.arange(w.shape[-1], device=w.device) == top), torch.ones_like(c), c)
    return c / c.sum(-1, keepdim=True)


def _uniform(w: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(w.shape, generator=generator, device=w.device, dtype=w.dtype) * 2 - 1) * eps


def random_smoothing(weights: dict[str, torch.Tensor], eps: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """SDARTS-RS: ``clip(A + U(-eps, eps))`` per group."""
    return {k: clip_rows(w + _uniform(w, eps, generator)) for k, w in weights.items()}


def pgd_linf(weights: dict[str, torch.Tensor], loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
             eps: float, steps: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """SDARTS-ADV: the PGD-perturbed weights, or the clean ones if the attack did not raise the loss."""
    base = {k: w.detach() for k, w in weights.items()}
    with torch.no_grad():
        loss_before = loss_fn(base)
    cur = {k: clip_rows(w + _uniform(w, eps, generator)) for k, w in base.items()}
    step = 2 * eps / max(steps, 1)
    for _ in range(steps):
        d = {k: v.clone().requires_grad_(True) for k, v in cur.items()}
        grads = torch.autograd.grad(loss_fn(d), list(d.values()))
        with torch.no_grad():
            cur = {k: clip_rows(base[k] + (d[k] + step * g.sign() - base[k]).clamp(-eps, eps))
                   for k, g in zip(d, grads)}
    with torch.no_grad():
        worse = loss_before > loss_fn(cur)  # 0-d device bool: no host sync
    return {k: torch.where(worse, base[k], cur[k]) for k in base}
