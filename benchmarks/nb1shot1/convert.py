"""Streaming conversion of an official NB-101 tfrecord into one 1Shot1 space's table.

Rows are the space's architectures in enumeration order (``to_str`` form).
Several architectures of a space can be the same NB-101 model (pruning and
isomorphism), so membership is by graph hash: every row gets the values of
its model's records. Columns (dataset ``cifar10``), per repeat (seeds
``"0"``, ``"1"``, ``"2"`` in file order) and per epoch budget present:

- ``train|valid|test/accuracy@E``: final accuracy in PERCENT (the file's
  fraction x 100, like the other benchmarks here);
- ``train/time@E``: training time in seconds of that run (final evaluation);
- ``train/params@E``: trainable parameters of the network.

Memory is constant in the file size: one pass, records of other cells are
skipped after reading their hash, values are held per distinct member model.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.nb101.records import iter_nb101
from benchmarks.table import MetricKey, Table, cache_root, sha256_file
from search_spaces.errors import BenchmarkError
from search_spaces.io import atomic_write_bytes
from search_spaces.nb101.hashing import hash_graph
from search_spaces.nb101.spec import CANONICAL_OPS
from search_spaces.nb1shot1.space import NB1Shot1Space
from search_spaces.nb1shot1.structure import DEAD_OP

DATASET = "cifar10"
REPEATS = 3
_SPLITS = (("train", "train_accuracy"), ("valid", "validation_accuracy"), ("test", "test_accuracy"))


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def compute_space_hashes(space: NB1Shot1Space, quiet: bool = False) -> np.ndarray:
    """NB-101 hash of every architecture of ``space`` in enumeration order: ``[size]`` '<U32'.

    Pruning depends only on the parent configuration, so it is done once per
    configuration; only the labels change with the ops.
    """
    s = space.structure
    out = np.empty(space.size, dtype="<U32")
    memo: dict[tuple, str] = {}
    t0, i = time.monotonic(), 0
    for ci, pidx in enumerate(s.parent_configs):
        spec = s.spec(pidx, (DEAD_OP,) * s.num_blocks)
        if not spec.is_valid():
            raise BenchmarkError(f"{space.name}: configuration {pidx} is no valid NB-101 cell: {spec.problems()}")
        keep = spec.kept_vertices
        m = spec.matrix
        v = m.shape[0]
        preds = [[w for w in range(v) if m[w, j]] for j in range(v)]
        succs = [[w for w in range(v) if m[j, w]] for j in range(v)]
        graph_key = m.tobytes()
        for _ in range(int(s.config_offsets[ci + 1] - s.config_offsets[ci])):
            ops, _p = space.split(space.from_index(i))
            labels7 = s.nb101_ops(ops)
            labels = tuple(-1 if k == 0 else -2 if k == 6 else CANONICAL_OPS.index(labels7[k]) for k in keep)
            key = (graph_key, labels)
            h = memo.get(key)
            if h is None:
                h = memo[key] = hash_graph(preds, succs, labels)
            out[i] = h
            i += 1
        if not quiet and ci % 500 == 0 and ci:
            _progress(f"{space.name}: hashed {i:,}/{space.size:,} architectures ({time.monotonic() - t0:.0f} s)")
    return out


def space_hashes(space: NB1Shot1Space) -> np.ndarray:
    """``compute_space_hashes``, cached under ``cache_root()`` (it takes minutes for space 3)."""
    path = cache_root() / f"{space.name}-hashes-v1.npy"
    if path.is_file():
        try:
            arr = np.load(path, allow_pickle=False)
            if arr.shape == (space.size,):
                return arr
        except (OSError, ValueError):
            pass  # unreadable cache: recompute
    arr = compute_space_hashes(space)
    path.parent.mkdir(parents=True, exist_ok=True)
    import io

    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())
    return arr


def convert(path: str | Path, space: NB1Shot1Space, hashes: np.ndarray | None = None,
            verify: bool = True, quiet: bool = False) -> Table:
    """Build ``space``'s table from the tfrecord at ``path`` (one streaming pass).

    Args:
        path: Official ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord``.
        space: The 1Shot1 space whose architectures become the rows.
        hashes: Precomputed ``space_hashes(space)`` (computed and cached if None).
        verify: Check the CRC of every record.
        quiet: No progress on stderr.
    """
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"{path} is not a file (expected nasbench_only108.tfrecord or nasbench_full.tfrecord)")
    hashes = space_hashes(space) if hashes is None else hashes
    uniq, inverse = np.unique(hashes, return_inverse=True)
    slot_of = {h: i for i, h in enumerate(uniq.tolist())}
    seen: dict[tuple[int, int], int] = {}
    cols: dict[MetricKey, np.ndarray] = {}

    def col(split: str, metric: str, epochs: int) -> np.ndarray:
        k = MetricKey(DATASET, split, metric, epochs)
        if k not in cols:
            cols[k] = np.full((len(uniq), REPEATS), np.nan)
        return cols[k]

    total, t0, n = path.stat().st_size, time.monotonic(), 0
    for rec in iter_nb101(path, wanted=set(slot_of), verify=verify):
        u, e = slot_of[rec.module_hash], rec.epochs
        r = seen.get((u, e), 0)
        if r >= REPEATS:
            raise BenchmarkError(f"{path}: more than {REPEATS} repeats of {rec.module_hash} at {e} epochs "
                                 f"(record at byte offset {rec.offset})")
        seen[(u, e)] = r + 1
        final = rec.final
        for split, attr in _SPLITS:
            col(split, "accuracy", e)[u, r] = 100.0 * getattr(final, attr)
        col("train", "time", e)[u, r] = final.training_time
        col("train", "params", e)[u, r] = rec.metrics.trainable_parameters
        n += 1
        if not quiet and n % 20000 == 0:
            _progress(f"{space.name}: {n:,} member records, {rec.offset / max(total, 1):.0%} of {path.name} "
                      f"({time.monotonic() - t0:.0f} s)")
    if not cols:
        raise BenchmarkError(f"{path}: no record belongs to space {space.name} (is it an NB-101 tfrecord?)")
    found = len({u for u, _ in seen})
    if not quiet:
        _progress(f"{space.name}: {n:,} records of {found:,}/{len(uniq):,} distinct models "
                  f"({time.monotonic() - t0:.0f} s)")
    per_seed = {k: v[inverse] for k, v in cols.items()}
    meta = {
        "source": str(path), "source_name": path.name, "dataset": DATASET,
        "protocol": ("NAS-Bench-1Shot1 space over NAS-Bench-101: final accuracies in percent per repeat, "
                     "training time in seconds, trainable parameters"),
        "distinct_models": int(len(uniq)), "models_found": int(found), "records": int(n),
    }
    return Table(space.name, [space.to_str(a) for a in space.enumerate()], [str(i) for i in range(REPEATS)],
                 per_seed, {}, meta)


def load_or_convert(path: str | Path, space: NB1Shot1Space) -> Table:
    """The cached table of ``space`` for source ``path``, converting it once."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise BenchmarkError(f"benchmark {space.name!r}: {path} is not a file "
                             "(expected nasbench_only108.tfrecord or nasbench_full.tfrecord)")
    digest = sha256_file(path)
    cache = cache_root() / f"{space.name}-{digest[:16]}"
    if (cache / "metadata.json").is_file():
        return Table.load(cache)
    table = convert(path, space)
    table.metadata["source_sha256"] = digest
    table.save(cache)
    return table
