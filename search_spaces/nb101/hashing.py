"""NAS-Bench-101's isomorphism-invariant graph fingerprint (the records' ``module_hash``).

The strings fed to md5 must match NAS-Bench-101 byte for byte:

1. every vertex starts from ``md5(str((out_degree, in_degree, label)))``,
   formatted as a tuple of Python ints (``"(2, 0, -1)"``);
2. ``V`` times (``V`` = number of vertices) every vertex becomes
   ``md5(sorted in-neighbour hashes joined + "|" + sorted out-neighbour
   hashes joined + "|" + own hash)``;
3. the fingerprint is ``md5(str(sorted(vertex hashes)))`` (a Python list repr).

Labels: ``-1`` input, ``-2`` output, interior vertices the op's index in
NB-101's ``available_ops`` order (conv3x3-bn-relu 0, conv1x1-bn-relu 1,
maxpool3x3 2). Relabelling vertices changes no degree, label or neighbour
multiset, so isomorphic labelled graphs get equal fingerprints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def hash_graph(preds: Sequence[Sequence[int]], succs: Sequence[Sequence[int]], labels: Sequence[int]) -> str:
    """Fingerprint from neighbour lists (the fast path for many labelings of one graph).

    Args:
        preds: ``preds[v]`` = vertices with an edge into ``v``.
        succs: ``succs[v]`` = vertices ``v`` has an edge to.
        labels: One integer label per vertex (see module docstring).

    Returns:
        32-character md5 hex digest.
    """
    n = len(labels)
    h = [_md5(str((len(succs[v]), len(preds[v]), int(labels[v])))) for v in range(n)]
    for _ in range(n):
        h = [_md5("".join(sorted([h[w] for w in preds[v]])) + "|"
                  + "".join(sorted([h[w] for w in succs[v]])) + "|" + h[v]) for v in range(n)]
    return _md5(str(sorted(h)))


def hash_module(matrix: np.ndarray | Sequence[Sequence[int]], labels: Sequence[int]) -> str:
    """Fingerprint of a labelled DAG given as a 0/1 adjacency ``[V, V]`` (``matrix[src, dst]``)."""
    rows = np.asarray(matrix).astype(bool).tolist()
    n = len(labels)
    if len(rows) != n:
        raise ValueError(f"matrix has {len(rows)} vertices but {n} labels were given")
    preds = [[w for w in range(n) if rows[w][v]] for v in range(n)]
    succs = [[w for w in range(n) if rows[v][w]] for v in range(n)]
    return hash_graph(preds, succs, labels)


__all__ = ["hash_graph", "hash_module"]
