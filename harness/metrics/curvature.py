"""Curvature of the validation loss in architecture space (RobustDARTS, Zela et al., ICLR 2020).

The quantity is the dominant (largest algebraic) eigenvalue of

    H = d^2 L_val(w, alpha) / d alpha^2,

the Hessian of the supernet's validation loss with respect to ALL
architecture logits of an optimizer (``optimizer.arch_parameters()``,
flattened in dict order), at the current supernet weights ``w``, on a few
fixed validation batches (their losses averaged). The mixing weights are the
softmax of the logits (the DARTS relaxation), unless the optimizer provides
a deterministic ``curvature_mix`` callable.

Hessian-vector products come from double backward: the gradient graph is
built once (``create_graph=True``), then each product is one more backward
through it. The eigensolvers (``harness.metrics.eigensolvers``: Lanczos by default,
with guard Ritz values so that it is the top eigenvalue that is found) see
only that product; the previous evaluation's top eigenvector warm-starts the
next. ``exact_hessian`` (``n`` products) validates the iterative path on
small architecture vectors.
Drop-path is off during an evaluation (a stochastic loss has no Hessian) and
batch-norm running statistics are restored afterwards.

Run ``python -m harness.bench.curvature --space s1`` for the cost benchmark.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from harness.metrics.double_backward import cheap_double_backward
from harness.metrics.eigensolvers import EigenResult, Hvp, exact_hessian, is_warm_start, lanczos, power_iteration
from search_spaces.errors import ConfigError

Batch = tuple[torch.Tensor, torch.Tensor]

METHODS = ("lanczos", "power", "exact")

#: How batch norm and ReLU are recorded in the product graph (``harness.metrics.double_backward``): the default
#: hand-derived double backward, autograd on primitive BN ops, or PyTorch's own kernels.
GRAPH_OPS = {
    "closed-form": cheap_double_backward,
    "closed-form-bn": lambda: cheap_double_backward(relu=False),
    "primitive-bn": lambda: cheap_double_backward("primitive", relu=False),
    "pytorch": contextlib.nullcontext,
}


@dataclass(frozen=True)
class EigenConfig:
    """How the dominant eigenvalue is computed.

    Attributes:
        method: ``lanczos`` (default), ``power`` (shifted power iteration) or ``exact`` (full Hessian).
        k: Number of top eigenvalues (Lanczos / exact only).
        tol: Relative residual bound of the top Ritz values (Lanczos: 1e-2 guarantees an
            eigenvalue within 1%) or relative change of the Rayleigh quotient (power).
        max_iter: Maximum Hessian-vector products (capped at the dimension for Lanczos).
        num_batches: Validation batches whose mean loss defines the Hessian.
        warm_start: Start from the previous evaluation's top eigenvector.
        guard: Lanczos only: extra Ritz values that must also converge (to ``GUARD_FACTOR * tol``, see
            ``harness.metrics.eigensolvers``) before stopping,
            so that a start vector nearly orthogonal to the top eigenvector cannot end on the second one.
        warm_guard: ``guard`` of a warm-started evaluation. A warm start's failure is ending on the
            previous top eigenvalue after two crossed, now the second: one guard value, which must converge
            too, catches it (on RobustDARTS's logged S1 Hessians: no miss in 4,680 warm evaluations with
            one guard, none with two, 30 with none; ``python -m harness.analysis.lanczos_check``). A random start
            can lie almost orthogonal to the top eigenvector by chance: two guards.
    """

    method: str = "lanczos"
    k: int = 1
    tol: float = 1e-2
    max_iter: int = 40
    num_batches: int = 1
    warm_start: bool = True
    guard: int = 2
    warm_guard: int = 1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"EigenConfig.method must be one of {METHODS}, got {self.method!r}")
        if self.k < 1 or self.max_iter < 1 or self.num_batches < 1:
            raise ConfigError("EigenConfig: k, max_iter and num_batches must be >= 1")
        if self.guard < 0 or self.warm_guard < 0:
            raise ConfigError(f"EigenConfig.guard and warm_guard must be >= 0, got {self.guard}, {self.warm_guard}")
        if self.method == "power" and self.k != 1:
            raise ConfigError("EigenConfig: power iteration computes only k=1")
        if not 0.0 < self.tol < 1.0:
            raise ConfigError(f"EigenConfig.tol must lie in (0, 1), got {self.tol}")


# -- Hessian-vector products -------------------------------------------------

def _flat(ts: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in ts])


def make_hvp(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, Hvp]:
    """Gradient ``[n]`` and a reusable Hessian-vector product of the scalar ``loss`` w.r.t. ``params``.

    The gradient graph is kept alive (``retain_graph``) so that every product is
    a single extra backward pass.
    """
    params = list(params)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    g = _flat(grads)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad(g, params, grad_outputs=v.to(g.dtype).to(g.device), retain_graph=True,
                                 allow_unused=True)
        return _flat([torch.zeros_like(p) if h is None else h for p, h in zip(params, hv)]).double()

    return g.detach(), hvp


# -- the validation-loss Hessian of an optimizer -------------------------------

def _softmax_mix(alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: torch.softmax(v, dim=-1) for k, v in alpha.items()}


@contextlib.contextmanager
def deterministic_supernet(supernet: nn.Module) -> Iterator[None]:
    """Drop-path off and batch-norm running statistics restored on exit."""
    dp = getattr(supernet, "drop_path_prob", None)
    buffers = {k: b.detach().clone() for k, b in supernet.named_buffers()}
    if dp is not None:
        supernet.drop_path_prob = 0.0
    try:
        yield
    finally:
        if dp is not None:
            supernet.drop_path_prob = dp
        with torch.no_grad():
            for k, b in supernet.named_buffers():
                b.copy_(buffers[k])


def arch_hessian_operator(optimizer, batches: Sequence[Batch],
                          graph_ops: str = "closed-form") -> tuple[list[torch.Tensor], Hvp]:
    """Logit tensors and the Hessian-vector product of the mean validation loss over ``batches``.

    Must be used inside ``deterministic_supernet(optimizer.supernet)``. ``graph_ops``: the forms of batch
    norm and ReLU the graph is built with (a key of ``GRAPH_OPS``; the same Hessian, products of
    different cost).
    """
    alpha = dict(optimizer.arch_parameters())
    if not alpha:
        raise ConfigError(f"optimizer {type(optimizer).__name__} has no architecture parameters")
    if not batches:
        raise ConfigError("curvature: at least one validation batch is needed")
    mix = getattr(optimizer, "curvature_mix", None) or _softmax_mix
    params = [p if p.requires_grad else p.detach().requires_grad_(True) for p in alpha.values()]
    named = dict(zip(alpha.keys(), params))
    total = 0.0
    with GRAPH_OPS[graph_ops]():
        for x, y in batches:
            total = total + F.cross_entropy(optimizer.supernet(x, mix(named)), y)
    _, hvp = make_hvp(total / len(batches), params)
    return params, hvp


def dominant_eigenvalue(optimizer, batches: Sequence[Batch], config: EigenConfig = EigenConfig(),
                        v0: torch.Tensor | None = None, seed: int = 0,
                        graph_ops: str = "closed-form") -> EigenResult:
    """Top eigenvalue(s) of the validation-loss Hessian w.r.t. all architecture logits.

    Args:
        optimizer: A search optimizer with ``supernet`` and ``arch_parameters()``.
        batches: Validation batches ``(x [B, C, H, W], y [B])``; the first ``config.num_batches`` are used.
        v0: Warm-start vector ``[n]`` (e.g. the previous result's ``vectors[:, 0]``).
        graph_ops: Forms of batch norm and ReLU in the product graph (``GRAPH_OPS``; same Hessian).
    """
    t0 = time.perf_counter()
    use = list(batches)[:config.num_batches]
    sup = optimizer.supernet
    dev = next(sup.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    # compiled graphs (``harness run --compile``) have no double backward: run this one eagerly
    with deterministic_supernet(sup), torch.compiler.set_stance("force_eager"):
        params, hvp = arch_hessian_operator(optimizer, use, graph_ops)
        n = sum(p.numel() for p in params)
        if config.method == "exact":
            h = exact_hessian(hvp, n, dev)
            vals, vecs = torch.linalg.eigh(h)
            k = min(config.k, n)
            res = EigenResult([float(v) for v in vals.flip(0)[:k]], vecs.flip(1)[:, :k], hvps=n)
        elif config.method == "power":
            res = power_iteration(hvp, n, config.tol, config.max_iter, v0, gen, dev)
        else:
            guard = config.warm_guard if is_warm_start(v0, n) else config.guard
            res = lanczos(hvp, n, config.k, config.tol, config.max_iter, v0, gen, dev, guard)
    res.seconds = time.perf_counter() - t0
    return res


@dataclass
class CurvatureTracker:
    """Keeps the warm-start vector between evaluations."""

    config: EigenConfig = field(default_factory=EigenConfig)
    vector: torch.Tensor | None = None
    evaluations: int = 0

    def evaluate(self, optimizer, batches: Sequence[Batch]) -> EigenResult:
        res = dominant_eigenvalue(optimizer, batches, self.config,
                                  self.vector if self.config.warm_start else None, seed=self.evaluations)
        self.vector = res.vectors[:, 0].clone()
        self.evaluations += 1
        return res

    def state_dict(self) -> dict:
        return {"vector": self.vector, "evaluations": self.evaluations}

    def load_state_dict(self, state: dict) -> None:
        self.vector, self.evaluations = state["vector"], state["evaluations"]


def dominant_eigenvalue_column(optimizer, eval_batches: Sequence[Batch]) -> float:
    """Dominant eigenvalue for the runner's ``dominant_eigenvalue`` column (NaN without architecture logits).

    The warm-start vector lives on the optimizer (attribute ``_curvature_tracker``);
    it is not checkpointed, so after a resume the first evaluation starts cold
    (same value to the tolerance, a few more products).
    """
    if not optimizer.arch_parameters():
        return math.nan
    tracker = getattr(optimizer, "_curvature_tracker", None)
    if tracker is None:
        tracker = CurvatureTracker(EigenConfig(num_batches=max(len(eval_batches), 1)))
        optimizer._curvature_tracker = tracker
    return tracker.evaluate(optimizer, eval_batches).dominant
