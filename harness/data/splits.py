"""Deterministic stratified splits and NB-201 split files.

``stratified_order`` shuffles each class with ``numpy.random.default_rng(seed)``
(classes in ascending label order) and interleaves the classes round-robin, so
every prefix of the order is close to class-balanced. ``stratified_split`` cuts
that order into consecutive parts and returns each part's indices sorted (the
early parts are balanced, the last one takes what is left). ``halves`` splits
every class in two instead, so both halves keep the class proportions.

NB-201 split files are JSON objects of index lists, either plain
(``{"train": [0, 5, ...]}``) or in the form NB-201's ``load_config`` writes
(``{"train": ["int", ["0", "5", ...]]}``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from search_spaces.errors import DataError


def stratified_order(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """A class-interleaved permutation of ``range(len(y))`` (int64 ``[N]``)."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    order, rank, cls = [], [], []
    for k, c in enumerate(np.unique(y)):
        p = rng.permutation(np.flatnonzero(y == c))
        order.append(p)
        rank.append(np.arange(len(p)))
        cls.append(np.full(len(p), k))
    if not order:
        return np.zeros(0, dtype=np.int64)
    # round-robin: the i-th image of every class before the (i+1)-th of any class
    key = np.lexsort((np.concatenate(cls), np.concatenate(rank)))
    return np.concatenate(order)[key].astype(np.int64)


def stratified_split(y: np.ndarray, sizes: list[int], seed: int = 0) -> list[np.ndarray]:
    """Partition ``range(len(y))`` into class-balanced parts of ``sizes`` (sorted indices each).

    Raises:
        ValueError: ``sizes`` are negative or do not add up to ``len(y)``.
    """
    if any(s < 0 for s in sizes) or sum(sizes) != len(y):
        raise ValueError(f"split sizes {sizes} must be non-negative and add up to {len(y)}")
    parts = np.split(stratified_order(y, seed), np.cumsum(sizes)[:-1])
    return [np.sort(p) for p in parts]


def halves(y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two stratified halves (sorted indices): each class is shuffled and cut in two.

    Proportional rather than round-robin, so both halves keep the class mix of
    ``y``. Classes with an odd count give their extra example alternately to
    the second and the first half, which makes the first half exactly
    ``len(y) // 2``.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    first, second, odd = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], 0
    for c in np.unique(y):
        p = rng.permutation(np.flatnonzero(y == c))
        k = len(p) // 2
        if len(p) % 2:
            k, odd = k + odd, odd ^ 1
        first.append(p[:k])
        second.append(p[k:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def balanced_subset(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``min(n, len(y))`` examples, as class-balanced as ``y`` allows."""
    if n >= len(y):
        return np.arange(len(y), dtype=np.int64)
    return np.sort(stratified_order(y, seed)[:n])


def _indices(value: object, path: Path, key: str) -> np.ndarray:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], list):
        value = value[1]  # NB-201 config form: [type name, values]
    if not isinstance(value, list):
        raise DataError(f"{path}: {key!r} must be a list of indices")
    try:
        idx = np.array([int(v) for v in value], dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: {key!r} holds a value that is not an integer index") from None
    return idx


def read_split_file(path: Path, keys: tuple[str, str], n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The two disjoint index sets under ``keys`` in ``path`` (sorted), or None if absent.

    Args:
        n: Size of the split being divided; every index must lie in ``0..n-1``.

    Raises:
        DataError: The file is not JSON, lacks a key, or has bad / overlapping indices.
    """
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read split file {path}: {e}") from None
    if not isinstance(d, dict) or any(k not in d for k in keys):
        raise DataError(f"split file {path}: expected a JSON object with keys {list(keys)}")
    a, b = (_indices(d[k], path, k) for k in keys)
    for k, idx in zip(keys, (a, b)):
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise DataError(f"split file {path}: {k!r} has index {idx.max() if idx.max() >= n else idx.min()} "
                            f"outside 0..{n - 1} (the data has {n} images)")
        if len(np.unique(idx)) != len(idx):
            raise DataError(f"split file {path}: {k!r} repeats an index")
    if len(np.intersect1d(a, b)):
        raise DataError(f"split file {path}: {keys[0]!r} and {keys[1]!r} overlap")
    return np.sort(a), np.sort(b)
