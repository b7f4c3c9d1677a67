"""GDAS (Dong & Yang, CVPR 2019): one sampled op per edge, straight-through gradient.

Per step (AutoDL ``exps/NAS-Bench-201-algos/GDAS.py`` ``search_func``): sample
hard Gumbel-softmax weights ``h = one_hot - p.detach() + p`` with
``p = softmax((log_softmax(alpha) + g) / tau)``, one SGD step of the weights
on the training batch (only the sampled ops run), then a fresh sample and one
Adam step of the logits from the validation batch through ``h``.

Which ops carry the straight-through gradient (``unselected_terms``):

- ``True`` (AutoDL's NB-201 ``SearchCell.forward_gdas``): each unselected op
  adds its weight ``h[e, k]`` (value 0) to the edge's target node, so
  ``dL/dh[e, k] = sum(dL/d node)`` reaches every op's logit on every edge.
  The supernet computes those terms without running the ops
  (``unselected_terms=True``); only NB-201's supernet offers it.
- ``False`` (AutoDL's NASNet-space ``MixedOp.forward_gdas`` and
  nasbench-1shot1's ``MixedOpGDAS``): only the sampled op's weight is in the
  graph; the others are masked out, so no gradient reaches them through ``h``.
- ``None`` (default): ``True`` where the supernet offers the terms, else ``False``.

Temperature per epoch (``tau_schedule``): ``"to-last-epoch"`` (AutoDL:
``tau_max - (tau_max - tau_min) * e / (E - 1)``) or ``"per-epoch-step"``
(nasbench-1shot1 / DrNAS: ``tau_max + e * (tau_min - tau_max) / E``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch
from harness.optimizers.darts import ArchOptimizer, DartsConfig
from harness.optimizers.parts.samplers import check_tau, gumbel_softmax_hard, gumbel_softmax_relaxed, tau_at
from search_spaces.errors import ConfigError


@dataclass(frozen=True)
class GdasConfig(DartsConfig):
    """GDAS settings: DARTS' optimizers plus the temperature schedule and the gradient form."""

    tau_max: float = 10.0
    tau_min: float = 0.1
    tau_schedule: str = "to-last-epoch"
    unselected_terms: bool | None = None
    #: AutoDL GDAS.py search_func: the weight step, then the architecture step.
    step_order: str = "weights-first"
    #: Groups sampled hard (one-hot, straight-through); the others get soft Gumbel-softmax samples
    #: (nasbench-1shot1's GDAS: hard for the ops, soft for the topology). None: every group hard.
    hard_groups: tuple[str, ...] | None = None
    #: Draw afresh in every cell (nasbench-1shot1's forward samples inside its cell loop) instead of one
    #: draw shared by all cells (AutoDL's).
    per_cell: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_tau("GdasConfig", self.tau_max, self.tau_min, self.tau_schedule)
        if self.unselected_terms is not None and not isinstance(self.unselected_terms, bool):
            raise ConfigError(f"unselected_terms must be true, false or null, got {self.unselected_terms!r}")


@register_optimizer("gdas")
class Gdas(ArchOptimizer):
    name = "gdas"
    config_cls = GdasConfig
    description = "GDAS, hard Gumbel-softmax with straight-through gradient (Dong & Yang 2019)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        supported = getattr(self.supernet, "supports_unselected_terms", False)
        u = self.config.unselected_terms
        self.unselected_terms: bool = supported if u is None else u
        if self.unselected_terms and not supported:
            raise ConfigError(f"gdas unselected_terms=true needs a supernet with AutoDL's NB-201 GDAS forward "
                              f"(space {self.space.name!r} has none); use --set unselected_terms=false")

    @property
    def tau(self) -> float:
        c = self.config
        return tau_at(c.tau_schedule, self.epoch, self.epochs, c.tau_max, c.tau_min)

    def hard_sample(self) -> tuple[dict[str, torch.Tensor], dict[str, list[int]] | None]:
        """Straight-through weights and the sampled op index per row (``None`` when some group is soft).

        Without ``unselected_terms`` the weights are zero, value and gradient, off the sample. Groups
        outside ``hard_groups`` get soft samples ``softmax((alpha + g) / tau)``.
        """
        hard_groups = self.config.hard_groups
        w, idx = {}, {}
        for k, a in self.alpha.tensors().items():
            if hard_groups is not None and k not in hard_groups:
                w[k] = gumbel_softmax_relaxed(a, self.tau, self.generator)
                continue
            h, i = gumbel_softmax_hard(a, self.tau, self.generator)
            if not self.unselected_terms:
                h = h * F.one_hot(i, h.shape[-1]).to(h.dtype)
            w[k], idx[k] = h, i
        if len(idx) < len(w):
            return w, None
        # one host read of a few ints per step: it lets the supernet skip 4/5 of the ops
        return w, {k: v.tolist() for k, v in idx.items()}

    def draw(self) -> tuple[Any, dict[str, list[int]] | None]:
        """One draw for the whole supernet, or (``per_cell``) a list with a fresh draw per cell."""
        if not self.config.per_cell:
            return self.hard_sample()
        cells = len(getattr(self.supernet, "cells", ()))
        if cells < 1:
            raise ConfigError(f"gdas per_cell needs a supernet with cells (space {self.space.name!r})")
        return [self.hard_sample()[0] for _ in range(cells)], None

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        if self.config.step_order == "weights-first":
            logits, loss = self._weight_step(train)
            logits_v, loss_v = self._arch_step(valid)
        else:  # nasbench-1shot1 optimizers/gdas/train_search.py: architect.step, then optimizer.step
            logits_v, loss_v = self._arch_step(valid)
            logits, loss = self._weight_step(train)
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v),
                "tau": torch.tensor(self.tau)}

    def _weight_step(self, train: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        w, active = self.draw()
        # the unselected terms are exact zeros in value: the weight step needs none of them
        detached = [{k: v.detach() for k, v in c.items()} for c in w] if isinstance(w, list) else \
            {k: v.detach() for k, v in w.items()}
        logits = self.forward(train[0], detached, active)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        return logits, loss

    def _arch_step(self, valid: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        w, active = self.draw()
        extra = {"unselected_terms": True} if self.unselected_terms else {}
        logits_v = self.forward(valid[0], w, active, **extra)
        loss_v = F.cross_entropy(logits_v, valid[1])
        alphas = list(self.alpha.tensors().values())
        # a sample of only `none` ops leaves a group out of the graph; officially its ops still run
        # (output x * 0), so its gradient is zero, not missing
        grads = torch.autograd.grad(loss_v, alphas, allow_unused=True)
        grads = [torch.zeros_like(a) if g is None else g for a, g in zip(alphas, grads)]
        self.arch_update(dict(zip(self.alpha.tensors().keys(), grads)))
        return logits_v, loss_v
