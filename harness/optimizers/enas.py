"""ENAS (Pham et al., ICML 2018) with the NB-201 settings.

Each step: one SGD step of the supernet weights on an architecture sampled
from the LSTM controller, then one REINFORCE step of the controller with
reward = supernet accuracy of a fresh sample on the validation batch,
advantage = reward - moving-average baseline (decay ``baseline_decay``), plus
an entropy bonus. Selection (every epoch and at the end): sample
``n_candidates`` architectures from the controller, return the best by
supernet accuracy on fixed validation batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch, OptimizerConfig, SearchOptimizer
from harness.optimizers.parts.controller import Controller
from search_spaces import Architecture


@dataclass(frozen=True)
class EnasConfig(OptimizerConfig):
    controller_lr: float = 1e-3
    controller_hidden: int = 32
    controller_layers: int = 2
    temperature: float = 5.0
    tanh_constant: float = 2.5
    entropy_weight: float = 1e-4
    baseline_decay: float = 0.95
    n_candidates: int = 100


def reinforce_loss(log_prob: torch.Tensor, entropy: torch.Tensor, reward: float, baseline: float,
                   entropy_weight: float) -> torch.Tensor:
    """``-(reward - baseline) * log_prob - entropy_weight * entropy`` (minimised)."""
    return -(reward - baseline) * log_prob - entropy_weight * entropy


@register_optimizer("enas")
class Enas(SearchOptimizer):
    name = "enas"
    config_cls = EnasConfig
    description = "ENAS, LSTM controller trained by REINFORCE (Pham et al. 2018)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        c = self.config
        torch.manual_seed(self.seed)
        self.controller = Controller(self.space, c.controller_hidden, c.controller_layers, c.temperature,
                                     c.tanh_constant).to(self.device)
        self.c_opt = torch.optim.Adam(self.controller.parameters(), lr=c.controller_lr)
        self.baseline: float | None = None
        self.picked: Architecture | None = None

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self.weights.set_epoch(epoch, self.epochs)

    def _arch(self, choices: dict[str, list[int]]) -> tuple[dict[str, torch.Tensor], dict[str, list[int]]]:
        w = {}
        for g in self.space.param_groups:
            w[g.name] = F.one_hot(torch.tensor(choices[g.name], device=self.device), g.shape[1]).float()
        return w, choices

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            choices, _, _ = self.controller.sample(self.generator)
        w, act = self._arch(choices)
        logits = self.forward(train[0], w, act)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)

        choices, log_prob, entropy = self.controller.sample(self.generator)
        w, act = self._arch(choices)
        with torch.no_grad():
            logits_v = self.forward(valid[0], w, act)
            loss_v = F.cross_entropy(logits_v, valid[1])
        # the reward is a host number by nature (REINFORCE baseline bookkeeping)
        reward = float((logits_v.argmax(-1) == valid[1]).float().mean())
        self.baseline = reward if self.baseline is None else \
            self.config.baseline_decay * self.baseline + (1 - self.config.baseline_decay) * reward
        c_loss = reinforce_loss(log_prob, entropy, reward, self.baseline, self.config.entropy_weight)
        self.c_opt.zero_grad(set_to_none=True)
        c_loss.backward()
        self.c_opt.step()
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v),
                "reward": torch.tensor(reward), "baseline": torch.tensor(self.baseline)}

    def _sample_archs(self, n: int) -> list[Architecture]:
        out = []
        with torch.no_grad():
            for _ in range(n):
                w, _ = self._arch(self.controller.sample(self.generator)[0])
                out.append(self.space.discretize({k: v.cpu() for k, v in w.items()}))
        return out

    def select(self, eval_batches: list[Batch]) -> Architecture:
        cands = self._sample_archs(self.config.n_candidates)
        self.picked = cands[int(torch.argmax(self.score_architectures(cands, eval_batches)))]
        return self.picked

    def current_architecture(self) -> Architecture:
        return self.picked if self.picked is not None else self._sample_archs(1)[0]

    def sample(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        return self._sample_archs(n)

    def extra_state(self) -> dict[str, Any]:
        return {"controller": self.controller.state_dict(), "c_opt": self.c_opt.state_dict(),
                "baseline": self.baseline, "picked": None if self.picked is None else list(self.picked.choices)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.c_opt.load_state_dict(state["c_opt"])
        self.baseline = state["baseline"]
        self.picked = None if state["picked"] is None else Architecture(self.space.name, tuple(state["picked"]))
