"""R-DARTS(L2) and R-DARTS(DP) (Zela et al., ICLR 2020, Section 5.2): a grid of runs plus a selection rule.

R-DARTS runs DARTS once per regularisation strength of a grid and keeps the
strength whose search ended with the best validation performance; no
architecture is retrained to choose. Grid points are ``darts-dp`` runs (DARTS,
second order) with optimizer overrides ``{"w_weight_decay": v}`` (L2; drop-path
0) or ``{"drop_path_prob": p}`` (DP, scheduled linearly over the search; L2 at
its default 3e-4). Launching the grid is the sweep machinery's job; this module
defines the grids and picks the winner from finished run directories.

Selection: per grid value, the mean over its seeds of ``metric`` (default
``valid_acc`` of the last trajectory row, the search model's validation
accuracy: the quantity RobustDARTS logs in ``results_perf.yaml``); the value with
the highest mean wins, ties to the smaller (weaker) regularisation.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search_spaces.errors import ConfigError, UserError

#: L2 factors of the inner problem (3e-4 * 3^i, i = 0..4).
L2_GRID: tuple[float, ...] = (3e-4, 9e-4, 27e-4, 81e-4, 243e-4)
#: Maximum drop-path probabilities.
DP_GRID: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6)
OPTIMIZER = "darts-dp"
_KEY = {"l2": "w_weight_decay", "dp": "drop_path_prob"}


def grid(kind: str) -> list[dict[str, float]]:
    """Optimizer overrides of every grid point of ``kind`` (``"l2"`` or ``"dp"``), for ``darts-dp``."""
    if kind not in _KEY:
        raise ConfigError(f"R-DARTS kind must be 'l2' or 'dp', got {kind!r}")
    values = L2_GRID if kind == "l2" else DP_GRID
    return [{_KEY[kind]: v} for v in values]


@dataclass(frozen=True)
class RdartsSelection:
    """Outcome of the selection rule.

    Attributes:
        value: The chosen regularisation strength.
        score: Its mean ``metric`` over seeds.
        scores: Every grid value's mean ``metric``.
        runs: The chosen value's runs (directory or name) with their architectures.
    """

    kind: str
    metric: str
    value: float
    score: float
    scores: dict[float, float]
    runs: list[dict[str, Any]] = field(default_factory=list)


def run_summary(run_dir: str | Path) -> dict[str, Any]:
    """``{name, optimizer_config, final, last_row}`` of a finished run directory."""
    d = Path(run_dir)
    if not (d / "final.json").is_file():
        raise UserError(f"{d} is not a finished run (no final.json)")
    cfg = json.loads((d / "config.json").read_text())
    resolved = dict(cfg.get("resolved", {}).get("optimizer") or {})
    resolved.update(cfg.get("run", {}).get("optimizer_config") or {})
    if "drop_path_prob" in cfg.get("resolved", {}):  # imported RobustDARTS runs keep it there
        resolved.setdefault("drop_path_prob", cfg["resolved"]["drop_path_prob"])
    with open(d / "trajectory.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    last = {k: _num(v) for k, v in rows[-1].items()} if rows else {}
    return {"name": str(d), "optimizer_config": resolved, "final": json.loads((d / "final.json").read_text()),
            "last_row": last}


def select(runs: Iterable[str | Path | Mapping[str, Any]], kind: str, metric: str = "valid_acc",
           higher_is_better: bool = True) -> RdartsSelection:
    """Apply the R-DARTS selection rule to finished runs of one grid.

    Args:
        runs: Run directories, or summaries as returned by ``run_summary``.
        kind: ``"l2"`` (key ``w_weight_decay``) or ``"dp"`` (key ``drop_path_prob``).
        metric: Looked up in ``final.json`` first, then in the last trajectory row.
    """
    if kind not in _KEY:
        raise ConfigError(f"R-DARTS kind must be 'l2' or 'dp', got {kind!r}")
    key = _KEY[kind]
    default = 3e-4 if kind == "l2" else 0.0
    groups: dict[float, list[tuple[float, dict[str, Any]]]] = {}
    for r in runs:
        s = run_summary(r) if isinstance(r, (str, Path)) else dict(r)
        value = float(s["optimizer_config"].get(key, default))
        score = s["final"].get(metric)
        if score is None:
            score = s["last_row"].get(metric)
        if score is None or not math.isfinite(float(score)):
            continue  # a diverged run or one without the metric does not vote
        groups.setdefault(round(value, 12), []).append((float(score), s))
    if not groups:
        raise UserError(f"no finished run reports {metric!r}")
    scores = {v: sum(x for x, _ in g) / len(g) for v, g in groups.items()}
    sign = 1.0 if higher_is_better else -1.0
    best = min(scores, key=lambda v: (-sign * scores[v], v))
    chosen = [{"name": s["name"], "arch": s["final"].get("arch"), metric: x} for x, s in groups[best]]
    return RdartsSelection(kind, metric, best, scores[best], dict(sorted(scores.items())), chosen)


def _num(v: str) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v
