"""The DARTS architecture gradient, first and second order (Liu et al., ICLR 2019).

Second order (paper eqs. 6-8): with the virtual step
``w' = w - xi * (momentum * m + grad_w L_train(w, alpha) + wd * w)`` (the update
the weight optimizer would make; with momentum and wd 0 this is the paper's
``w - xi grad_w L_train``),

    grad_alpha L_val(w', alpha) - xi * H v,     v = grad_w' L_val(w', alpha),

where ``H v = grad^2_{alpha,w} L_train(w, alpha) v`` is approximated by the
central difference ``(grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)) / (2 eps)``,
``w+- = w +- eps v``, ``eps = 0.01 / ||v||``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F

#: loss_fn(x, y, alpha) -> scalar loss: builds mixing weights from alpha and runs the supernet.
LossFn = Callable[[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]], tuple[torch.Tensor, torch.Tensor]]


#: Tensors whose gradients ``first_order`` also computes (and discards); set only by ``reference_gradients``.
_WASTED: list[torch.Tensor] = []


@contextmanager
def reference_gradients(params: Iterable[torch.Tensor]) -> Iterator[None]:
    """Benchmark mode: the first-order architecture step also computes the gradients of ``params``.

    The DARTS / NB-201 reference code takes the architecture step with
    ``loss.backward()``, which fills the weights' gradients too (then thrown
    away); ``harness bench`` uses this to time that reference. Never used in a search.
    """
    _WASTED[:] = [p for p in params if p.requires_grad]
    try:
        yield
    finally:
        _WASTED.clear()


def first_order(loss_fn: LossFn, alpha: dict[str, torch.Tensor], valid: tuple[torch.Tensor, torch.Tensor]):
    """``(loss, logits, grad_alpha L_val(w, alpha))``; autograd computes no weight gradients."""
    loss, logits = loss_fn(valid[0], valid[1], alpha)
    a = list(alpha.values())
    grads = torch.autograd.grad(loss, a + _WASTED, allow_unused=bool(_WASTED))[: len(a)]
    return loss, logits, dict(zip(alpha.keys(), grads))


def second_order(loss_fn: LossFn, alpha: dict[str, torch.Tensor], params: Sequence[torch.Tensor],
                 train: tuple[torch.Tensor, torch.Tensor], valid: tuple[torch.Tensor, torch.Tensor],
                 xi: float, momentum: float, weight_decay: float,
                 momentum_buffers: Sequence[torch.Tensor | None], eps_scale: float = 0.01):
    """``(loss_val, logits_val, unrolled grad_alpha)`` as in the DARTS paper.

    The weight arithmetic (virtual step, ``||v||``, the ``w +- eps v`` moves and the
    restore) runs as ``torch._foreach_*`` ops over all weight tensors at once
    rather than as Python-dispatched ops per tensor (a supernet has ~100).

    Args:
        params: The supernet weights ``w`` (restored on return).
        xi: Virtual learning rate (DARTS uses the current weight lr).
        momentum, weight_decay, momentum_buffers: The weight optimizer's, for the virtual step.
    """
    keys, a = list(alpha.keys()), list(alpha.values())
    params = list(params)
    backup = [p.detach().clone() for p in params]
    loss_t, _ = loss_fn(train[0], train[1], {k: v.detach() for k, v in alpha.items()})
    g_t = _zero_if_unused(torch.autograd.grad(loss_t, params, allow_unused=True), params)
    try:
        with torch.no_grad():
            # d = g + wd * w (+ momentum * m); w <- w - xi * d: the step the weight optimizer would take
            d = torch._foreach_add(g_t, backup, alpha=weight_decay)
            moving = [(d_i, m) for d_i, m in zip(d, momentum_buffers) if m is not None]
            if moving:
                torch._foreach_add_([d_i for d_i, _ in moving], [m for _, m in moving], alpha=momentum)
            torch._foreach_mul_(d, xi)
            torch._foreach_sub_(params, d)
        loss_v, logits_v = loss_fn(valid[0], valid[1], alpha)
        grads = torch.autograd.grad(loss_v, a + params, allow_unused=True)
        g_alpha = grads[: len(a)]
        v = _zero_if_unused(grads[len(a):], params)
        with torch.no_grad():
            eps = eps_scale / torch.linalg.vector_norm(torch.stack(torch._foreach_norm(v)))
        hvp = _finite_difference_hvp(loss_fn, alpha, params, backup, v, eps, train)
    finally:
        with torch.no_grad():
            torch._foreach_copy_(params, backup)
    return loss_v, logits_v, {k: g - xi * h for k, g, h in zip(keys, g_alpha, hvp)}


def _zero_if_unused(grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``grads`` with zeros for the weights the loss does not use (autograd's ``None``)."""
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def _finite_difference_hvp(loss_fn, alpha, params, w0, v, eps, train):
    """Central difference of grad_alpha L_train along ``v``; leaves ``params`` at ``w0 - eps v``."""
    with torch.no_grad():
        step = torch._foreach_mul(v, eps)  # eps is a 0-d tensor: no host read
    out = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            torch._foreach_copy_(params, w0)
            torch._foreach_add_(params, step, alpha=sign)
        loss, _ = loss_fn(train[0], train[1], alpha)
        out.append(torch.autograd.grad(loss, list(alpha.values())))
    return [(gp - gm) / (2 * eps) for gp, gm in zip(*out)]


def cross_entropy_loss(forward: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor],
                       mix: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]) -> LossFn:
    """A ``LossFn`` from a supernet forward and a logits->mixing-weights map."""

    def fn(x, y, alpha):
        logits = forward(x, mix(alpha))
        return F.cross_entropy(logits, y), logits

    return fn
