"""The benchmark protocol: explicit queries, a known optimum, regret against it.

Every query names its dataset and split; metric, epoch budget and seed
aggregation are parameters whose defaults are spelled out in the signature
(accuracy, 200 epochs, mean over seeds: the NAS-Bench-201 reporting
convention), and the harness's own callers always pass them. Nothing falls
back silently: asking for a column the source lacks (e.g. 200 epochs of a
table trained for 10) raises ``BenchmarkError`` listing what is available.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from benchmarks.table import MetricKey, Table
from search_spaces import Architecture, SearchSpace, get_space
from search_spaces.errors import ArchitectureError, BenchmarkError

#: Metrics where larger is better; regret is optimum - value for these,
#: value - optimum for the rest (loss, error).
HIGHER_IS_BETTER = {"accuracy": True, "loss": False, "error": False}


def higher_is_better(metric: str) -> bool:
    """The direction of an objective metric; costs (params, FLOPs, time) have none and cannot be ranked."""
    if metric not in HIGHER_IS_BETTER:
        raise BenchmarkError(f"metric {metric!r} is not an objective (objectives: {', '.join(HIGHER_IS_BETTER)}): "
                             "query it, but it has no optimum and no regret")
    return HIGHER_IS_BETTER[metric]


@dataclass(frozen=True)
class Optimum:
    """Best value of a column and the architecture that attains it."""

    value: float
    arch: str
    row: int


@runtime_checkable
class Benchmark(Protocol):
    """Ground-truth oracle of one space."""

    space: SearchSpace

    def query(self, arch: Architecture | str, dataset: str, split: str, metric: str = "accuracy",
              epochs: int = 200, seed: str | int = "mean") -> float: ...

    def optimum(self, dataset: str, split: str, metric: str = "accuracy", epochs: int = 200,
                seed: str | int = "mean") -> Optimum: ...

    def regret(self, arch: Architecture | str, dataset: str, split: str, metric: str = "accuracy",
               epochs: int = 200, seed: str | int = "mean") -> float: ...

    def datasets(self) -> list[str]: ...


class TabularBenchmark:
    """A benchmark answered from a canonical ``Table``.

    Args:
        table: The canonical table.
        name: Benchmark name for messages.
    """

    def __init__(self, table: Table, name: str | None = None) -> None:
        self.table = table
        self.name = name or table.space
        self.space = get_space(table.space)
        self._opt_cache: dict[tuple, Optimum] = {}
        self._keys = set(table.keys())
        self._col_cache: dict[tuple, np.ndarray] = {}

    # -- protocol -----------------------------------------------------
    def query(self, arch: Architecture | str | int, dataset: str, split: str, metric: str = "accuracy",
              epochs: int = 200, seed: str | int = "mean") -> float:
        """Value of one architecture (an ``Architecture``, its string or its index in the space, as
        ``harness query --arch`` takes them); ``BenchmarkError`` if the source lacks it."""
        col = self._column(dataset, split, metric, epochs, seed)
        v = col[self._row(arch)]
        if np.isnan(v):
            raise BenchmarkError(f"{self.name}: no {metric} for {self._str(arch)} on {dataset}/{split}@{epochs}")
        return float(v)

    def query_many(self, archs: Sequence[Architecture | str], dataset: str, split: str,
                   metric: str = "accuracy", epochs: int = 200, seed: str | int = "mean") -> np.ndarray:
        """Vectorised ``query``: float64 ``[len(archs)]`` (NaN where the source has no value)."""
        col = self._column(dataset, split, metric, epochs, seed)
        return col[np.fromiter((self._row(a) for a in archs), dtype=np.int64, count=len(archs))]

    def optimum(self, dataset: str, split: str, metric: str = "accuracy", epochs: int = 200,
                seed: str | int = "mean") -> Optimum:
        """Best value over the table and the architecture attaining it (first on ties)."""
        key = (dataset, split, metric, epochs, seed)
        if key not in self._opt_cache:
            col = self._column(dataset, split, metric, epochs, seed)
            if np.all(np.isnan(col)):
                raise BenchmarkError(f"{self.name}: no values for {dataset}/{split}/{metric}@{epochs}")
            i = int(np.nanargmax(col) if higher_is_better(metric) else np.nanargmin(col))
            self._opt_cache[key] = Optimum(float(col[i]), self.table.archs[i], i)
        return self._opt_cache[key]

    def regret(self, arch: Architecture | str, dataset: str, split: str, metric: str = "accuracy",
               epochs: int = 200, seed: str | int = "mean") -> float:
        """Distance to the optimum (>= 0): optimum - value for accuracy, value - optimum for losses."""
        v = self.query(arch, dataset, split, metric, epochs, seed)
        o = self.optimum(dataset, split, metric, epochs, seed).value
        return o - v if higher_is_better(metric) else v - o

    def datasets(self) -> list[str]:
        """Datasets present in the table."""
        return sorted({k.dataset for k in self.table.keys()})

    def final_epochs(self, dataset: str, metric: str = "accuracy") -> int:
        """Largest epoch budget with ``metric`` for ``dataset`` (the table's full training budget)."""
        eps = [k.epochs for k in self._keys if k.dataset == dataset and k.metric == metric]
        if not eps:
            raise BenchmarkError(f"{self.name}: no {metric} for dataset {dataset!r} "
                                 f"(available: {', '.join(self.datasets())})")
        return max(eps)

    def available(self) -> list[MetricKey]:
        """Every (dataset, split, metric, epochs) the table can answer."""
        return self.table.keys()

    # -- internals ----------------------------------------------------
    def _column(self, dataset: str, split: str, metric: str, epochs: int, seed: str | int) -> np.ndarray:
        if dataset not in self.datasets():  # NB-201 spells ImageNet16-120; users type imagenet16-120
            dataset = {d.lower(): d for d in self.datasets()}.get(str(dataset).lower(), dataset)
        ck = (dataset, split, metric, int(epochs), seed)
        if ck in self._col_cache:
            return self._col_cache[ck]
        key = MetricKey(dataset, split, metric, int(epochs))
        keys = self._keys
        if key not in keys:
            if dataset not in {k.dataset for k in keys}:
                raise BenchmarkError(f"{self.name}: unknown dataset {dataset!r} (available: {', '.join(self.datasets())})")
            have = ", ".join(str(k) for k in sorted(keys) if k.dataset == dataset)
            raise BenchmarkError(f"{self.name}: no {key} in the source (available for {dataset}: {have})")
        # columns (and seed means) are computed once per key
        self._col_cache[ck] = self.table.column(key, seed)
        return self._col_cache[ck]

    def _str(self, arch: Architecture | str | int) -> str:
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            # the space's official index (NB-201's 0..15624), as `harness query --arch 6111` takes it
            arch = self.space.from_index(int(arch))
        return arch if isinstance(arch, str) else self.space.to_str(self.space.check(arch))

    def _row(self, arch: Architecture | str) -> int:
        text = self._str(self.space.parse(arch)) if isinstance(arch, str) else self._str(arch)  # or an index
        r = self.table.row(text)
        if r is None:
            raise ArchitectureError(f"{self.name}: architecture {text!r} is not in the table")
        return r
