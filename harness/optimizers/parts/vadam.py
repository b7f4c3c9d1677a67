"""Variational Adam on a diagonal Gaussian ``q = N(mu, sigma^2)`` (BaLeNAS, after Khan et al., ICML 2018).

Two forms, with ``g`` the minibatch gradient of the mean loss at a sample
``alpha ~ q``, ``delta`` the prior precision over ``N`` (delta-tilde) and
``sigma_t^2 = 1 / (N (s_t + delta))`` in both:

- ``"vadam"`` (Khan et al. 2018, Fig. 1, "Vadam"; the algorithm BaLeNAS says it
  uses, and our default): Adam's moments with bias correction and a square root,

      m_t = g1 m_{t-1} + (1 - g1) (g + delta mu),   s_t = g2 s_{t-1} + (1 - g2) g o g
      mu_t = mu_{t-1} - alpha (m_t / (1 - g1^t)) / (sqrt(s_t / (1 - g2^t)) + delta)

  so the mean moves like DARTS's architecture Adam (``alpha`` = its lr,
  ``g1`` = 0.5, ``g2`` = 0.999) while ``s`` (uncorrected, as in Khan's
  ``sigma = 1 / sqrt(N s + lambda)``) grows from 0 and shrinks ``sigma`` where
  gradients are large and consistent: exploration first, concentration later.
- ``"eq17"`` (BaLeNAS eqs. (17)-(18) as printed: natural momentum, no square
  root, no bias correction):

      s_{t+1}  = (1 - beta) s_t + beta (g o g)                                      (18)
      mu_{t+1} = mu_t - beta (g + delta mu_t) / (s_{t+1} + delta)
                 + gamma ((s_t + delta) / (s_{t+1} + delta)) o (mu_t - mu_{t-1})    (17)

  With DARTS-scale gradients (``s`` about 1e-5) its step is ``beta g / delta``,
  about 30x DARTS's, and ``sigma`` stays at its prior; kept as an option.

``N = inf`` makes ``sigma = 0`` (a point estimate).

Everything acts entry-wise on ``dict[str, Tensor]`` (the architecture groups,
each ``[rows, options]``), so the part is independent of search spaces.
"""

from __future__ import annotations

import math
from typing import Any

import torch

Tensors = dict[str, torch.Tensor]


def vadam_update(mu: torch.Tensor, mu_prev: torch.Tensor, s: torch.Tensor, g: torch.Tensor, *,
                 beta: float, gamma: float, delta: float, g2: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One VAdam step on one tensor (pure function).

    Args:
        mu: ``mu_t``, any shape.
        mu_prev: ``mu_{t-1}`` (equal to ``mu`` at the first step, so there is no momentum yet).
        s: ``s_t`` (same shape, >= 0).
        g: Gradient at the sample (same shape).
        beta: Step size, also the rate of the ``s`` average.
        gamma: Momentum.
        delta: ``delta~`` (> 0).
        g2: What feeds ``s`` (default ``g o g``; with M draws, Vadam's mean of their squares).

    Returns:
        ``(mu_{t+1}, s_{t+1})``.
    """
    s_next = (1.0 - beta) * s + beta * (g * g if g2 is None else g2)
    denom = s_next + delta
    mu_next = mu - beta * (g + delta * mu) / denom + gamma * ((s + delta) / denom) * (mu - mu_prev)
    return mu_next, s_next


def adam_form_update(mu: torch.Tensor, m: torch.Tensor, s: torch.Tensor, g: torch.Tensor, t: int, *,
                     alpha: float, gamma1: float, gamma2: float, delta: float, g2: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Vadam step (Khan et al. 2018, Fig. 1) on one tensor; ``t`` is the step number from 1. ``g2`` feeds
    ``s`` (default ``g o g``; with M Monte-Carlo draws Vadam averages the squared gradient of each draw).

    Returns:
        ``(mu_t, m_t, s_t)``.
    """
    m_next = gamma1 * m + (1.0 - gamma1) * (g + delta * mu)
    s_next = gamma2 * s + (1.0 - gamma2) * (g * g if g2 is None else g2)
    m_hat = m_next / (1.0 - gamma1 ** t)
    s_hat = s_next / (1.0 - gamma2 ** t)
    return mu - alpha * m_hat / (torch.sqrt(s_hat) + delta), m_next, s_next


def vadam_sigma(s: torch.Tensor, delta: float, n_data: float) -> torch.Tensor:
    """``sigma = (N (s + delta))^{-1/2}``; zeros when ``N`` is infinite."""
    if math.isinf(n_data):
        return torch.zeros_like(s)
    return torch.rsqrt(n_data * (s + delta))


class VAdam:
    """VAdam state (``s``, ``mu_{t-1}``) for a dict of mean tensors updated in place.

    Args:
        mu: The means (e.g. architecture logits, ``[rows, options]`` per group); updated in place by ``step``.
        beta, gamma, delta, n_data: See the module doc (``beta`` is Vadam's ``alpha``, ``gamma`` its ``g1``).
        init_s: Initial ``s_0`` (0: ``q`` starts at the prior variance ``1 / (N delta)``).
        form: ``"vadam"`` or ``"eq17"`` (module doc).
        beta2: Vadam's ``g2`` (the rate of the ``s`` average in the ``vadam`` form).
    """

    def __init__(self, mu: Tensors, *, beta: float, gamma: float, delta: float, n_data: float,
                 init_s: float = 0.0, form: str = "vadam", beta2: float = 0.999) -> None:
        if form not in ("vadam", "eq17") or not 0 <= beta2 < 1:
            raise ValueError(f"VAdam: form must be 'vadam' or 'eq17' and 0 <= beta2 < 1; got {form!r}, {beta2}")
        self.form, self.beta2 = form, beta2
        self.m = {k: torch.zeros_like(v.detach()) for k, v in mu.items()}
        if not 0 < beta <= 1 or not 0 <= gamma < 1 or delta <= 0 or n_data <= 0 or init_s < 0:
            raise ValueError(f"VAdam: need 0<beta<=1, 0<=gamma<1, delta>0, N>0, s0>=0; got "
                             f"beta={beta}, gamma={gamma}, delta={delta}, N={n_data}, s0={init_s}")
        self.mu = mu
        self.beta, self.gamma, self.delta, self.n_data = beta, gamma, delta, n_data
        self.s = {k: torch.full_like(v.detach(), init_s) for k, v in mu.items()}
        self.prev = {k: v.detach().clone() for k, v in mu.items()}
        self.steps = 0

    def sigma(self) -> Tensors:
        """Current standard deviations ``sigma_t``, same shapes as ``mu``."""
        return {k: vadam_sigma(s, self.delta, self.n_data) for k, s in self.s.items()}

    def sample(self, generator: torch.Generator) -> Tensors:
        """Reparameterised draw ``mu + sigma o eps``, ``eps ~ N(0, I)`` from ``generator`` (detached)."""
        sig = self.sigma()
        return {k: m.detach() + sig[k] * torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)
                for k, m in self.mu.items()}

    @torch.no_grad()
    def step(self, grads: Tensors, squares: Tensors | None = None) -> None:
        """One update of the chosen form with ``grads`` (one per key of ``mu``); ``squares`` feeds ``s``
        (default ``grads o grads``)."""
        for k, m in self.mu.items():
            g2 = None if squares is None else squares[k].detach()
            if self.form == "vadam":
                new_mu, self.m[k], new_s = adam_form_update(
                    m.detach(), self.m[k], self.s[k], grads[k].detach(), self.steps + 1, alpha=self.beta,
                    gamma1=self.gamma, gamma2=self.beta2, delta=self.delta, g2=g2)
            else:
                new_mu, new_s = vadam_update(m.detach(), self.prev[k], self.s[k], grads[k].detach(),
                                             beta=self.beta, gamma=self.gamma, delta=self.delta, g2=g2)
            self.prev[k] = m.detach().clone()
            self.s[k] = new_s
            m.copy_(new_mu)
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {"s": {k: v.clone() for k, v in self.s.items()}, "m": {k: v.clone() for k, v in self.m.items()},
                "prev": {k: v.clone() for k, v in self.prev.items()}, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        dev = {k: v.device for k, v in self.mu.items()}
        self.s = {k: v.to(dev[k]) for k, v in state["s"].items()}
        self.prev = {k: v.to(dev[k]) for k, v in state["prev"].items()}
        if "m" in state:
            self.m = {k: v.to(dev[k]) for k, v in state["m"].items()}
        self.steps = int(state["steps"])
