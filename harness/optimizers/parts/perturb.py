"""Perturbations of mixing weights used in the supernet-weight step (SDARTS).

Both act on the softmax-normalised weights ``A`` (rows of a group), as SDARTS
does: random smoothing adds ``U(-eps, eps)`` noise; the adversarial version
runs PGD in the L-infinity ball of radius ``eps`` around ``A`` to increase the
training loss (random start, ``steps`` signed-gradient steps of size
``2 * eps / steps``, projection back onto the ball).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def epsilon_schedule(epoch: int, epochs: int, eps_start: float, eps_end: float) -> float:
    """SDARTS ramp: ``eps_start + (eps_end - eps_start) * epoch / epochs``."""
    return eps_start + (eps_end - eps_start) * epoch / max(epochs, 1)


def random_smoothing(weights: dict[str, torch.Tensor], eps: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``A + U(-eps, eps)`` per entry."""
    return {k: w + (torch.rand(w.shape, generator=generator, device=w.device) * 2 - 1) * eps
            for k, w in weights.items()}


def pgd_linf(weights: dict[str, torch.Tensor], loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
             eps: float, steps: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Adversarial weights within ``||delta||_inf <= eps`` that increase ``loss_fn``."""
    base = {k: w.detach() for k, w in weights.items()}
    delta = {k: (torch.rand(w.shape, generator=generator, device=w.device) * 2 - 1) * eps for k, w in base.items()}
    step = 2 * eps / max(steps, 1)
    for _ in range(steps):
        d = {k: v.clone().requires_grad_(True) for k, v in delta.items()}
        loss = loss_fn({k: base[k] + d[k] for k in base})
        grads = torch.autograd.grad(loss, list(d.values()))
        with torch.no_grad():
            delta = {k: (d[k] + step * g.sign()).clamp(-eps, eps) for (k, g) in zip(d, grads)}
    return {k: base[k] + delta[k] for k in base}
