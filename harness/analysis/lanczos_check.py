"""Lanczos stopping rules on the Hessians RobustDARTS logged during its searches.

``python -m harness.analysis.lanczos_check ../shared/data/robustdarts`` reads every
``derivatives_{seed}.json`` below the path (one Hessian per logged epoch),
runs ``harness.metrics.eigensolvers.lanczos`` at ``EigenConfig().tol`` on each, cold
(random start) and warm (started from the previous epoch's result, as
``CurvatureTracker`` does), for several guard counts, and prints per rule how
many evaluations missed the true top eigenvalue by more than the tolerance,
the worst relative error and the mean number of products. The guard's figures in
docs/analyses.md come from this command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from harness.metrics.curvature import EigenConfig
from harness.metrics.eigensolvers import lanczos
from harness.run.import_robustdarts import logged_hessians
from search_spaces.errors import UserError


def load_runs(root: str | Path) -> list[list[torch.Tensor]]:
    """Per ``derivatives`` file under ``root``, its symmetrised Hessians in epoch order."""
    runs = []
    for f in sorted(Path(root).glob("**/derivatives_*.json")):
        hs = logged_hessians(f)
        runs.append([torch.from_numpy(hs[e]) for e in sorted(hs)])
    if not runs:
        raise UserError(f"no RobustDARTS derivatives_*.json files under {root}")
    return runs


def check(runs: list[list[torch.Tensor]], guard: int, warm: bool, seeds: int = 1,
          tol: float | None = None) -> dict[str, float]:
    """Misses (relative error above ``tol``), worst error and mean products over ``seeds`` random starts."""
    tol = EigenConfig().tol if tol is None else tol
    errors, products = [], []
    for seed in range(seeds):
        for run in runs:
            v = None
            for i, h in enumerate(run):
                top = float(torch.linalg.eigvalsh(h)[-1])
                res = lanczos(lambda x: h @ x, h.shape[0], tol=tol, v0=v if warm else None,
                              generator=torch.Generator().manual_seed(1000 * seed + i), guard=guard)
                errors.append(abs(res.dominant - top) / abs(top))
                products.append(res.hvps)
                v = res.vectors[:, 0]
    err = np.asarray(errors)
    return {"evaluations": len(err), "misses": int((err > tol).sum()), "worst_error": float(err.max()),
            "mean_products": float(np.mean(products))}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", help="directory holding RobustDARTS derivatives_*.json files (searched recursively)")
    p.add_argument("--seeds", type=int, default=3, help="random start vectors per Hessian")
    a = p.parse_args(argv)
    runs = load_runs(a.path)
    print(f"{sum(map(len, runs))} Hessians ({runs[0][0].shape[0]} x {runs[0][0].shape[0]}) in {len(runs)} runs")
    for guard in sorted({0, 1, EigenConfig().guard, EigenConfig().warm_guard, 3}):
        for warm in (False, True):
            r = check(runs, guard, warm, a.seeds)
            print(f"guard={guard} {'warm' if warm else 'cold'}: {r['misses']} of {r['evaluations']} beyond "
                  f"tolerance, worst error {100 * r['worst_error']:.2f}%, {r['mean_products']:.1f} products on average")


if __name__ == "__main__":
    main()
