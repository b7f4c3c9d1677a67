"""Evaluating architectures with a supernet's shared weights, and training one for analysis.

An architecture is evaluated by running the supernet with its mixing weights
(one-hot, or what the training optimizer learned, see ``WeightMap``). Batch
normalisation: with ``bn_batches`` every BN layer first gets fresh running
statistics computed on those training batches *with that architecture*
(cumulative average), then evaluation runs in eval mode. Otherwise BN
statistics would be those of the mixture of architectures seen in training
(or of the evaluation batch itself), which biases comparisons.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.config import RunConfig
from search_spaces import Architecture, SearchSpace, get_space

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class WeightMap:
    """Mixing weights to evaluate an architecture with: one-hot unless an optimizer learned otherwise.

    Attributes:
        overrides: Architecture string -> weights (per group ``[rows, options]``).
        row_scale: Group -> ``[rows]`` multiplier of the one-hot rows of other architectures.
        conditional_bn: Per-architecture BN affines (NSA-id): ``{"pool": [arch strings],
            "gamma": [[S, C] per BN], "beta": [...]}``; applied by ``bound``.
    """

    overrides: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    row_scale: dict[str, torch.Tensor] = field(default_factory=dict)
    conditional_bn: dict[str, Any] | None = None

    def weights(self, space: SearchSpace, arch: Architecture, device: torch.device | str) -> dict[str, torch.Tensor]:
        """Per group ``[rows, options]`` on ``device``: the override of ``arch``, else its scaled one-hot."""
        w = self.overrides.get(space.to_str(arch))
        if w is None:
            w = {g: v * self.row_scale[g][:, None].cpu() if g in self.row_scale else v
                 for g, v in space.one_hot(arch).items()}
        return {g: v.detach().to(device) for g, v in w.items()}

    @contextmanager
    def bound(self, supernet: nn.Module, space: SearchSpace, arch: Architecture, live: Any = None) -> Iterator[None]:
        """Evaluate ``arch`` with its conditional BN affine (pool mean outside the pool) for the duration.

        ``live`` is an attached ``ArchConditionalBN`` (during training); otherwise one is
        built from ``conditional_bn`` and hooked into ``supernet`` until exit.
        """
        if self.conditional_bn is None and live is None:
            yield
            return
        from harness.optimizers.parts.arch_conditional import ArchConditionalBN

        cond, pool = live, None
        if cond is None:
            c = self.conditional_bn
            pool = c["pool"]
            cond = ArchConditionalBN([g.shape[1] for g in c["gamma"]], len(pool), next(supernet.parameters()).device)
            with torch.no_grad():
                for p, v in zip([*cond.gamma, *cond.beta], [*c["gamma"], *c["beta"]]):
                    p.copy_(v)
            cond.attach(supernet)
        else:
            pool = self.conditional_bn["pool"] if self.conditional_bn else None
        name = space.to_str(arch)
        idx = pool.index(name) if pool is not None and name in pool else None
        try:
            with cond.using(idx):
                yield
        finally:
            if live is None:
                cond.detach()

    def state(self) -> dict[str, Any]:
        """Plain CPU tensors, for ``supernet.pt``."""
        return {"overrides": {a: {g: v.detach().cpu() for g, v in w.items()} for a, w in self.overrides.items()},
                "row_scale": {g: v.detach().cpu() for g, v in self.row_scale.items()},
                "conditional_bn": self.conditional_bn}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> WeightMap:
        """Inverse of ``state`` (None: plain one-hot)."""
        return cls(**state) if state else cls()


def all_on_weights(space: SearchSpace, device: torch.device) -> dict[str, torch.Tensor]:
    """Every path on (weight 1 on every option): the all-paths-on one-shot model."""
    return {g.name: torch.ones(g.shape, device=device) for g in space.param_groups}


def call_supernet(supernet: nn.Module, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits ``[B, K]``; single-op rows run only that op (``active``), which equals the dense result."""
    single = all(v.dim() == 2 and bool(((v != 0).sum(-1) <= 1).all()) for v in weights.values())
    if single and getattr(supernet, "supports_active", False):
        return supernet(x, weights, active={g: v.abs().argmax(-1).tolist() for g, v in weights.items()})
    return supernet(x, weights)


def _batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def tracked_bn(module: nn.Module) -> Iterator[None]:
    """Give every BN layer its own running statistics for the duration; restore everything on exit."""
    bns = _batch_norms(module)
    saved = [(m.track_running_stats, m.momentum, m.running_mean, m.running_var, m.num_batches_tracked) for m in bns]
    was_training = module.training
    try:
        for m in bns:
            dev = m.weight.device if m.weight is not None else next(module.parameters()).device
            m.track_running_stats = True
            m.running_mean = torch.zeros(m.num_features, device=dev)
            m.running_var = torch.ones(m.num_features, device=dev)
            m.num_batches_tracked = torch.zeros((), dtype=torch.long, device=dev)
        yield
    finally:
        for m, (track, mom, mean, var, nbt) in zip(bns, saved):
            m.track_running_stats, m.momentum = track, mom
            m.running_mean, m.running_var, m.num_batches_tracked = mean, var, nbt
        module.train(was_training)


def recalibrate_bn(module: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor],
                   batches: Sequence[Batch]) -> None:
    """Reset running statistics, average them over ``batches`` (cumulative mean), leave ``module`` in eval mode.

    Call inside ``tracked_bn``. Momentum ``1/(i+1)`` at batch ``i`` makes the running
    values the plain mean of the per-batch statistics.
    """
    bns = _batch_norms(module)
    for m in bns:
        m.running_mean.zero_()
        m.running_var.fill_(1.0)
    module.train()
    with torch.no_grad():
        for i, (x, _) in enumerate(batches):
            for m in bns:
                m.momentum = 1.0 / (i + 1)
            forward(x)
    module.eval()


def evaluate_weights(supernet: nn.Module, weights: dict[str, torch.Tensor], datasets: Sequence[Sequence[Batch]],
                     bn_batches: Sequence[Batch]) -> list[torch.Tensor]:
    """Logits ``[N_i, K]`` of each batch list in ``datasets`` under ``weights`` (per group ``[rows, options]``).

    With ``bn_batches`` BN statistics are recomputed for these weights first;
    without, the supernet runs in eval mode as it is.
    """
    def fwd(x: torch.Tensor) -> torch.Tensor:
        return call_supernet(supernet, x, weights)

    was = supernet.training

    def run() -> list[torch.Tensor]:
        with torch.no_grad():
            return [torch.cat([fwd(x) for x, _ in data]) if data else torch.empty(0) for data in datasets]

    try:
        if bn_batches:
            with tracked_bn(supernet):
                recalibrate_bn(supernet, fwd, bn_batches)
                return run()
        supernet.eval()
        return run()
    finally:
        supernet.train(was)


def fixed_batches(pair: Batch, batch_size: int, limit: int | None, mean: Sequence[float],
                  std: Sequence[float]) -> list[Batch]:
    """The first ``limit`` examples of a split ``(uint8 [N, C, H, W], int64 [N])``, normalised, in batches.

    No augmentation and a fixed order, so every architecture sees the same examples.
    """
    from harness.data import normalize

    x, y = pair
    n = len(y) if limit is None else min(limit, len(y))
    return [(normalize(x[i:min(i + batch_size, n)], mean, std), y[i:min(i + batch_size, n)])
            for i in range(0, n, batch_size)]


@dataclass
class Trained:
    """A trained supernet with what is needed to evaluate it."""

    space: SearchSpace
    supernet: nn.Module
    run: RunConfig
    weight_map: WeightMap = field(default_factory=WeightMap)
    pool: list[Architecture] | None = None  # the architectures trained on (NSA)
    source: Path | None = None


def trained_from_optimizer(opt: Any, run: RunConfig, source: Path | None = None) -> Trained:
    """Wrap a live optimizer's supernet and its evaluation extras (``eval_weight_map``, ``pool``)."""
    wm = getattr(opt, "eval_weight_map", None)
    return Trained(opt.space, opt.supernet, run, wm() if wm else WeightMap(), getattr(opt, "pool", None), source)


def train_supernet(run: RunConfig, progress: Callable[[str], None] | None = None) -> tuple[Trained, Any, Any]:
    """Train ``run``'s supernet in memory (no run directory) -> ``(Trained, DatasetSplits, optimizer)``.

    Same construction and seeds as ``SearchRun``, without its per-epoch selection
    and files; studies use it to get the final shared weights directly.
    """
    from harness.data import load_dataset, search_streams
    from harness.optimizers import create_optimizer
    from harness.runner import resolve_device, supernet_config
    from search_spaces.errors import ConfigError

    device = resolve_device(run.device)
    space = get_space(run.space)
    splits = load_dataset(run.dataset, run.data_dir, device, subset=run.subset)
    net_cfg = supernet_config(run, space, splits)
    torch.manual_seed(run.seed)
    supernet = space.build_supernet(net_cfg).to(device)
    train_s, valid_s = search_streams(splits, run.batch_size, run.seed, device)
    steps = min(train_s.epoch_len, valid_s.epoch_len)
    if steps < 1:
        raise ConfigError(f"batch size {run.batch_size} exceeds the search split")
    opt = create_optimizer(run.optimizer, space, supernet, run.optimizer_values(), epochs=run.epochs,
                           steps_per_epoch=steps, seed=run.seed)
    for epoch in range(run.epochs):
        opt.on_epoch_start(epoch)
        for _ in range(steps):
            opt.step(train_s.next(), valid_s.next())
        opt.on_epoch_end(epoch)
        if progress:
            progress(f"[{run.optimizer} seed {run.seed}] trained epoch {epoch + 1}/{run.epochs}")
    return trained_from_optimizer(opt, run), splits, opt
