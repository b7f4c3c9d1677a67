"""SETN (Dong & Yang, ICCV 2019), NB-201 form (AutoDL ``exps/NAS-Bench-201-algos/SETN.py``).

Per step: an SGD step of the shared weights (the evaluator) on a uniformly
sampled architecture (``dync_genotype(True)``), then an Adam step of the
template logits ``alpha`` from the validation loss of the supernet mixing all
ops with ``softmax(alpha)`` (``forward_joint``). Selection (every epoch and at
the end, ``get_best_arch``): the ``n_candidates`` most probable architectures
under ``softmax(alpha)`` (``return_topK``, ``parts.topk``), each scored by
the evaluator on its own batch of a fresh pass over the search-valid split
(``parts.candidates``), the first best kept. Spaces that cannot be ranked
exactly (not enumerable, not one free choice per row) sample ``n_candidates``
templates instead (AutoDL has no SETN top-K for them).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch
from harness.optimizers.darts import ArchOptimizer, DartsConfig
from harness.optimizers.parts import darts_grad
from harness.optimizers.parts.candidates import best_index
from harness.optimizers.parts.topk import can_rank, top_k
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

    def candidates(self) -> list[Architecture]:
        """The templates scored at selection: top-K by probability (or sampled, see the module doc)."""
        if can_rank(self.space):
            return top_k(self.space, self.alpha.tensors(), self.config.n_candidates)
        return self.sample(self.config.n_candidates, self.rng)

    def select(self, eval_batches: list[Batch]) -> Architecture:
        cands = self.candidates()
        self.picked = cands[best_index(self.score_architectures(cands, eval_batches, per_candidate=True))]
        return self.picked

    def current_architecture(self) -> Architecture:
        return self.picked if self.picked is not None else super().current_architecture()

    def extra_state(self):
        return {**super().extra_state(), "picked": None if self.picked is None else list(self.picked.choices)}

    def load_extra_state(self, state) -> None:
        super().load_extra_state(state)
        self.picked = None if state["picked"] is None else Architecture(self.space.name, tuple(state["picked"]))
