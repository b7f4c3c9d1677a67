"""The moving parts of one search run that the single runner and the batched one share.

The live state ``SearchRun.prepare`` builds, the step precision and compile settings,
and the per-epoch divergence check and progress line.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from harness.run.config import RunConfig


@dataclass
class LiveRun:
    """A run in progress: what ``SearchRun.prepare`` built and restored."""

    net_config: Any
    supernet: torch.nn.Module
    opt: Any
    train_s: Any
    valid_s: Any
    steps: int
    fixed: list[tuple[torch.Tensor, torch.Tensor]]
    select_s: Any = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    arch_rows: list[dict[str, Any]] = field(default_factory=list)
    start: int = 0
    elapsed: float = 0.0


def step_precision(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast context of one search step: bfloat16 for ``bf16``, a no-op for ``fp32``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def compile_supernet(supernet: torch.nn.Module, mode: str, backend: str = "inductor") -> None:
    """``torch.compile`` the supernet's forward in place (``mode="off"``: nothing).

    In place (``Module.compile``), so parameter names and checkpoints are those
    of the eager module. The optimizers' autograd calls go through the compiled
    graph; double backward (curvature) does not, see ``harness.metrics.curvature``.
    """
    if mode != "off":
        supernet.compile(mode=None if mode == "default" else mode, backend=backend)


def divergence(row: dict[str, Any], opt) -> str | None:
    """Why the run must stop (non-finite loss, exploded architecture parameters), or None."""
    if not math.isfinite(row["train_loss"]):
        return f"non-finite training loss at epoch {row['epoch']}"
    for k, v in opt.arch_parameters().items():
        if not bool(torch.isfinite(v).all()):
            return f"non-finite architecture parameters ({k}) at epoch {row['epoch']}"
        if float(v.detach().abs().max()) > 1e6:
            return f"architecture parameters ({k}) exploded (|alpha| > 1e6) at epoch {row['epoch']}"
    return None


def progress_line(c: RunConfig, epoch: int, row: dict[str, Any]) -> str:
    """One progress line per epoch."""
    reg = row.get("test_regret")
    reg_s = f"regret {reg:6.2f}" if isinstance(reg, float) and math.isfinite(reg) else "regret   n/a"
    done, wall = epoch + 1, float(row.get("wall_seconds") or 0.0)
    eta = wall / done * max(c.epochs - done, 0)
    return (f"[{c.optimizer} seed {c.seed}] epoch {done:3d}/{c.epochs}  "
            f"train {row['train_acc']:5.1f}%  valid {row['valid_acc']:5.1f}%  {reg_s}  "
            f"elapsed {_hms(wall)}  ETA {_hms(eta)}  {row['arch']}")


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def fixed_batches(splits, batch_size: int, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``n`` batches of the search-valid split, normalised, without augmentation."""
    from harness.data import normalize

    x, y = splits.search_valid
    out = []
    for i in range(n):
        sl = slice(i * batch_size, (i + 1) * batch_size)
        if sl.start >= len(y):
            break
        out.append((normalize(x[sl], splits.mean, splits.std), y[sl]))
    return out
