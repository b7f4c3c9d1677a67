"""Scoring candidate architectures with the supernet: the selection step of RS-ws, SETN, ENAS, one-shot, NSA.

Two official forms:

- per candidate (AutoDL ``RANDOM-NAS.py search_find_best``, ``SETN.py`` and
  ``ENAS.py get_best_arch``): a fresh pass over the shuffled search-valid
  split starts at each selection, and candidate ``i`` is scored on batch ``i``
  of it (passes wrap around with a new shuffle); the best accuracy wins, the
  first candidate on ties (``np.argmax``);
- shared (Bender et al.; NSA): every candidate is scored on the same batches.

``source`` is a ``SelectionBatches`` (a list of fixed batches that also knows
the run's selection stream) or a plain list of batches; a plain list serves
per-candidate scoring by cycling through it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch

Batch = tuple[torch.Tensor, torch.Tensor]


class SelectionBatches(list):
    """Fixed validation batches (the list) plus the run's selection stream (``fresh_pass``).

    Args:
        fixed: Batches every candidate may share.
        stream: A ``harness.data.BatchStream`` over the search-valid split (or None).
    """

    def __init__(self, fixed: Iterable[Batch], stream: Any = None) -> None:
        super().__init__(fixed)
        self.stream = stream

    def fresh_pass(self) -> Iterator[Batch]:
        """Batches from the start of a new shuffled pass (endless)."""
        if self.stream is None:
            return itertools.cycle(list(self))
        self.stream.restart()
        return iter(self.stream)


def candidate_batches(source: Sequence[Batch]) -> Iterator[Batch]:
    """One batch per candidate, in order (see the module doc)."""
    if isinstance(source, SelectionBatches):
        return source.fresh_pass()
    if not source:
        raise ValueError("no validation batches to score candidates on")
    return itertools.cycle(list(source))


def _accuracy(opt: Any, arch: Any, batches: Iterable[Batch]) -> torch.Tensor:
    w = {k: v.to(opt.device, getattr(opt, "dtype", v.dtype)) for k, v in opt.space.one_hot(arch).items()}
    act = opt.space.active_indices(arch)
    correct, total = torch.zeros((), device=opt.device), 0
    for x, y in batches:
        correct = correct + (opt.forward(x, w, act).argmax(-1) == y).sum()
        total += int(y.shape[0])
    return correct.float() / max(total, 1)


def score_candidates(opt: Any, archs: Sequence[Any], source: Sequence[Batch], per_candidate: bool = True
                     ) -> torch.Tensor:
    """Supernet accuracy of each of ``archs`` (``[len(archs)]``, fractions), the supernet in eval mode.

    ``per_candidate``: candidate ``i`` on batch ``i`` of a fresh pass; else every candidate on all of
    ``source``'s fixed batches.
    """
    was = opt.supernet.training
    opt.supernet.eval()
    try:
        with torch.no_grad():
            if per_candidate:
                it = candidate_batches(source)
                scores = [_accuracy(opt, a, [next(it)]) for a in archs]
            else:
                scores = [_accuracy(opt, a, list(source)) for a in archs]
    finally:
        opt.supernet.train(was)
    return torch.stack(scores) if scores else torch.zeros(0, device=opt.device)


def best_index(scores: torch.Tensor) -> int:
    """Index of the first maximum (``np.argmax`` semantics)."""
    s = scores.detach().cpu().tolist()
    return s.index(max(s))
