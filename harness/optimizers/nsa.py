"""Supernet training on a fixed pool of architectures (NSA: Deng et al., NeurIPS 2020; thudzj/NSA).

``pool_size`` architectures are drawn once and every training step draws
uniformly from that pool only. The pool (``pool``):

- ``er``: the official one, random-wired graphs of seeds ``pool_seed_start ..
  pool_seed_start + S - 1`` (``WRN.__init__``: ``--arch_seed_start 1``,
  ``--arch_p 0.7``); needs a space with ``er_architecture`` (``randwire``);
- ``space``: ``S`` distinct architectures sampled uniformly from any space (ours).

Modes (``mode``), each an official script of the repository's README unless marked:

- ``naive``: one pool architecture per batch ("Vanilla NSA": ``--batch_arch --use_bn``);
- ``nsa-i``: an i.i.d. architecture per example, one supernet call with
  per-example weights ``[B, rows, options]`` ("NSA-i": ``--use_bn``);
- ``nsa-id``: ``nsa-i`` plus architecture-dependent weights ("NSA-id":
  ``--learn_aggr`` without ``--use_bn``): every BN's affine is per pool
  architecture (``parts.arch_conditional``), and each wiring entry is gated by
  ``sigmoid(gate[a, row])`` (``Stage``: ``adj * sigmoid(mean_weight)``, gates
  initialised to 1); both trained by the weights' SGD with its weight decay
  (``group_weight_decay`` with no skip list decays every parameter);
- ``nsa-id-aggr``: the gates only ("NSA-id (only aggr)": ``--learn_aggr --use_bn``);
- ``nsa-id-gains``: ours, an ablation kept from earlier versions: a free gain per
  (architecture, row) multiplying its one-hot weights, no weight decay.

``lr_milestones`` switches the weights' schedule to the official step decay
(``adjust_learning_rate``: ``w_lr`` times ``lr_gamma`` per milestone reached).

Selection (each epoch and at the end): the pool architecture with the best
one-shot accuracy on the fixed validation batches (``n_candidates`` > 0 scores
a random subset of that size). ``sample`` draws from the pool. The analysis
of what such a supernet learns is in ``harness.analysis.nsa``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch, OptimizerConfig, SearchOptimizer
from harness.optimizers.parts.arch_conditional import ArchConditionalBN, batch_norms, freeze_bn_affine
from harness.optimizers.parts.weight_map import WeightMap, call_supernet
from harness.optimizers.parts.weights import WeightTrainer
from search_spaces import Architecture, SearchSpace
from search_spaces.errors import ConfigError

MODES = ("naive", "nsa-i", "nsa-id", "nsa-id-aggr", "nsa-id-gains")
POOLS = ("space", "er")


@dataclass(frozen=True)
class NSAConfig(OptimizerConfig):
    """Pool training settings.

    Attributes:
        pool_size: S, the architectures drawn once and trained (whole space if S >= its size).
        mode: One of ``MODES`` (see the module docstring).
        pool: ``er`` (official random-wired pool) or ``space`` (uniform sample of the space).
        pool_seed_start: First seed of the ``er`` pool (official ``--arch_seed_start``).
        arch_p: ER threshold: an entry is on when ``rand > arch_p`` (official ``--arch_p``).
        n_candidates: Pool architectures scored at selection (0: the whole pool).
        lr_milestones: Epochs at which the weights' rate is multiplied by ``lr_gamma`` (empty: cosine).
        lr_gamma: That factor (official ``--gammas``).
    """

    pool_size: int = 20
    mode: str = "nsa-i"
    pool: str = "space"
    pool_seed_start: int = 1
    arch_p: float = 0.7
    n_candidates: int = 0
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pool_size < 1:
            raise ConfigError(f"NSAConfig.pool_size must be >= 1, got {self.pool_size}")
        if self.mode not in MODES:
            raise ConfigError(f"NSAConfig.mode must be one of {MODES}, got {self.mode!r}")
        if self.pool not in POOLS:
            raise ConfigError(f"NSAConfig.pool must be one of {POOLS}, got {self.pool!r}")
        if not 0.0 <= self.arch_p < 1.0:
            raise ConfigError(f"NSAConfig.arch_p must be in [0, 1), got {self.arch_p}")
        if list(self.lr_milestones) != sorted(self.lr_milestones) or any(m < 1 for m in self.lr_milestones):
            raise ConfigError(f"NSAConfig.lr_milestones must be increasing epochs >= 1, got {self.lr_milestones}")


def step_lr(base: float, milestones: tuple[int, ...], gamma: float, epoch: int) -> float:
    """Official ``adjust_learning_rate``: ``base * gamma ** #{m in milestones: epoch >= m}``."""
    return base * gamma ** sum(epoch >= m for m in milestones)


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


def er_pool(space: SearchSpace, size: int, seed_start: int, arch_p: float) -> list[Architecture]:
    """The official pool: the random-wired architectures of seeds ``seed_start .. seed_start + size - 1``."""
    make = getattr(space, "er_architecture", None)
    if make is None:
        raise ConfigError(f"pool 'er' (random-wired graphs) needs a space with wiring graphs such as 'randwire'; "
                          f"space {space.name!r} samples its cells: use pool 'space'")
    return [make(seed, arch_p) for seed in range(seed_start, seed_start + size)]


class PoolGates(nn.Module):
    """Per-pool-architecture row factors ``gate[group]``: ``[S, rows]``, initialised to 1."""

    def __init__(self, space: SearchSpace, size: int, device: torch.device) -> None:
        super().__init__()
        self.gain = nn.ParameterDict({g.name: nn.Parameter(torch.ones(size, g.shape[0], device=device))
                                      for g in space.param_groups})


@register_optimizer("nsa")
class NSA(SearchOptimizer):
    name = "nsa"
    config_cls = NSAConfig
    description = "NSA: fixed-pool training, naive / NSA-i / NSA-id (Deng et al. 2020)"

    @classmethod
    def supernet_overrides(cls, config: NSAConfig) -> dict:
        # main_s.py forces args.track_running_stats = True: evaluation uses the running statistics
        return {"track_running_stats": True}

    def __init__(self, space: SearchSpace, supernet: nn.Module, config: NSAConfig, **kw: Any) -> None:
        if config.mode == "nsa-id":
            freeze_bn_affine(supernet)  # before the weight trainer collects the trainable parameters
        super().__init__(space, supernet, config, **kw)
        c = self.config
        self.pool = (er_pool(space, c.pool_size, c.pool_seed_start, c.arch_p) if c.pool == "er"
                     else sample_pool(space, c.pool_size, self.rng))
        # one-hot of every pool architecture, per group [S, rows, options]: per-example weights are a gather
        self.pool_onehot = self._onehots()
        self.gains = PoolGates(space, len(self.pool), self.device)
        self.cond_bn = (ArchConditionalBN([m.num_features for m in batch_norms(supernet)], len(self.pool), self.device)
                        if c.mode == "nsa-id" else None)
        if self.cond_bn is not None:
            self.cond_bn.attach(supernet)
        extra = nn.ModuleList([self.gains] + ([self.cond_bn] if self.cond_bn is not None else []))
        # official NSA-id: one SGD with weight decay on everything; our gains ablation: no decay
        gcfg = c if c.mode in ("nsa-id", "nsa-id-aggr") else replace(c, w_weight_decay=0.0)
        self.gain_trainer = WeightTrainer(extra, gcfg, total_steps=self.epochs * self.steps_per_epoch)
        self.picked: Architecture = self.pool[0]

    def _onehots(self) -> dict[str, torch.Tensor]:
        return {g.name: torch.stack([self.space.one_hot(a)[g.name] for a in self.pool]).to(self.device, self.dtype)
                for g in self.space.param_groups}

    @property
    def dependent(self) -> bool:
        """Whether weights depend on the architecture beyond its one-hot (the ``nsa-id*`` modes)."""
        return self.config.mode.startswith("nsa-id")

    def row_factors(self, ids: torch.Tensor | int) -> dict[str, torch.Tensor]:
        """Per group, the factor of each row for pool members ``ids``: sigmoid gates or raw gains."""
        g = {k: v[ids] for k, v in self.gains.gain.items()}
        return g if self.config.mode == "nsa-id-gains" else {k: torch.sigmoid(v) for k, v in g.items()}

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)  # the weights' cosine
        c = self.config
        self.gain_trainer.set_epoch(epoch, self.epochs)
        if c.lr_milestones:  # the official step schedule replaces it, for both trainers
            lr = step_lr(c.w_lr, c.lr_milestones, c.lr_gamma, epoch)
            for group in (*self.weights.opt.param_groups, *self.gain_trainer.opt.param_groups):
                group["lr"] = lr

    def pool_weights(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-example weights ``[B, rows, options]`` of pool architectures ``ids`` ``[B]``."""
        w = {g: oh[ids] for g, oh in self.pool_onehot.items()}
        if self.dependent:
            f = self.row_factors(ids)
            w = {g: v * f[g].unsqueeze(-1) for g, v in w.items()}
        return w

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.mode == "naive":
            a = int(self.rng.integers(len(self.pool)))
            return call_supernet(self.supernet, x, {g: v[a] for g, v in self.pool_onehot.items()})
        ids = torch.randint(len(self.pool), (len(x),), generator=self.generator, device=self.device)
        if self.cond_bn is None:
            return self.supernet(x, self.pool_weights(ids))
        with self.cond_bn.using(ids):
            return self.supernet(x, self.pool_weights(ids))

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        logits = self._logits(train[0])
        loss = F.cross_entropy(logits, train[1])
        if self.dependent:
            extra = self.gain_trainer.params
            grads = torch.autograd.grad(loss, self.weights.params + extra, allow_unused=True)
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
        """How to evaluate an architecture: pool members with their own gates (and BN affine),
        others with the pool mean of both (ours: the official code evaluates no such case)."""
        if not self.dependent:
            return WeightMap()
        f = {k: v.detach().cpu() for k, v in self.row_factors(slice(None)).items()}
        over = {self.space.to_str(a): {k: oh * f[k][i][:, None] for k, oh in self.space.one_hot(a).items()}
                for i, a in enumerate(self.pool)}
        cond = None
        if self.cond_bn is not None:
            cond = {"pool": [self.space.to_str(a) for a in self.pool],
                    "gamma": [g.detach().cpu() for g in self.cond_bn.gamma],
                    "beta": [b.detach().cpu() for b in self.cond_bn.beta]}
        return WeightMap(over, {k: v.mean(0) for k, v in f.items()}, cond)

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
                with wm.bound(self.supernet, self.space, a, self.cond_bn):
                    scores.append(sum((call_supernet(self.supernet, x, w).argmax(-1) == y).sum()
                                      for x, y in eval_batches))
        self.supernet.train(was)
        self.picked = cands[int(torch.argmax(torch.stack([torch.as_tensor(s) for s in scores])))]
        return self.picked

    def current_architecture(self) -> Architecture:
        return self.picked

    def sample(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        return [self.pool[int(i)] for i in rng.integers(len(self.pool), size=n)]

    def extra_state(self) -> dict[str, Any]:
        return {"pool": [list(a.choices) for a in self.pool], "picked": list(self.picked.choices),
                "gains": self.gains.state_dict(), "gain_trainer": self.gain_trainer.state_dict(),
                "cond_bn": None if self.cond_bn is None else self.cond_bn.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pool = [Architecture(self.space.name, tuple(c)) for c in state["pool"]]
        self.pool_onehot = self._onehots()
        self.picked = Architecture(self.space.name, tuple(state["picked"]))
        self.gains.load_state_dict(state["gains"])
        if self.cond_bn is not None:
            self.cond_bn.load_state_dict(state["cond_bn"])
        self.gain_trainer.load_state_dict(state["gain_trainer"])
