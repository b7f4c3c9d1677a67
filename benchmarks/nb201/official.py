"""Importers of the official NB-201 files.

``NAS-Bench-201-v1_0-e61699.pth`` / ``-v1_1-096897.pth``: a torch pickle dict with
``meta_archs`` (strings), ``arch2infos`` {index: {"less": ArchResults, "full":
ArchResults}} as state dicts, ``evaluated_indexes`` and ``total_archs``.
NATS-Bench topology ``NATS-tss-v1_0-3ffb9-simple/``: ``meta.pickle.pbz2``
(``meta_archs``, ``evaluated_indexes``) and one ``{index:06d}.pickle.pbz2`` per
architecture holding ``{"less": ..., "full": ...}`` in the same state form.

ArchResults state: ``all_results`` {(dataset, seed): ResultsCount state} and
``dataset_seed`` {dataset: [seeds]}. ResultsCount state: ``epochs``,
``train_acc1es`` / ``train_losses`` / ``train_times`` {epoch: value},
``eval_acc1es`` / ``eval_losses`` {"<eval name>@<epoch>": value}, ``params``,
``flop``. "less" is the 12-epoch protocol, "full" the 200-epoch one.

Split mapping (official dataset, eval name) per canonical (dataset, split):

| ours | official |
|---|---|
| cifar10 / train | cifar10-valid, train accuracy |
| cifar10 / valid | cifar10-valid, x-valid |
| cifar10 / test | cifar10 (trained on train+valid), ori-test |
| cifar100 / train, valid, test | cifar100: train, x-valid, x-test |
| ImageNet16-120 / train, valid, test | ImageNet16-120: train, x-valid, x-test |

Values are read at the final epoch (``epochs - 1``).
"""

from __future__ import annotations

import bz2
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.table import MetricKey, Table, sha256_file
from search_spaces import get_space
from search_spaces.errors import BenchmarkError

#: (our dataset, our split) -> (official dataset, eval name or "train")
SPLITS = {
    ("cifar10", "train"): ("cifar10-valid", "train"),
    ("cifar10", "valid"): ("cifar10-valid", "x-valid"),
    ("cifar10", "test"): ("cifar10", "ori-test"),
    ("cifar100", "train"): ("cifar100", "train"),
    ("cifar100", "valid"): ("cifar100", "x-valid"),
    ("cifar100", "test"): ("cifar100", "x-test"),
    ("ImageNet16-120", "train"): ("ImageNet16-120", "train"),
    ("ImageNet16-120", "valid"): ("ImageNet16-120", "x-valid"),
    ("ImageNet16-120", "test"): ("ImageNet16-120", "x-test"),
}
HP = {"less": 12, "full": 200}


class _Collector:
    """Accumulates per-seed values of many architectures into table arrays."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: dict[tuple[MetricKey, str], dict[int, float]] = {}
        self.seeds: set[str] = set()

    def add_arch(self, row: int, hp_states: dict[str, Any]) -> None:
        for hp, state in hp_states.items():
            if hp not in HP or not isinstance(state, dict):
                continue
            results = state.get("all_results", {})
            for (ours_ds, split), (off_ds, name) in SPLITS.items():
                for (ds, seed), rc in results.items():
                    if ds != off_ds or not isinstance(rc, dict):
                        continue
                    for metric, value in _read(rc, name).items():
                        self._put(MetricKey(ours_ds, split, metric, HP[hp]), str(seed), row, value)

    def _put(self, key: MetricKey, seed: str, row: int, value: float) -> None:
        self.seeds.add(seed)
        self.values.setdefault((key, seed), {})[row] = float(value)

    def per_seed(self) -> tuple[list[str], dict[MetricKey, np.ndarray]]:
        seeds = sorted(self.seeds)
        out: dict[MetricKey, np.ndarray] = {}
        for (key, seed), rows in self.values.items():
            arr = out.setdefault(key, np.full((self.n, len(seeds)), np.nan))
            idx = np.fromiter(rows.keys(), dtype=np.int64)
            arr[idx, seeds.index(seed)] = np.fromiter(rows.values(), dtype=np.float64)
        return seeds, out


def _read(rc: dict, name: str) -> dict[str, float]:
    last = int(rc["epochs"]) - 1
    out: dict[str, float] = {}
    if name == "train":
        for metric, field in (("accuracy", "train_acc1es"), ("loss", "train_losses")):
            if last in rc.get(field, {}):
                out[metric] = rc[field][last]
        times = rc.get("train_times", {})
        if times:
            out["time"] = float(sum(times.values()))
        if rc.get("params") is not None:
            out["params"] = rc["params"]
        if rc.get("flop") is not None:
            out["flops"] = rc["flop"]
    else:
        key = f"{name}@{last}"
        if key in rc.get("eval_acc1es", {}):
            out["accuracy"] = rc["eval_acc1es"][key]
        if key in rc.get("eval_losses", {}):
            out["loss"] = rc["eval_losses"][key]
    return out


def _table(meta_archs: list[str], collector: _Collector, source: Path, converter: str, digest: str) -> Table:
    space = get_space("nb201")
    for i, a in enumerate(meta_archs[:50]):
        if space.from_str(a).index != i:
            raise BenchmarkError(f"{source}: meta_archs is not in the official NB-201 order (entry {i} is {a})")
    seeds, per_seed = collector.per_seed()
    return Table("nb201", list(meta_archs), seeds, per_seed, {}, {
        "source": [source.name], "source_sha256": [digest], "converter": converter})


def import_pth(path: str | Path) -> Table:
    """Convert an official ``NAS-Bench-201-v1_*.pth`` file.

    The file is one pickle, so it is loaded whole (peak memory about the
    unpickled size); each architecture's network weights, if any, are dropped
    as soon as its values are read.
    """
    import torch

    path = Path(path)
    digest = sha256_file(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise BenchmarkError(f"{path}: not an official NB-201 .pth file ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or not {"meta_archs", "arch2infos"} <= set(data):
        raise BenchmarkError(f"{path}: expected a dict with 'meta_archs' and 'arch2infos' (official NB-201 format)")
    metas = list(data["meta_archs"])
    col = _Collector(len(metas))
    infos = data["arch2infos"]
    for idx in list(data.get("evaluated_indexes", infos.keys())):
        col.add_arch(int(idx), infos[idx])
        infos[idx] = None  # free it before the next one
    return _table(metas, col, path, "nb201-pth", digest)


def _bz2_pickle(path: Path) -> Any:
    try:
        with bz2.open(path, "rb") as f:
            return pickle.load(f)
    except Exception as e:
        raise BenchmarkError(f"{path}: not a bz2-compressed pickle of the NATS-Bench format ({type(e).__name__}: {e})") from None


def import_nats_dir(path: str | Path, progress=None) -> Table:
    """Convert a NATS-Bench topology directory (``NATS-tss-v1_0-3ffb9-simple``), one file at a time."""
    path = Path(path)
    meta_p = path / "meta.pickle.pbz2"
    if not meta_p.is_file():
        raise BenchmarkError(f"{path}: not a NATS-Bench topology directory (missing meta.pickle.pbz2)")
    meta = _bz2_pickle(meta_p)
    metas = list(meta["meta_archs"])
    evaluated = sorted(meta.get("evaluated_indexes", range(len(metas))))
    col = _Collector(len(metas))
    for k, idx in enumerate(evaluated):
        f = path / f"{idx:06d}.pickle.pbz2"
        if f.is_file():
            col.add_arch(int(idx), _bz2_pickle(f))
        if progress and k % 1000 == 0:
            progress(f"NATS import: {k}/{len(evaluated)}")
    return _table(metas, col, path, "nats-tss-dir", sha256_file(meta_p))
