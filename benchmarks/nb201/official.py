"""Importers of the official NB-201 / NATS-Bench topology files.

``NAS-Bench-201-v1_0-e61699.pth`` / ``-v1_1-096897.pth``: a torch pickle of a
dict with ``meta_archs`` (15,625 strings in index order), ``arch2infos``
{index: {"less": state, "full": state}}, ``evaluated_indexes`` and
``total_archs``. The single-file NATS-Bench ``NATS-tss-v1_0-3ffb9.pickle.pbz2``
has the same dict, bz2-pickled, with hp keys "12"/"200".
``NATS-tss-v1_0-3ffb9-simple/``: ``meta.pickle.pbz2`` (``meta_archs``) plus
one ``{index:06d}.pickle.pbz2`` per evaluated architecture holding
{"12": state, "200": state}.

An ArchResults state holds ``all_results`` {(official dataset, seed):
ResultsCount state}. A ResultsCount state (one trial) holds ``epochs``,
``train_acc1es`` / ``train_losses`` / ``train_times`` {epoch: value},
``eval_names`` and ``eval_acc1es`` / ``eval_losses`` {"<eval name>@<epoch>":
value}, ``params``, ``flop`` and ``net_state_dict`` (dropped unread).
Values are read at the final epoch, ``epochs - 1``; the split mapping is
``SPLITS`` (table in the package docstring).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.nb201.pickles import load_official, pickle_size
from benchmarks.table import MetricKey, Table, sha256_file
from search_spaces import get_space
from search_spaces.errors import ArchitectureError, BenchmarkError

log = logging.getLogger(__name__)

#: (our dataset, our split) -> (official dataset, official eval name; "train" = training metrics)
SPLITS: dict[tuple[str, str], tuple[str, str]] = {
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
#: Official hyper-parameter key -> epochs ("less"/"full" in the .pth, "12"/"200" in NATS).
HP_EPOCHS = {"less": 12, "full": 200, "12": 12, "200": 200}
_EPOCH_DICTS = ("train_acc1es", "train_acc5es", "train_losses", "train_times",
                "eval_acc1es", "eval_acc5es", "eval_losses", "eval_times")
_SUMMARY = "__nb201_run_summary__"
_NAN = float("nan")


@dataclass(frozen=True)
class RunSummary:
    """What the table keeps of one trial (a ResultsCount state)."""

    train: tuple[float, float]  # (accuracy, loss) at the final epoch
    evals: dict[str, tuple[float, float]]  # eval name -> (accuracy, loss) at the final epoch
    time: float  # total training seconds
    params: float
    flops: float


def _num(value: Any) -> float:
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    return _NAN


def _at(d: Any, key: Any) -> float:
    return _num(d.get(key)) if isinstance(d, dict) else _NAN


def summarize_run(rc: Any) -> RunSummary | None:
    """Final-epoch values of one ResultsCount state (None if it is not one)."""
    if not isinstance(rc, dict):
        return None
    if _SUMMARY in rc:
        return rc[_SUMMARY]
    epochs = rc.get("epochs")
    if not isinstance(epochs, int) or epochs < 1:
        return None
    last = epochs - 1
    times = rc.get("train_times")
    total = _NAN
    if isinstance(times, dict) and all(e in times for e in range(epochs)):
        total = math.fsum(_num(times[e]) for e in range(epochs))
    names = rc.get("eval_names")
    accs = rc.get("eval_acc1es") if isinstance(rc.get("eval_acc1es"), dict) else {}
    if not isinstance(names, (list, tuple)):
        names = sorted({str(k).split("@")[0] for k in accs})
    evals = {n: (_at(accs, f"{n}@{last}"), _at(rc.get("eval_losses"), f"{n}@{last}")) for n in names}
    return RunSummary((_at(rc.get("train_acc1es"), last), _at(rc.get("train_losses"), last)), evals, total,
                      _num(rc.get("params")), _num(rc.get("flop")))


def compact_run(d: dict) -> None:
    """Lean-reader hook: shrink a complete ResultsCount state to its summary, in place.

    The per-epoch dicts are emptied too, because the unpickler's memo still
    references them. The official writer builds them per trial, never shared.
    """
    if "epochs" not in d or ("eval_acc1es" not in d and "train_acc1es" not in d) or _SUMMARY in d:
        return
    summary = summarize_run(d)
    for k in _EPOCH_DICTS:
        v = d.get(k)
        if type(v) is dict:
            v.clear()
    d.clear()
    d[_SUMMARY] = summary


class _Collector:
    """Per-seed values of many architectures, as table arrays."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seeds: list[str] = []
        self.cols: dict[MetricKey, np.ndarray] = {}

    def _seed(self, seed: Any) -> int:
        label = str(seed)
        if label not in self.seeds:
            self.seeds.append(label)
            for k, a in self.cols.items():
                self.cols[k] = np.hstack([a, np.full((self.n, 1), np.nan)])
        return self.seeds.index(label)

    def _put(self, key: MetricKey, row: int, col: int, value: float) -> None:
        if math.isnan(value):
            return  # keys appear only where the source has some value
        arr = self.cols.get(key)
        if arr is None:
            arr = self.cols[key] = np.full((self.n, len(self.seeds)), np.nan)
        arr[row, col] = value

    def add_arch(self, row: int, hp_states: Any) -> None:
        """Record one architecture's {hp: ArchResults state}."""
        if not isinstance(hp_states, dict):
            return
        for hp, state in hp_states.items():
            epochs = HP_EPOCHS.get(str(hp))
            if epochs is None or not isinstance(state, dict) or not isinstance(state.get("all_results"), dict):
                continue
            for key, rc in state["all_results"].items():
                run = summarize_run(rc)
                if run is None or not isinstance(key, tuple) or len(key) != 2:
                    continue
                official, seed = key
                col = self._seed(seed)
                for (ds, split), (off_ds, name) in SPLITS.items():
                    if off_ds != official:
                        continue
                    acc, loss = run.train if name == "train" else run.evals.get(name, (_NAN, _NAN))
                    for metric, v in (("accuracy", acc), ("loss", loss), ("time", run.time),
                                      ("params", run.params), ("flops", run.flops)):
                        self._put(MetricKey(ds, split, metric, epochs), row, col, v)

    def arrays(self) -> tuple[list[str], dict[MetricKey, np.ndarray]]:
        """Seed labels (numeric order) and the per-seed arrays with columns in that order."""
        order = sorted(range(len(self.seeds)), key=lambda j: seed_order(self.seeds[j]))
        return [self.seeds[j] for j in order], {k: a[:, order] for k, a in self.cols.items()}


def seed_order(label: str) -> tuple:
    """Sort key: numeric seed labels by value, then any others by name."""
    return (0, int(label), label) if label.lstrip("-").isdigit() else (1, 0, label)


def dir_digest(files: list[Path]) -> str:
    """sha256 over the names and contents of ``files`` (a directory source's identity)."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda p: p.name):
        h.update(f"{f.name}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def canonical_archs() -> tuple[tuple[str, ...], dict[str, int]]:
    """All NB-201 strings in official index order, and string -> index (built once, ~0.5 s)."""
    space = get_space("nb201")
    archs = tuple(space.to_str(space.from_index(i)) for i in range(space.size))
    return archs, {a: i for i, a in enumerate(archs)}


def arch_indices(strings: Any, source: Path | str) -> np.ndarray:
    """Official index of each architecture string; ``BenchmarkError`` naming ``source`` if one is malformed."""
    lookup = canonical_archs()[1]
    space = get_space("nb201")
    out = np.empty(len(strings), dtype=np.int64)
    for j, s in enumerate(strings):
        i = lookup.get(s) if isinstance(s, str) else None
        if i is None:  # a non-canonical spelling, or an error worth the parser's message
            try:
                i = space.from_str(s).index
            except ArchitectureError as e:
                raise BenchmarkError(f"{source}: {e}") from None
        out[j] = i
    return out


def _rows(meta_archs: Any, source: Path) -> tuple[list[str], np.ndarray]:
    """Canonical strings in official index order, and the table row of each meta_archs position."""
    if not isinstance(meta_archs, (list, tuple)) or not meta_archs:
        raise BenchmarkError(f"{source}: 'meta_archs' must be a non-empty list of architecture strings")
    index = arch_indices(meta_archs, f"{source}: meta_archs")
    if len(np.unique(index)) != len(index):
        raise BenchmarkError(f"{source}: meta_archs lists an architecture twice")
    order = np.argsort(index, kind="stable")
    row = np.empty_like(order)
    row[order] = np.arange(len(order))
    canonical = canonical_archs()[0]
    return [canonical[i] for i in index[order]], row


def _table(archs: list[str], col: _Collector, meta: dict) -> Table:
    seeds, per_seed = col.arrays()
    if not per_seed:
        raise BenchmarkError(f"{meta['source'][0]}: no trial results found (is 'arch2infos' empty?)")
    return Table("nb201", archs, seeds, per_seed, {}, meta)


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _prefer_lean(path: Path) -> bool:
    # The C unpickler peaks near 5x the pickle size (measured 4.9x); leave headroom for the rest.
    avail = _available_memory()
    need = 6 * pickle_size(path)
    return need > 0.7 * avail if avail is not None else need > 6 * 2**30


def import_pth(path: str | Path, low_memory: bool | None = None) -> Table:
    """Convert an official ``NAS-Bench-201-v1_*.pth`` (or single-file NATS ``.pickle.pbz2``).

    Args:
        path: The file.
        low_memory: True: lean reader (peak RAM ~0.4x the pickle, ~9x slower);
            False: C reader (~5x the pickle); None: C reader if 6x the pickle
            fits in 70% of the available memory, else lean. Weights are never loaded.
    """
    path = Path(path)
    lean = _prefer_lean(path) if low_memory is None else low_memory
    log.info("reading %s with the %s reader", path, "lean" if lean else "fast")
    try:
        data = load_official(path, lean=lean, compact=compact_run)
    except MemoryError:
        if lean:
            raise
        log.warning("out of memory with the fast reader; retrying %s with the lean one", path)
        data = load_official(path, lean=True, compact=compact_run)
    if not isinstance(data, dict) or not {"meta_archs", "arch2infos"} <= set(data):
        got = sorted(map(str, data))[:8] if isinstance(data, dict) else type(data).__name__
        raise BenchmarkError(f"{path}: expected the official dict with 'meta_archs' and 'arch2infos', got {got}")
    archs, rows = _rows(data["meta_archs"], path)
    infos = data["arch2infos"]
    if not isinstance(infos, dict):
        raise BenchmarkError(f"{path}: 'arch2infos' must be a dict {{index: {{hp: results}}}}")
    col = _Collector(len(archs))
    evaluated = len(infos)
    for pos in list(infos):
        if not isinstance(pos, int) or not 0 <= pos < len(rows):
            raise BenchmarkError(f"{path}: arch2infos index {pos!r} outside meta_archs (0..{len(rows) - 1})")
        col.add_arch(int(rows[pos]), infos[pos])
        infos[pos] = None  # free each architecture once read
    converter = "nats-tss-file" if path.name.endswith(".pbz2") else "nb201-pth"
    return _table(archs, col, {"source": [path.name], "source_sha256": [sha256_file(path)],
                               "converter": [f"{converter}:{'lean' if lean else 'fast'}"], "evaluated": evaluated})


def nats_files(path: Path) -> dict[int, Path]:
    """Index -> per-architecture file of a NATS ``-simple`` directory."""
    out: dict[int, Path] = {}
    for f in path.iterdir():
        stem = f.name[: -len(".pickle.pbz2")] if f.name.endswith(".pickle.pbz2") else None
        if stem and stem.isdigit():
            out.setdefault(int(stem), f)  # both 000123 and 123 spellings are accepted
    return out


def import_nats_dir(path: str | Path) -> Table:
    """Convert a NATS-Bench topology directory (``NATS-tss-v1_0-3ffb9-simple``), one file at a time."""
    path = Path(path)
    meta_p = path / "meta.pickle.pbz2"
    if not meta_p.is_file():
        raise BenchmarkError(f"{path}: not a NATS-Bench topology directory (missing meta.pickle.pbz2)")
    meta = load_official(meta_p)
    if not isinstance(meta, dict) or "meta_archs" not in meta:
        raise BenchmarkError(f"{meta_p}: expected a dict with 'meta_archs'")
    archs, rows = _rows(meta["meta_archs"], path)
    files = nats_files(path)
    col = _Collector(len(archs))
    for k, (pos, f) in enumerate(sorted(files.items())):
        if pos >= len(rows):
            raise BenchmarkError(f"{f}: index {pos} outside meta_archs (0..{len(rows) - 1})")
        col.add_arch(int(rows[pos]), load_official(f))
        if k % 1000 == 999:
            log.info("NATS import: %d/%d files", k + 1, len(files))
    return _table(archs, col, {"source": [path.name], "source_sha256": [dir_digest([meta_p, *files.values()])],
                               "converter": ["nats-tss-dir"], "evaluated": len(files)})
