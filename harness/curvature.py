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
through it. Lanczos (full re-orthogonalisation) stops when the residual bound
``|beta_m s_m|`` of the top Ritz values falls below ``tol * |theta|`` (for a
symmetric matrix it bounds the distance to a true eigenvalue) and two more
"guard" Ritz values have converged loosely (so that it is the top eigenvalue
that was found, see ``lanczos``); the previous evaluation's top eigenvector
warm-starts the next. ``exact_hessian`` (``n``
products) validates the iterative path on small architecture vectors.
Drop-path is off during an evaluation (a stochastic loss has no Hessian) and
batch-norm running statistics are restored afterwards.

Run ``python -m harness.curvature --space s1`` for the cost benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.errors import ConfigError

Batch = tuple[torch.Tensor, torch.Tensor]
#: ``hvp(v [n]) -> H v [n]`` (float64 in, float64 out).
Hvp = Callable[[torch.Tensor], torch.Tensor]

METHODS = ("lanczos", "power", "exact")
#: Residual bound of the Lanczos guard Ritz values, in units of ``tol * |theta_1|``.
GUARD_FACTOR = 3.0


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
        guard: Lanczos only: extra Ritz values that must also converge (to ``GUARD_FACTOR tol``) before stopping,
            so that a start vector nearly orthogonal to the top eigenvector cannot end on the second one.
    """

    method: str = "lanczos"
    k: int = 1
    tol: float = 1e-2
    max_iter: int = 40
    num_batches: int = 1
    warm_start: bool = True
    guard: int = 2

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"EigenConfig.method must be one of {METHODS}, got {self.method!r}")
        if self.k < 1 or self.max_iter < 1 or self.num_batches < 1:
            raise ConfigError("EigenConfig: k, max_iter and num_batches must be >= 1")
        if self.guard < 0:
            raise ConfigError(f"EigenConfig.guard must be >= 0, got {self.guard}")
        if self.method == "power" and self.k != 1:
            raise ConfigError("EigenConfig: power iteration computes only k=1")
        if not 0.0 < self.tol < 1.0:
            raise ConfigError(f"EigenConfig.tol must lie in (0, 1), got {self.tol}")


@dataclass
class EigenResult:
    """Top eigenvalues (descending) and their unit eigenvectors ``[n, k]`` (float64, CPU)."""

    values: list[float]
    vectors: torch.Tensor
    hvps: int
    seconds: float = 0.0
    converged: bool = True

    @property
    def dominant(self) -> float:
        return self.values[0]


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


def exact_hessian(hvp: Hvp, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The full symmetric Hessian ``[n, n]`` (float64) from ``n`` products with unit vectors."""
    eye = torch.eye(n, dtype=torch.float64, device=device)
    h = torch.stack([hvp(eye[i]) for i in range(n)], dim=1)
    return ((h + h.T) / 2).cpu()


def lanczos(hvp: Hvp, n: int, k: int = 1, tol: float = 1e-3, max_iter: int = 40,
            v0: torch.Tensor | None = None, generator: torch.Generator | None = None,
            device: torch.device | str = "cpu", guard: int = 2) -> EigenResult:
    """Top-``k`` (largest algebraic) eigenpairs of a symmetric operator by Lanczos.

    Full re-orthogonalisation (twice, classical Gram-Schmidt) keeps the basis
    orthonormal, so the Ritz values never duplicate. Stops when every top-``k``
    Ritz value has residual ``|beta_m s_{m,i}| <= tol * max(|theta_i|, 1e-12)``
    and the next ``guard`` Ritz values have residual ``<= GUARD_FACTOR tol |theta_1|``,
    or after ``min(max_iter, n)`` products (exact in exact arithmetic at ``n``).

    Why the guard: a small residual proves that *some* eigenvalue is near
    theta_1, not the largest one. When the start vector is nearly orthogonal
    to the top eigenvector (typical of a warm start after two eigenvalues
    crossed), Lanczos first converges to the second one. On the 468 Hessians
    logged by RobustDARTS S1 searches (``tests/test_curvature.py``) that
    happened in 9 of 1,404 warm-started evaluations without a guard (errors up
    to 26%), and in 1 of 4,680 cold ones even with one guard value at ``tol``;
    the default (two guard values at ``3 tol``) missed none of 6,084, at 8.5
    products on average.

    Args:
        hvp: ``v [n] -> H v [n]`` (float64).
        v0: Start vector ``[n]`` (warm start); random when None or degenerate.
        guard: Extra Ritz values that must also have (loosely) converged; 0 gives the plain residual rule.
    """
    q = _start_vector(n, v0, generator, device)
    basis: list[torch.Tensor] = [q]
    alphas: list[float] = []
    betas: list[float] = []
    steps, converged = min(max_iter, n), False
    for j in range(steps):
        w = hvp(basis[j])
        alphas.append(float(w @ basis[j]))
        Q = torch.stack(basis, dim=1)  # [n, j+1]
        for _ in range(2):
            w = w - Q @ (Q.T @ w)
        b = float(w.norm())
        off = torch.tensor(betas, dtype=torch.float64)
        t = torch.diag(torch.tensor(alphas, dtype=torch.float64)) + torch.diag(off, 1) + torch.diag(off, -1)
        theta, s = torch.linalg.eigh(t)  # ascending
        need = min(k + guard, n)
        if j + 1 >= need:
            res = [abs(b * float(s[-1, -1 - i])) for i in range(need)]
            bound = [tol * max(abs(float(theta[-1 - i])), 1e-12) if i < k
                     else GUARD_FACTOR * tol * max(abs(float(theta[-1])), 1e-12) for i in range(need)]
            if all(r <= bd for r, bd in zip(res, bound)):
                converged = True
                break
        if b <= 1e-10 * max(abs(x) for x in alphas + [1.0]):
            # invariant subspace: the Ritz values are exact eigenvalues of H
            converged = j + 1 >= k
            break
        if j + 1 < steps:
            betas.append(b)
            basis.append(w / b)
    converged = converged or len(alphas) == n
    Q = torch.stack(basis[:len(alphas)], dim=1)
    top = min(k, len(alphas))
    vecs = Q @ s[:, -top:].flip(-1).to(Q.device)
    return EigenResult([float(theta[-1 - i]) for i in range(top)], vecs.cpu(), hvps=len(alphas), converged=converged)


def power_iteration(hvp: Hvp, n: int, tol: float = 1e-3, max_iter: int = 40, v0: torch.Tensor | None = None,
                    generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> EigenResult:
    """Largest algebraic eigenvalue by power iteration, shifted when the largest-magnitude one is negative.

    Plain power iteration converges to the eigenvalue of largest magnitude; if
    that is negative, a second run on ``H + |mu| I`` finds the largest algebraic one.
    """
    mu, v, used, conv = _power(hvp, n, tol, max_iter, v0, generator, device, shift=0.0)
    if mu < 0:
        lam, v, used2, conv = _power(hvp, n, tol, max_iter, None, generator, device, shift=-mu)
        mu, used = lam + mu, used + used2
    return EigenResult([mu], v[:, None].cpu(), hvps=used, converged=conv)


def _power(hvp, n, tol, max_iter, v0, generator, device, shift):
    v = _start_vector(n, v0, generator, device)
    prev = None
    for i in range(max_iter):
        w = hvp(v) + shift * v
        lam = float(v @ w)  # Rayleigh quotient
        if float(w.norm()) == 0.0:
            return 0.0, v, i + 1, True
        v = w / w.norm()
        if prev is not None and abs(lam - prev) <= tol * max(abs(lam), 1e-12):
            return lam, v, i + 1, True
        prev = lam
    return lam, v, max_iter, False


def _start_vector(n: int, v0: torch.Tensor | None, generator: torch.Generator | None,
                  device: torch.device | str) -> torch.Tensor:
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    rnd = torch.randn(n, generator=g, dtype=torch.float64)
    v = rnd
    if v0 is not None and v0.numel() == n and float(v0.norm()) > 0:
        # a small random component keeps the start from being orthogonal to a new top eigenvector
        v = v0.detach().double().cpu().reshape(-1) / v0.norm() + 1e-3 * rnd / rnd.norm()
    return (v / v.norm()).to(device)


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


def arch_hessian_operator(optimizer, batches: Sequence[Batch]) -> tuple[list[torch.Tensor], Hvp]:
    """Logit tensors and the Hessian-vector product of the mean validation loss over ``batches``.

    Must be used inside ``deterministic_supernet(optimizer.supernet)``.
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
    for x, y in batches:
        total = total + F.cross_entropy(optimizer.supernet(x, mix(named)), y)
    _, hvp = make_hvp(total / len(batches), params)
    return params, hvp


def dominant_eigenvalue(optimizer, batches: Sequence[Batch], config: EigenConfig = EigenConfig(),
                        v0: torch.Tensor | None = None, seed: int = 0) -> EigenResult:
    """Top eigenvalue(s) of the validation-loss Hessian w.r.t. all architecture logits.

    Args:
        optimizer: A search optimizer with ``supernet`` and ``arch_parameters()``.
        batches: Validation batches ``(x [B, C, H, W], y [B])``; the first ``config.num_batches`` are used.
        v0: Warm-start vector ``[n]`` (e.g. the previous result's ``vectors[:, 0]``).
    """
    t0 = time.perf_counter()
    use = list(batches)[:config.num_batches]
    sup = optimizer.supernet
    dev = next(sup.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    # compiled graphs (``harness run --compile``) have no double backward: run this one eagerly
    with deterministic_supernet(sup), torch.compiler.set_stance("force_eager"):
        params, hvp = arch_hessian_operator(optimizer, use)
        n = sum(p.numel() for p in params)
        if config.method == "exact":
            h = exact_hessian(hvp, n, dev)
            vals, vecs = torch.linalg.eigh(h)
            k = min(config.k, n)
            res = EigenResult([float(v) for v in vals.flip(0)[:k]], vecs.flip(1)[:, :k], hvps=n)
        elif config.method == "power":
            res = power_iteration(hvp, n, config.tol, config.max_iter, v0, gen, dev)
        else:
            res = lanczos(hvp, n, config.k, config.tol, config.max_iter, v0, gen, dev, config.guard)
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


# -- cost benchmark ------------------------------------------------------------

def benchmark(space: str = "s1", optimizer: str = "darts-2nd", channels: int = 16, depth: int = 8,
              input_size: int = 32, batch_size: int = 64, steps: int = 5, evaluations: int = 5,
              steps_between: int = 2, config: EigenConfig = EigenConfig(), device: str = "cpu",
              seed: int = 0) -> dict[str, float]:
    """Time one eigenvalue evaluation in units of one search step of ``optimizer``.

    Random CIFAR-shaped data; the supernet is first trained for ``steps``
    timed steps, then ``evaluations`` evaluations are timed, each after
    ``steps_between`` more steps (so warm starts see a drifted Hessian).
    """
    from harness.optimizers import create_optimizer, supernet_overrides
    from search_spaces import get_space

    torch.manual_seed(seed)
    dev = torch.device(device)
    sp = get_space(space)
    cfg = sp.default_config().with_overrides(channels=channels, depth=depth, input_size=input_size, in_channels=3,
                                             num_classes=10, **supernet_overrides(optimizer))
    net = sp.build_supernet(cfg).to(dev)
    opt = create_optimizer(optimizer, sp, net, epochs=50, steps_per_epoch=100, seed=seed)
    opt.on_epoch_start(0)

    def batch() -> Batch:
        return (torch.randn(batch_size, 3, input_size, input_size, device=dev),
                torch.randint(0, 10, (batch_size,), device=dev))

    def clock() -> float:
        # CUDA: wall time of finished kernels; CPU: this process's CPU time, robust to other jobs on shared cores
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            return time.perf_counter()
        return time.process_time()

    valid = [batch() for _ in range(config.num_batches)]
    opt.step(batch(), batch())  # warm-up (allocator, kernels)
    t0 = clock()
    for _ in range(steps):
        opt.step(batch(), batch())
    step_s = (clock() - t0) / steps
    tracker, runs = CurvatureTracker(config), []  # runs[0] starts cold, the others warm
    for _ in range(evaluations):
        for _ in range(steps_between):
            opt.step(batch(), batch())
        t0 = clock()
        res = tracker.evaluate(opt, valid)
        runs.append((clock() - t0, res.hvps))
    warm = runs[1:] or runs
    warm_s, warm_h = (sum(r[i] for r in warm) / len(warm) for i in (0, 1))
    n = sum(p.numel() for p in opt.arch_parameters().values())
    return {"space": space, "optimizer": optimizer, "arch_params": n, "step_seconds": step_s, "cold_seconds": runs[0][0], "cold_hvps": runs[0][1], "warm_seconds": warm_s,
            "warm_hvps": warm_h, "cold_steps": runs[0][0] / step_s, "warm_steps": warm_s / step_s}


def main(argv: list[str] | None = None) -> None:
    """``python -m harness.curvature``: print the cost of one evaluation in search steps."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("space", "s1"), ("optimizer", "darts-2nd"), ("method", "lanczos"), ("device", "cpu")):
        p.add_argument(f"--{name}", default=default)
    for name, default in (("channels", 16), ("depth", 8), ("input-size", 32), ("batch-size", 64), ("steps", 5),
                          ("evaluations", 5), ("num-batches", 1)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--tol", type=float, default=1e-2)
    a = p.parse_args(argv)
    r = benchmark(a.space, a.optimizer, a.channels, a.depth, a.input_size, a.batch_size, a.steps, a.evaluations,
                  config=EigenConfig(method=a.method, tol=a.tol, num_batches=a.num_batches), device=a.device)
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
