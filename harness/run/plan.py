"""Sweep plans: a small YAML document expanded into runs (``harness sweep PLAN``; docs/usage.md lists every key).

A plan lists optimizers, spaces, datasets and seeds, plus any ``RunConfig``
field (``budget`` is an alias of ``epochs``). A list value sweeps that field;
a scalar fixes it. Example::

    optimizers:
      - darts
      - name: gdas
        config: {tau_max: 10}          # fixed overrides
        grid: {arch_lr: [3.0e-4, 1.0e-3]}  # one setting per combination
    spaces: [s5]
    datasets: [digits, {dataset: cifar10, benchmark: nb201, data_dir: data/cifar}]
    seeds: [0, 1, 2]
    budget: 50
    batch_size: 64

A plan is read as a regular file of at most ``MAX_PLAN_BYTES`` with YAML's safe
loader; its values (aliases counted once per use) and runs are counted before
anything is built, and refused past ``MAX_PLAN_NODES`` / ``MAX_PLAN_RUNS``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from harness.run.config import RunConfig
from search_spaces.errors import ConfigError
from search_spaces.safe_read import read_text

PLAN_KEYS = {"optimizers", "spaces", "datasets", "seeds", "budget"}
# ours: far beyond any plan a lab runs (the largest shipped plan has 90 runs), far below what exhausts memory
MAX_PLAN_RUNS = 20_000
MAX_PLAN_NODES = 100_000
MAX_PLAN_BYTES = 1 << 20
_RUN_FIELDS = {f.name for f in fields(RunConfig)}
# Fields with their own plan key; the per-run device is chosen by the executor.
_RESERVED = {"optimizer", "optimizer_config", "space", "dataset", "seed"}


@dataclass(frozen=True)
class OptimizerEntry:
    """One optimizer of a plan: fixed config overrides and an optional grid over more."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"plan: optimizer name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.config, dict) or not isinstance(self.grid, dict):
            raise ConfigError(f"plan: optimizer {self.name!r}: config and grid must be mappings")
        for k, v in self.grid.items():
            if not isinstance(v, (list, tuple)) or not v:
                raise ConfigError(f"plan: optimizer {self.name!r}: grid {k!r} must be a non-empty list")

    def settings(self) -> list[dict[str, Any]]:
        """Every optimizer_config of this entry (fixed overrides + one grid combination)."""
        keys = sorted(self.grid)
        return [{**self.config, **dict(zip(keys, combo))}
                for combo in itertools.product(*(self.grid[k] for k in keys))]


@dataclass(frozen=True)
class Plan:
    """A validated plan (see module docstring); ``expand`` gives its runs."""

    optimizers: tuple[OptimizerEntry, ...]
    spaces: tuple[dict[str, Any], ...] = ({"space": "s5"},)
    datasets: tuple[dict[str, Any], ...] = ({"dataset": "digits"},)
    seeds: tuple[int, ...] = (0,)
    fixed: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.optimizers:
            raise ConfigError("plan: 'optimizers' must list at least one optimizer")
        if not self.seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in self.seeds):
            raise ConfigError(f"plan: 'seeds' must be non-negative integers, got {list(self.seeds)}")
        for k in (*self.fixed, *self.axes):
            if k not in _RUN_FIELDS or k in _RESERVED:
                raise ConfigError(f"plan: unknown key {k!r} (plan keys: {sorted(PLAN_KEYS)}; run fields: "
                                  f"{sorted(_RUN_FIELDS - _RESERVED)})")

    @classmethod
    def from_dict(cls, raw: Any, what: str = "plan") -> Plan:
        """Validate a parsed YAML document."""
        if not isinstance(raw, dict):
            raise ConfigError(f"{what}: expected a mapping at the top level")
        _check_expanded_size(raw, what)
        raw = dict(raw)
        if "budget" in raw:
            if "epochs" in raw:
                raise ConfigError("plan: give either 'budget' or 'epochs', not both")
            raw["epochs"] = raw.pop("budget")
        opts = tuple(_optimizer_entry(o) for o in _as_list(raw.pop("optimizers", None), "optimizers"))
        spaces = tuple(_axis_entry(s, "space") for s in _as_list(raw.pop("spaces", ["s5"]), "spaces"))
        datasets = tuple(_axis_entry(d, "dataset") for d in _as_list(raw.pop("datasets", ["digits"]), "datasets"))
        seeds = tuple(_as_list(raw.pop("seeds", [0]), "seeds"))
        fixed = {k: v for k, v in raw.items() if not isinstance(v, list)}
        axes = {k: tuple(v) for k, v in raw.items() if isinstance(v, list)}
        if any(not v for v in axes.values()):
            raise ConfigError("plan: a swept field needs at least one value")
        return cls(opts, spaces, datasets, seeds, fixed, axes)

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """Read and validate a YAML plan file."""
        text = read_text(path, "plan", limit=MAX_PLAN_BYTES)
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"plan {path}: not valid YAML ({str(e)[:200]})") from None
        except (RecursionError, MemoryError):
            raise ConfigError(f"plan {path}: nested too deeply to read") from None
        return cls.from_dict(raw, f"plan {path}")

    def count(self) -> int:
        """How many runs ``expand`` builds at most (before removing duplicates), computed without building them."""
        per_opt = sum(math.prod(len(v) for v in o.grid.values()) for o in self.optimizers)
        return (per_opt * len(self.spaces) * len(self.datasets) * math.prod(len(v) for v in self.axes.values())
                * len(self.seeds))

    def expand(self) -> list[RunConfig]:
        """Every run of the plan, in a stable order, without duplicates (same run id and seed)."""
        if self.count() > MAX_PLAN_RUNS:
            raise ConfigError(f"plan: {self.count():,} runs is more than the {MAX_PLAN_RUNS:,} one plan may hold; "
                              "split it into several plans")
        keys = sorted(self.axes)
        out: dict[str, RunConfig] = {}
        for opt in self.optimizers:
            for setting in opt.settings():
                for sp, ds in itertools.product(self.spaces, self.datasets):
                    for combo in itertools.product(*(self.axes[k] for k in keys)):
                        for seed in self.seeds:
                            cfg = RunConfig.from_dict({**self.fixed, **dict(zip(keys, combo)), **sp, **ds,
                                                       "optimizer": opt.name, "optimizer_config": setting,
                                                       "seed": seed})
                            out.setdefault(cfg.run_id(), cfg)
        return list(out.values())


def _check_expanded_size(raw: Any, what: str) -> None:
    """Refuse a document whose YAML aliases expand to more than ``MAX_PLAN_NODES`` values (an alias bomb
    is small on disk and unbounded once copied into runs); shared nodes are counted once per use."""
    sizes: dict[int, int] = {}

    def size(o: Any, depth: int) -> int:
        if depth > 50:
            raise ConfigError(f"{what}: nested deeper than 50 levels")
        if not isinstance(o, (dict, list)):
            return 1
        if id(o) in sizes:
            return sizes[id(o)]
        children = list(o.keys()) + list(o.values()) if isinstance(o, dict) else o
        n = 1
        for c in children:
            n += size(c, depth + 1)
            if n > MAX_PLAN_NODES:
                raise ConfigError(f"{what}: expands to more than {MAX_PLAN_NODES:,} values (YAML aliases?)")
        sizes[id(o)] = n
        return n

    size(raw, 0)


def _as_list(v: Any, key: str) -> list[Any]:
    if v is None:
        raise ConfigError(f"plan: {key!r} is required")
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _optimizer_entry(o: Any) -> OptimizerEntry:
    if isinstance(o, str):
        return OptimizerEntry(o)
    if isinstance(o, dict):
        unknown = set(o) - {"name", "config", "grid"}
        if unknown or "name" not in o:
            raise ConfigError(f"plan: optimizer entry {o!r} needs 'name' and may have 'config', 'grid' only")
        grid = {k: tuple(v) if isinstance(v, list) else v for k, v in (o.get("grid") or {}).items()}
        return OptimizerEntry(o["name"], dict(o.get("config") or {}), grid)
    raise ConfigError(f"plan: optimizer entry must be a name or a mapping, got {o!r}")


def _axis_entry(v: Any, key: str) -> dict[str, Any]:
    # A mapping pairs the value with fields that belong to it (e.g. a dataset's benchmark and data_dir).
    d = dict(v) if isinstance(v, dict) else {key: v}
    if key not in d:
        raise ConfigError(f"plan: entry {v!r} lacks {key!r}")
    bad = sorted(set(d) - (_RUN_FIELDS - (_RESERVED - {key})))
    if bad:
        raise ConfigError(f"plan: entry {v!r} has unknown fields {bad}")
    return d
