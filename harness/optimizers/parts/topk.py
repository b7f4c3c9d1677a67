"""The ``k`` most probable architectures under independent per-row categoricals (SETN's final selection).

AutoDL ``xautodl/models/cell_searchs/search_model_setn.py`` ``return_topK``
ranks every architecture of NB-201 by ``sum_rows log_softmax(alpha)[row, choice]``
and keeps the first ``k`` (a stable sort, so ties keep enumeration order).
For spaces whose architecture is one free choice per row (``OpPerEdgeSpace``)
the same ranking is found without enumerating: rows are merged one at a time,
keeping the ``k`` best prefixes (a prefix outside the best ``k`` has ``k``
better ones, each of which extends with the same suffix to a better whole).
Other enumerable spaces are ranked by enumeration.
"""

from __future__ import annotations

import torch

from search_spaces import Architecture, SearchSpace
from search_spaces.space import OpPerEdgeSpace

#: Largest space ranked by enumeration (one log-probability per architecture, in Python: about
#: 0.5 ms each, so 10,000 costs seconds per selection; NB-1Shot1 space 1 is 6,240).
MAX_ENUMERATE = 10_000


def can_rank(space: SearchSpace) -> bool:
    """Whether ``top_k`` can rank ``space`` exactly."""
    return isinstance(space, OpPerEdgeSpace) or (space.size is not None and space.size <= MAX_ENUMERATE)


def log_prob(space: SearchSpace, logp: dict[str, torch.Tensor], arch: Architecture) -> float:
    """``sum`` of the chosen entries of ``logp`` (log-softmax per row) for ``arch``."""
    return float(sum((space.one_hot(arch)[k].to(v) * v).sum() for k, v in logp.items()))


def top_k(space: SearchSpace, logits: dict[str, torch.Tensor], k: int) -> list[Architecture]:
    """The ``k`` architectures of highest probability under ``softmax(logits)`` per row, best first."""
    logp = {g: torch.log_softmax(v.detach().double().cpu(), dim=-1) for g, v in logits.items()}
    if isinstance(space, OpPerEdgeSpace):
        (name,) = logp
        table = logp[name].tolist()
        best: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]
        for row in table:
            merged = [(s + lp, prefix + (o,)) for s, prefix in best for o, lp in enumerate(row)]
            merged.sort(key=lambda t: -t[0])  # stable: ties keep lexicographic order
            best = merged[:k]
        return [Architecture(space.name, choices) for _, choices in best]
    if space.size is None or space.size > MAX_ENUMERATE:
        raise ValueError(f"space {space.name!r} cannot be ranked exactly (not enumerable)")
    scored = [(log_prob(space, logp, a), a) for a in space.enumerate()]
    scored.sort(key=lambda t: -t[0])
    return [a for _, a in scored[:k]]
