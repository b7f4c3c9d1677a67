"""PC-DARTS (Xu et al., ICLR 2020): partial channel connections + edge normalisation.

The supernet is built with ``partial_channels = K`` (mixed ops see C/K
channels, the rest bypasses them, then channels are shuffled). Extra
architecture parameters ``beta`` (one per edge) give each node's incoming
edges softmax weights ("edge normalisation"), passed to the supernet as
``edge_norm:<group>``. Architecture updates start after ``warmup_epochs``
(weights-only warm-up). Defaults are the paper's: K = 4, warm-up 15 epochs,
architecture Adam lr 6e-4, weight decay 1e-3. For topology-selecting spaces
an edge's strength is ``softmax(beta)`` times its op weight, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch
from harness.optimizers.darts import ArchOptimizer, DartsConfig
from harness.optimizers.parts import darts_grad
from search_spaces import Architecture


@dataclass(frozen=True)
class PcdartsConfig(DartsConfig):
    arch_lr: float = 6e-4
    partial_channels: int = 4
    warmup_epochs: int = 15


def edge_normalisation(beta: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
    """Per-edge weights ``[rows]``: softmax of ``beta`` within each target node's incoming edges."""
    out = torch.zeros_like(beta)
    for rows in targets:
        idx = torch.tensor(rows, device=beta.device)
        out = out.index_put((idx,), torch.softmax(beta[idx], 0))
    return out


@register_optimizer("pc-darts")
class PcDarts(ArchOptimizer):
    name = "pc-darts"
    config_cls = PcdartsConfig
    description = "PC-DARTS, partial channels + edge normalisation (Xu et al. 2020)"

    @classmethod
    def supernet_overrides(cls, config: PcdartsConfig) -> dict[str, Any]:
        return {"partial_channels": config.partial_channels}

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        targets = getattr(self.supernet, "edge_targets", {})
        self.targets = {k: v for k, v in targets.items() if k in self.alpha.alpha}
        self.beta = nn.ParameterDict({k: nn.Parameter(1e-3 * torch.randn(self.alpha.alpha[k].shape[0],
                                                                         generator=self.generator, device=self.device))
                                      for k in self.targets})
        # NB-1Shot1 supernets have no edge_targets: their parent weights already
        # are a softmax over each node's incoming edges, i.e. edge normalisation.
        self.beta_adam = (torch.optim.Adam(self.beta.parameters(), lr=self.config.arch_lr,
                                           betas=tuple(self.config.arch_betas),
                                           weight_decay=self.config.arch_weight_decay) if self.targets else None)

    def mix(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        w = super().mix(alpha)
        for k, t in self.targets.items():
            w[f"edge_norm:{k}"] = edge_normalisation(self.beta[k], t)
        return w

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.epoch >= self.config.warmup_epochs:
            loss_fn = darts_grad.cross_entropy_loss(self.supernet, self.mix)
            params = {**self.alpha.tensors(), **{f"beta:{k}": v for k, v in self.beta.items()}}
            # the loss closes over self.beta through mix(); differentiate both
            loss_v, logits_v = loss_fn(valid[0], valid[1], self.alpha.tensors())
            grads = torch.autograd.grad(loss_v, list(params.values()))
            g = dict(zip(params, grads))
            self.arch_update({k: g[k] for k in self.alpha.alpha})
            if self.beta_adam is not None:
                self.beta_adam.zero_grad(set_to_none=True)
                for k, p in self.beta.items():
                    p.grad = g[f"beta:{k}"]
                self.beta_adam.step()
            out = self.metrics("valid", logits_v, valid[1], loss_v)
        w = {k: v.detach() for k, v in self.mix(self.alpha.tensors()).items()}
        logits = self.supernet(train[0], w)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        if not out:
            with torch.no_grad():
                logits_v = self.supernet(valid[0], w)
                out = self.metrics("valid", logits_v, valid[1], F.cross_entropy(logits_v, valid[1]))
        return {**self.metrics("train", logits, train[1], loss), **out}

    def current_architecture(self) -> Architecture:
        w = {k: v.detach() for k, v in self.mix(self.alpha.tensors()).items()}
        # edge strength = edge weight x op weight, so topology choices see beta
        groups = {g.name for g in self.space.param_groups}
        return self.space.discretize({k: (v * w[f"edge_norm:{k}"].unsqueeze(-1) if f"edge_norm:{k}" in w else v)
                                      for k, v in w.items() if k in groups})

    def extra_state(self) -> dict[str, Any]:
        adam = self.beta_adam.state_dict() if self.beta_adam is not None else None
        return {**super().extra_state(), "beta": self.beta.state_dict(), "beta_adam": adam}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.beta.load_state_dict(state["beta"])
        if self.beta_adam is not None:
            self.beta_adam.load_state_dict(state["beta_adam"])
