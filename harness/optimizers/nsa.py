"""Supernet training on a fixed pool of architectures (NSA), for generalisation studies.

``pool_size`` architectures are sampled once (distinct, with the optimizer's
seed) and every training step draws uniformly from that pool only:

- ``naive``: the whole batch shares one pool architecture;
- ``nsa-i``: every example draws its own architecture, i.i.d.; the batch runs
  in one supernet call with per-example weights ``[B, rows, options]``;
- ``nsa-id``: ``nsa-i`` plus architecture-dependent weights: pool architecture
  ``i`` owns a learnable gain per row (edge), so an example's weights are
  ``gain[i, row] * one_hot``. It acts as a per-architecture affine scale of
  each edge's output (a BN affine indexed by pool id) and is trained with the
  shared weights (no weight decay, which would pull gains to zero).

Selection (each epoch and at the end): the pool architecture with the best
one-shot accuracy on the fixed validation batches (``n_candidates`` > 0 scores
a random subset of that size). ``sample`` draws from the pool. The analysis
of what such a supernet learns is in ``harness.nsa``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.oneshot_eval import WeightMap, call_supernet
from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch, OptimizerConfig, SearchOptimizer
from harness.optimizers.parts.weights import WeightTrainer
from search_spaces import Architecture, SearchSpace
from search_spaces.errors import ConfigError

MODES = ("naive", "nsa-i", "nsa-id")


@dataclass(frozen=True)
class NSAConfig(OptimizerConfig):
    """Pool training settings.

    Attributes:
        pool_size: S, the architectures sampled once and trained (whole space if S >= its size).
        mode: ``naive``, ``nsa-i`` or ``nsa-id`` (see the module docstring).
        n_candidates: Pool architectures scored at selection (0: the whole pool).
    """

    pool_size: int = 20
    mode: str = "nsa-i"
    n_candidates: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pool_size < 1:
            raise ConfigError(f"NSAConfig.pool_size must be >= 1, got {self.pool_size}")
        if self.mode not in MODES:
            raise ConfigError(f"NSAConfig.mode must be one of {MODES}, got {self.mode!r}")
        if self.n_candidates < 0:
            raise ConfigError(f"NSAConfig.n_candidates must be >= 0, got {self.n_candidates}")


def sample_pool(space: SearchSpace, size: int, rng: np.random.Generator) -> list[Architecture]:
    """``size`` distinct architectures (the whole space, enumerated, if it has at most ``size``)."""
    if space.size is not None and size >= space.size:
        return list(space.enumerate())
    seen: dict[Architecture, None] = {}
    for _ in range(1000 * size):
        seen[space.sample(rng)] = None
        if len(seen) == size:
            break
    return list(seen)


class PoolGains(nn.Module):
    """Per-pool-architecture row gains ``gain[group]``: ``[S, rows]``, initialised to 1."""

    def __init__(self, space: SearchSpace, size: int, device: torch.device) -> None:
        super().__init__()
        self.gain = nn.ParameterDict({g.name: nn.Parameter(torch.ones(size, g.shape[0], device=device))
                                      for g in space.param_groups})


@register_optimizer("nsa")
class NSA(SearchOptimizer):
    name = "nsa"
    config_cls = NSAConfig
    description = "Fixed-pool supernet training: naive / NSA-i / NSA-id (per-example architectures)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.pool = sample_pool(self.space, self.config.pool_size, self.rng)
        # one-hot of every pool architecture, per group [S, rows, options]: per-example weights are a gather
        self.pool_onehot = {g: torch.stack([self.space.one_hot(a)[g] for a in self.pool]).to(self.device)
                            for g in (p.name for p in self.space.param_groups)}
        self.gains = PoolGains(self.space, len(self.pool), self.device)
        self.gain_trainer = WeightTrainer(self.gains, replace(self.config, w_weight_decay=0.0),
                                          total_steps=self.epochs * self.steps_per_epoch)
        self.picked: Architecture = self.pool[0]

    @property
    def dependent(self) -> bool:
        """Whether weights depend on the architecture beyond its one-hot (``nsa-id``)."""
        return self.config.mode == "nsa-id"

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self.weights.set_epoch(epoch, self.epochs)
        self.gain_trainer.set_epoch(epoch, self.epochs)

    def pool_weights(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-example weights ``[B, rows, options]`` of pool architectures ``ids`` ``[B]``."""
        w = {g: oh[ids] for g, oh in self.pool_onehot.items()}
        if self.dependent:
            w = {g: v * self.gains.gain[g][ids].unsqueeze(-1) for g, v in w.items()}
        return w

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.mode == "naive":
            a = self.pool[int(self.rng.integers(len(self.pool)))]
            return call_supernet(self.supernet, x, {g: v.to(self.device) for g, v in self.space.one_hot(a).items()})
        ids = torch.randint(len(self.pool), (len(x),), generator=self.generator, device=self.device)
        return self.supernet(x, self.pool_weights(ids))

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        logits = self._logits(train[0])
        loss = F.cross_entropy(logits, train[1])
        if self.dependent:
            gains = list(self.gains.parameters())
            grads = torch.autograd.grad(loss, self.weights.params + gains, allow_unused=True)
            self.weights.apply_grads(grads[:len(self.weights.params)])
            self.gain_trainer.apply_grads(grads[len(self.weights.params):])
        else:
            self.weights.step(loss)
        with torch.no_grad():
            logits_v = self._logits(valid[0])
            loss_v = F.cross_entropy(logits_v, valid[1])
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v)}

    # -- evaluation and selection ---------------------------------------
    def eval_weight_map(self) -> WeightMap:
        """Weights to evaluate an architecture with: pool gains for pool members, their mean for others."""
        if not self.dependent:
            return WeightMap()
        g = {k: v.detach().cpu() for k, v in self.gains.gain.items()}
        over = {self.space.to_str(a): {k: oh * g[k][i][:, None] for k, oh in self.space.one_hot(a).items()}
                for i, a in enumerate(self.pool)}
        return WeightMap(over, {k: v.mean(0) for k, v in g.items()})

    def select(self, eval_batches: list[Batch]) -> Architecture:
        n = self.config.n_candidates
        cands = self.pool if n == 0 or n >= len(self.pool) else [
            self.pool[int(i)] for i in self.rng.choice(len(self.pool), size=n, replace=False)]
        wm = self.eval_weight_map()
        was = self.supernet.training
        self.supernet.eval()
        scores = []
        with torch.no_grad():
            for a in cands:
                w = wm.weights(self.space, a, self.device)
                scores.append(sum((call_supernet(self.supernet, x, w).argmax(-1) == y).sum() for x, y in eval_batches))
        self.supernet.train(was)
        self.picked = cands[int(torch.argmax(torch.stack([torch.as_tensor(s) for s in scores])))]
        return self.picked

    def current_architecture(self) -> Architecture:
        return self.picked

    def sample(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        return [self.pool[int(i)] for i in rng.integers(len(self.pool), size=n)]

    def extra_state(self) -> dict[str, Any]:
        return {"pool": [list(a.choices) for a in self.pool], "picked": list(self.picked.choices),
                "gains": self.gains.state_dict(), "gain_trainer": self.gain_trainer.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pool = [Architecture(self.space.name, tuple(c)) for c in state["pool"]]
        self.pool_onehot = {g: torch.stack([self.space.one_hot(a)[g] for a in self.pool]).to(self.device)
                            for g in self.pool_onehot}
        self.picked = Architecture(self.space.name, tuple(state["picked"]))
        self.gains.load_state_dict(state["gains"])
        self.gain_trainer.load_state_dict(state["gain_trainer"])
