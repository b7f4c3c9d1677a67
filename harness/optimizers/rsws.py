"""Random search with weight sharing (Li & Talwalkar, UAI 2019), NB-201 variant.

Training: one uniformly sampled architecture per step. Selection (every epoch
for anytime regret, and at the end), as AutoDL ``exps/NAS-Bench-201-algos/RANDOM-NAS.py``
``search_find_best``: ``n_candidates`` uniformly sampled architectures, each
scored by supernet accuracy on its own batch of a fresh pass over the
search-valid split (batch ``select_batch_size``, 512 in the NB-201 preset),
the first best kept (``parts.candidates``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch, OptimizerConfig, SearchOptimizer
from harness.optimizers.parts.candidates import best_index
from search_spaces import Architecture
from search_spaces.errors import ConfigError


@dataclass(frozen=True)
class RswsConfig(OptimizerConfig):
    """RS-ws settings. ``n_candidates``: architectures ranked at selection."""

    n_candidates: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_candidates < 1:
            raise ConfigError(f"RswsConfig.n_candidates must be >= 1, got {self.n_candidates}")


@register_optimizer("rsws")
class RandomSearchWS(SearchOptimizer):
    name = "rsws"
    config_cls = RswsConfig
    description = "Random search with weight sharing (Li & Talwalkar 2019)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.picked: Architecture = self.space.sample(self.rng)

    def _weights_of(self, arch: Architecture) -> tuple[dict[str, torch.Tensor], dict[str, list[int]]]:
        # indices from the host-side one-hot: no device->host copy inside the step
        w = {k: v.to(self.device) for k, v in self.space.one_hot(arch).items()}
        return w, self.space.active_indices(arch)

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        w, active = self._weights_of(self.space.sample(self.rng))
        logits = self.forward(train[0], w, active)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        with torch.no_grad():
            logits_v = self.forward(valid[0], w, active)
            loss_v = F.cross_entropy(logits_v, valid[1])
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v)}

    def select(self, eval_batches: list[Batch]) -> Architecture:
        cands = [self.space.sample(self.rng) for _ in range(self.config.n_candidates)]
        scores = self.score_architectures(cands, eval_batches, per_candidate=True)
        self.picked = cands[best_index(scores)]
        return self.picked

    def current_architecture(self) -> Architecture:
        return self.picked

    def sample(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        return [self.space.sample(rng) for _ in range(n)]

    def extra_state(self) -> dict[str, Any]:
        return {"picked": list(self.picked.choices)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.picked = Architecture(self.space.name, tuple(state["picked"]))
