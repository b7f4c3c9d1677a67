"""SETN (Dong & Yang, ICCV 2019), NB-201 form.

Training alternates (a) an SGD step of the shared weights (the evaluator) on a
uniformly sampled architecture, and (b) an Adam step of the template
distribution ``softmax(alpha)`` from the validation loss of the supernet
mixing all ops with those weights. Selection (every epoch and at the end):
sample ``n_candidates`` templates from ``softmax(alpha)``, score each with the
evaluator on fixed validation batches, return the best.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch
from harness.optimizers.darts import ArchOptimizer, DartsConfig
from harness.optimizers.parts import darts_grad
from search_spaces import Architecture


@dataclass(frozen=True)
class SetnConfig(DartsConfig):
    n_candidates: int = 100


@register_optimizer("setn")
class Setn(ArchOptimizer):
    name = "setn"
    config_cls = SetnConfig
    description = "SETN, uniform-sampling evaluator + learned template sampler (Dong & Yang 2019)"

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.picked: Architecture | None = None

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        a = self.space.sample(self.rng)
        w = {k: v.to(self.device) for k, v in self.space.one_hot(a).items()}
        logits = self.forward(train[0], w, self.space.active_indices(a))  # host-side indices: no sync
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        loss_fn = darts_grad.cross_entropy_loss(self.supernet, self.mix)
        loss_v, logits_v, grads = darts_grad.first_order(loss_fn, self.alpha.tensors(), valid)
        self.arch_update(grads)
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v)}

    def select(self, eval_batches: list[Batch]) -> Architecture:
        cands = self.sample(self.config.n_candidates, self.rng)
        self.picked = cands[int(torch.argmax(self.score_architectures(cands, eval_batches)))]
        return self.picked

    def current_architecture(self) -> Architecture:
        return self.picked if self.picked is not None else super().current_architecture()

    def extra_state(self):
        return {**super().extra_state(), "picked": None if self.picked is None else list(self.picked.choices)}

    def load_extra_state(self, state) -> None:
        super().load_extra_state(state)
        self.picked = None if state["picked"] is None else Architecture(self.space.name, tuple(state["picked"]))
