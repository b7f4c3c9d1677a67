"""Architecture parameters (one logit tensor per space group) and their Adam."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from search_spaces import SearchSpace


class ArchParameters(nn.Module):
    """Logits ``alpha[group]`` shaped ``[rows, options]``, initialised ``init_std * N(0, 1)``.

    Args:
        space: Provides the groups and shapes.
        init_std: Scale of the random init (DARTS uses 1e-3).
        generator: Seeded generator for the init.
    """

    def __init__(self, space: SearchSpace, init_std: float, generator: torch.Generator,
                 device: torch.device | str) -> None:
        super().__init__()
        self.alpha = nn.ParameterDict({
            g.name: nn.Parameter(init_std * torch.randn(g.shape, generator=generator, device=device))
            for g in space.param_groups})

    def tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.alpha.items())

    def softmax(self) -> dict[str, torch.Tensor]:
        """Mixing weights: softmax over each row's options."""
        return {k: torch.softmax(v, dim=-1) for k, v in self.alpha.items()}


def make_adam(params: ArchParameters, lr: float, betas: tuple[float, float], weight_decay: float) -> torch.optim.Adam:
    """Adam on the architecture logits (DARTS: lr 3e-4, betas (0.5, 0.999), wd 1e-3)."""
    return torch.optim.Adam(params.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)


def set_grads(params: ArchParameters, grads: dict[str, torch.Tensor]) -> None:
    """Install ``grads`` (same keys as the logits) as ``.grad``."""
    for k, p in params.alpha.items():
        p.grad = grads[k].detach().clone()


def adam_state(params: ArchParameters, opt: torch.optim.Adam) -> dict[str, Any]:
    return {"alpha": params.state_dict(), "adam": opt.state_dict()}


def load_adam_state(params: ArchParameters, opt: torch.optim.Adam, state: dict[str, Any]) -> None:
    params.load_state_dict(state["alpha"])
    opt.load_state_dict(state["adam"])
