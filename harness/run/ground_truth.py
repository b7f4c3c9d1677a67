"""Ground-truth lookups of a run's current architecture.

Which columns exist is checked once, before the search starts; a column the
benchmark lacks is recorded as unavailable (with the reason) in
``config.json`` and written as NaN, never replaced by another split or budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from benchmarks import Benchmark, load_benchmark
from search_spaces import Architecture, SearchSpace
from search_spaces.errors import BenchmarkError, ConfigError


@dataclass
class GroundTruth:
    """Answers (gt_valid_acc, gt_test_acc, test_regret) for an architecture."""

    benchmark: Benchmark | None
    dataset: str | None
    epochs: int | None
    seed: str | int
    available: dict[str, str | None]  # split -> None if available, else the reason
    regret: str = "table"  # RunConfig.regret

    @classmethod
    def create(cls, config, space: SearchSpace) -> GroundTruth:
        if config.benchmark == "none":
            return cls(None, None, None, config.benchmark_seed, {"valid": "no benchmark", "test": "no benchmark"},
                       config.regret)
        bench = load_benchmark(config.benchmark, config.benchmark_file)
        if bench.space.name != space.name:
            raise ConfigError(f"benchmark {config.benchmark!r} is for space {bench.space.name!r}, "
                              f"not {space.name!r}")
        dataset = config.benchmark_dataset or config.dataset
        if dataset not in bench.datasets():
            raise BenchmarkError(f"benchmark {config.benchmark!r} has no dataset {dataset!r} "
                                 f"(available: {', '.join(bench.datasets())}); set --benchmark-dataset")
        epochs = config.benchmark_epochs or bench.final_epochs(dataset, "accuracy")
        seed: str | int = config.benchmark_seed
        seed = int(seed) if isinstance(seed, str) and seed.isdigit() else seed
        avail: dict[str, str | None] = {}
        for split in ("valid", "test"):
            try:
                bench.optimum(dataset, split, "accuracy", epochs, seed)
                avail[split] = None
            except BenchmarkError as e:
                avail[split] = str(e)
        if avail["test"] is not None:
            raise BenchmarkError(f"cannot compute test regret: {avail['test']}")
        if config.regret == "nb1shot1-reference" and (seed != "mean" or dataset != "cifar10"):
            raise ConfigError("the nb1shot1-reference regret averages the repeats of cifar10: use "
                              "--benchmark-seed mean (or --regret table)")
        return cls(bench, dataset, epochs, seed, avail, config.regret)

    def evaluate(self, arch: Architecture) -> dict[str, float]:
        out = {"gt_valid_acc": math.nan, "gt_test_acc": math.nan, "test_regret": math.nan}
        if self.benchmark is None:
            return out
        q = dict(dataset=self.dataset, metric="accuracy", epochs=self.epochs, seed=self.seed)
        if self.available["valid"] is None:
            out["gt_valid_acc"] = _safe(lambda: self.benchmark.query(arch, split="valid", **q))
        out["gt_test_acc"] = _safe(lambda: self.benchmark.query(arch, split="test", **q))
        if self.regret == "nb1shot1-reference":
            from benchmarks.nb1shot1 import reference_test_regret

            out["test_regret"] = _safe(lambda: reference_test_regret(self.benchmark, arch, self.epochs))
        else:
            out["test_regret"] = _safe(lambda: self.benchmark.regret(arch, split="test", **q))
        return out

    def describe(self) -> dict[str, Any]:
        if self.benchmark is None:
            return {"benchmark": None}
        return {"benchmark": getattr(self.benchmark, "name", None), "dataset": self.dataset,
                "epochs": self.epochs, "seed": self.seed, "metric": "accuracy",
                "splits": {s: ("available" if r is None else f"unavailable: {r}") for s, r in self.available.items()},
                "test_optimum": self.benchmark.optimum(self.dataset, "test", "accuracy", self.epochs, self.seed).value,
                "regret": REGRET_DEFINITIONS[self.regret]}


#: What ``test_regret`` means under each convention (recorded in config.json / final.json).
REGRET_DEFINITIONS = {
    "table": {"convention": "table", "unit": "percent points",
              "definition": "the table's best test accuracy (same budget and seed aggregation) minus the pick's"},
    "nb1shot1-reference": {"convention": "nb1shot1-reference", "unit": "fraction",
                           "definition": "mean test error over the repeats minus the space's best single-repeat "
                                         "test error (nasbench-1shot1 experiment_database.py)"},
}


def _safe(fn) -> float:
    # An architecture missing from a partial table is reported as NaN, not a crash.
    try:
        return float(fn())
    except (BenchmarkError, KeyError, ValueError):
        return math.nan
