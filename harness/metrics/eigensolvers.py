"""Eigensolvers for a symmetric operator given only as a matrix-vector product.

Pure numerics, no model: ``harness.metrics.curvature`` applies them to the
validation-loss Hessian in architecture space. ``lanczos`` is the default,
``power_iteration`` the simple alternative, ``exact_hessian`` the
``n``-product reference that validates both on small dimensions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

#: ``hvp(v [n]) -> H v [n]`` (float64 in, float64 out).
Hvp = Callable[[torch.Tensor], torch.Tensor]

#: Residual bound of the Lanczos guard Ritz values, in units of ``tol * |theta_1|``.
GUARD_FACTOR = 3.0


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
    logged by RobustDARTS S1 searches (``python -m harness.analysis.lanczos_check``,
    10 random starts each) the plain rule missed by more than 1% in 30 of
    4,680 warm and 9 of 4,680 cold evaluations (errors up to 26%); with one
    guard value in 0 warm (6.4 products on average) and 5 cold; with two in
    0 warm and 1 cold (7.3%), at 8.0 and 8.6 products; ``guard=3`` missed
    none, at 9.8 products cold. ``EigenConfig`` uses two for random starts,
    one for warm starts.

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


def is_warm_start(v0: torch.Tensor | None, n: int) -> bool:
    """Whether the solvers start from ``v0`` (a non-zero ``[n]`` vector) rather than a random vector."""
    return v0 is not None and v0.numel() == n and float(v0.norm()) > 0


def _start_vector(n: int, v0: torch.Tensor | None, generator: torch.Generator | None,
                  device: torch.device | str) -> torch.Tensor:
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    rnd = torch.randn(n, generator=g, dtype=torch.float64)
    v = rnd
    if is_warm_start(v0, n):
        # a small random component keeps the start from being orthogonal to a new top eigenvector
        v = v0.detach().double().cpu().reshape(-1) / v0.norm() + 1e-3 * rnd / rnd.norm()
    return (v / v.norm()).to(device)
