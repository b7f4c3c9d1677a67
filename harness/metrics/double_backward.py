"""Batch norm and ReLU with cheap double backward, used while a curvature graph is built.

A Hessian-vector product differentiates the backward pass once more. For
batch norm in training mode (batch statistics) PyTorch's dedicated double
backward runs a long chain of full-size products; autograd applied to BN
written from primitive ops (``var_mean``, subtraction, ``rsqrt``, products)
is cheaper but still stores and replays every intermediate.
``batch_norm_double_backward`` writes both derivatives out by hand: its
backward is an ``autograd.Function`` whose own backward is the closed-form
second derivative below, about ten full-size passes. ReLU's backward is
re-recorded as a mask product whose derivative with respect to the input
(zero almost everywhere) autograd does not materialise as a zero tensor.

Derivation (per channel; ``M[.]`` the mean over the ``N`` elements of a
channel, ``x^ = (x - M[x]) r``, ``r = (var + eps)^(-1/2)``, ``y = s x^ + b``):

    backward:  D = gy - M[gy] - x^ M[gy x^],  gx = r s D,  gs = N M[gy x^],  gb = N M[gy]

Differentiating ``<u, gx> + us gs + ub gb`` with ``A = M[gy]``,
``Bc = M[gy x^]``, ``K = M[u gy] - M[u] A - M[u x^] Bc`` and using
``d r = -r^2 M[x^ dx]``, ``d x^ = r (dx - M[dx] - x^ M[x^ dx])``:

    d/d gy = r s (u - M[u] - x^ M[u x^]) + us x^ + ub
    d/d s  = N r K
    d/d x  = r (us - s r M[u x^]) D - s r^2 Bc (u - M[u]) + s r^2 (Bc M[u x^] - K) x^

Tested against autograd on the primitive form (values, first and second
derivatives, in float64) and on whole supernets' exact Hessians.

``cheap_double_backward()`` is a ``TorchFunctionMode``: within it every
``F.batch_norm`` call (``nn.BatchNorm2d`` modules and the fused supernet
paths alike) and every out-of-place ``F.relu`` uses these forms. Only the
forward pass that builds the graph runs inside it; the products themselves
run in the autograd engine. ``python -m harness.metrics.curvature --space s3
--compare-graph-ops`` times these against PyTorch's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.overrides import TorchFunctionMode


def batch_norm_primitive(x: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
                         weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                         training: bool = False, momentum: float | None = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """``F.batch_norm`` (``x [B, C, ...]``, statistics over every dim but 1) from primitive ops.

    Updates the running statistics in training mode as ``F.batch_norm`` does
    (unbiased variance, momentum ``momentum``; ``None`` momentum = cumulative
    average is not supported here). The reference of the hand-derived form.
    """
    dims, shape = _dims(x), _shape(x)
    if training or running_mean is None:
        var, mean = torch.var_mean(x, dims, keepdim=True, correction=0)
        _update_running(x, running_mean, running_var, mean, var, training, momentum)
    else:
        mean, var = running_mean.view(shape), running_var.view(shape)
    y = (x - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        y = y * weight.view(shape)
    if bias is not None:
        y = y + bias.view(shape)
    return y


def batch_norm_double_backward(x: torch.Tensor, running_mean: torch.Tensor | None,
                               running_var: torch.Tensor | None, weight: torch.Tensor | None = None,
                               bias: torch.Tensor | None = None, training: bool = False,
                               momentum: float | None = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """``F.batch_norm`` whose first and second derivatives are written out (module docstring).

    With running statistics in eval mode BN is affine in ``x``; that case is left to the primitive form.
    """
    if not (training or running_mean is None):
        return batch_norm_primitive(x, running_mean, running_var, weight, bias, training, momentum, eps)
    y, mean, var = _BatchNorm.apply(x, weight, bias, eps)
    _update_running(x, running_mean, running_var, mean, var, training, momentum)
    return y


def _dims(x: torch.Tensor) -> list[int]:
    return [0, *range(2, x.dim())]


def _shape(x: torch.Tensor) -> list[int]:
    return [1, -1] + [1] * (x.dim() - 2)


def _update_running(x, running_mean, running_var, mean, var, training, momentum) -> None:
    if not training or running_mean is None:
        return
    if momentum is None:
        raise NotImplementedError("cumulative moving average (momentum=None)")
    n = x.numel() // x.shape[1]
    with torch.no_grad():
        running_mean.mul_(1 - momentum).add_(mean.reshape(-1), alpha=momentum)
        running_var.mul_(1 - momentum).add_(var.reshape(-1) * (n / max(n - 1, 1)), alpha=momentum)


class _BatchNorm(torch.autograd.Function):
    """``(x, weight, bias) -> (y, batch mean, batch variance)``; the statistics are not differentiable."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        shape = _shape(x)
        var, mean = torch.var_mean(x, _dims(x), keepdim=True, correction=0)
        r = torch.rsqrt(var + eps)
        xhat = (x - mean) * r
        y = xhat if weight is None else xhat * weight.view(shape)
        if bias is not None:
            y = y + bias.view(shape)
        # xhat and r are functions of x handed to the backward as constants (its backward differentiates
        # through them by hand); saved, not attributes, so that an in-place change of y (= xhat) is caught
        ctx.save_for_backward(x, weight, xhat, r)
        ctx.has_bias = bias is not None
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx: Any, gy: torch.Tensor, _gm: Any, _gv: Any) -> tuple:
        x, weight, xhat, r = ctx.saved_tensors
        gx, gw, gb = _BatchNormBackward.apply(gy, x, weight, xhat.detach(), r.detach(), ctx.has_bias)
        return gx, gw, gb, None


class _BatchNormBackward(torch.autograd.Function):
    """``(gy, x, weight) -> (gx, gweight, gbias)`` of batch norm; its backward is the second derivative.

    ``x`` is an input only so that the second derivative reaches it; the
    normalised ``xhat`` and ``r`` come precomputed from the forward pass.
    """

    @staticmethod
    def forward(ctx: Any, gy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor | None, xhat: torch.Tensor,
                r: torch.Tensor, has_bias: bool) -> tuple:
        dims, n = _dims(x), x.numel() // x.shape[1]
        a = gy.mean(dims, keepdim=True)
        bc = (gy * xhat).mean(dims, keepdim=True)
        d = torch.addcmul(gy - a, xhat, bc, value=-1.0)
        rs = r if weight is None else r * weight.view(_shape(x))
        gx = d * rs
        gw = None if weight is None else (bc * n).reshape(-1)
        gb = (a * n).reshape(-1) if has_bias else None
        ctx.save_for_backward(gy, weight, xhat, r, d, a, bc)
        ctx.set_materialize_grads(False)  # unused outputs: no zero tensors
        return gx, gw, gb

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, u: torch.Tensor | None, us: torch.Tensor | None, ub: torch.Tensor | None) -> tuple:
        gy, weight, xhat, r, d, a, bc = ctx.saved_tensors
        shape, dims = _shape(xhat), _dims(xhat)
        n = xhat.numel() // xhat.shape[1]
        s = torch.ones_like(r) if weight is None else weight.view(shape)
        us = torch.zeros_like(r) if us is None else us.view(shape)
        rs = r * s
        g_gy = g_x = g_w = None
        if u is None:
            g_gy = xhat * us
            g_x = d * (r * us)
        else:
            mu = u.mean(dims, keepdim=True)
            mux = (u * xhat).mean(dims, keepdim=True)
            k = (u * gy).mean(dims, keepdim=True) - mu * a - mux * bc
            g_gy = torch.addcmul(u * rs, xhat, us - rs * mux).sub_(rs * mu)
            rrs = r * rs
            g_x = (d * (r * us - rrs * mux)).addcmul_(u, -rrs * bc).addcmul_(xhat, rrs * (bc * mux - k))
            g_x.add_(rrs * bc * mu)
            if weight is not None and ctx.needs_input_grad[2]:
                g_w = (n * r * k).reshape(-1)
        if ub is not None:
            g_gy = g_gy + ub.view(shape)
        return g_gy, g_x, g_w, None, None, None


class _ReLU(torch.autograd.Function):
    """ReLU whose backward ``gy * [y > 0]`` is recorded with the mask as a constant."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, gy: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        # detached: the mask is a constant (ReLU's second derivative is zero almost everywhere)
        return torch.ops.aten.threshold_backward(gy, y.detach(), 0)


def relu_double_backward(x: torch.Tensor) -> torch.Tensor:
    """``F.relu`` (out of place) whose double backward creates no zero tensor for the input."""
    return _ReLU.apply(x)


#: Batch-norm forms of ``cheap_double_backward``: the hand-derived one and the autograd-on-primitives one.
BATCH_NORM_FORMS = {"closed-form": batch_norm_double_backward, "primitive": batch_norm_primitive}


class cheap_double_backward(TorchFunctionMode):  # noqa: N801 (used like a function: ``with cheap_double_backward():``)
    """Context in which ``F.batch_norm`` and out-of-place ``F.relu`` take the forms above.

    Args:
        batch_norm: ``closed-form`` (default) or ``primitive`` (autograd on primitive ops; for comparison).
        relu: Also re-record ReLU's backward.
    """

    def __init__(self, batch_norm: str = "closed-form", relu: bool = True) -> None:
        super().__init__()
        if batch_norm not in BATCH_NORM_FORMS:
            raise ValueError(f"batch_norm must be one of {sorted(BATCH_NORM_FORMS)}, got {batch_norm!r}")
        self.batch_norm, self.relu = BATCH_NORM_FORMS[batch_norm], relu

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.batch_norm:
            return self.batch_norm(*args, **kwargs)
        if self.relu and func is F.relu and not (kwargs.get("inplace") or (len(args) > 1 and args[1])):
            return relu_double_backward(args[0])
        return func(*args, **kwargs)
