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

import torch
from torch import nn

from harness.optimizers.parts.arch_conditional import batch_norms
from harness.optimizers.parts.weight_map import WeightMap, all_on_weights, call_supernet
from harness.run.trained import Trained, train_supernet, trained_from_optimizer

Batch = tuple[torch.Tensor, torch.Tensor]


__all__ = ["Trained", "WeightMap", "all_on_weights", "call_supernet", "evaluate_weights", "fixed_batches",
           "recalibrate_bn", "tracked_bn", "train_supernet", "trained_from_optimizer"]


@contextmanager
def tracked_bn(module: nn.Module) -> Iterator[None]:
    """Give every BN layer its own running statistics for the duration; restore everything on exit."""
    bns = batch_norms(module)
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
    bns = batch_norms(module)
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


