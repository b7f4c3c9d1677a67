"""One validated reader per run-file kind: shapes, types and ranges checked, damage is one line.

A results folder may be shared, copied, hand-edited or hostile. Every reader
here returns values of the types the callers use or raises ``UserError``
naming the file and what is wrong with it; none unpickles or hangs (see
``search_spaces.safe_read``). Checkpoint states are checked after the
weights-only load, before any value is used.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from search_spaces.errors import UserError
from search_spaces.safe_read import DamagedFileError, field, read_json

_NUM = (int, float)


def read_run_config(d: Path) -> dict[str, Any]:
    """``d/config.json``: a mapping with a ``run`` mapping naming optimizer, space and an int seed."""
    p = d / "config.json"
    cfg = read_json(p, "run config")
    what = f"run config {p}"
    run = field(cfg, "run", dict, what)
    for k in ("optimizer", "space"):
        v = field(run, k, str, what + " run")
        if not v or len(v) > 200:
            raise DamagedFileError(f"{what}: run.{k} is empty or too long")
    field(run, "seed", int, what + " run")
    field(cfg, "run_id", str, what, default="")
    if "resolved" in cfg and not isinstance(cfg["resolved"], dict):
        raise DamagedFileError(f"{what}: 'resolved' must be a mapping")
    gt = (cfg.get("resolved") or {}).get("ground_truth")
    if gt is not None and not isinstance(gt, dict):
        raise DamagedFileError(f"{what}: resolved.ground_truth must be a mapping")
    return cfg


FINAL_FIELDS: dict[str, tuple[type, ...]] = {
    "status": (str,), "reason": (str,), "epochs_completed": (int,), "search_seconds": _NUM, "arch": (str,),
    "gt_valid_acc": _NUM, "gt_test_acc": _NUM, "test_regret": _NUM, "diverged_epoch": (int,),
    "retrained_test_acc": _NUM, "retrained_test_error": _NUM, "retrained": (dict,), "run_id": (str,),
}
STATUSES = ("finished", "diverged")


def read_final(d: Path, trajectory_rows: int | None = None, epochs: int | None = None,
               require_status: bool = True) -> dict[str, Any]:
    """``d/final.json`` with its fields' types checked; with ``trajectory_rows`` (and the run's ``epochs``)
    it must agree with the trajectory: a run is not called finished on fewer epochs than it has.
    ``require_status=False``: the record ``harness evaluate`` keeps for an architecture string (no search)."""
    p = d / "final.json"
    final = read_json(p, "final result")
    what = f"final result {p}"
    for k, types in FINAL_FIELDS.items():
        field(final, k, types, what, default=None)
    status = field(final, "status", str, what, **({} if require_status else {"default": None}))
    if status is not None and status not in STATUSES:
        raise DamagedFileError(f"{what}: status {str(status)[:40]!r} is not one of {', '.join(STATUSES)}")
    if final.get("arch") is not None and len(final["arch"]) > 10_000:
        raise DamagedFileError(f"{what}: 'arch' is longer than any architecture string")
    done = final.get("epochs_completed")
    if trajectory_rows is not None and done is not None and trajectory_rows and done != trajectory_rows:
        raise DamagedFileError(f"{what} says {done} epochs completed but trajectory.csv holds {trajectory_rows}")
    if status == "finished" and epochs is not None and done is not None and done < epochs:
        raise DamagedFileError(f"{what} says finished after {done} of the run's {epochs} epochs")
    for seed, r in (final.get("retrained") or {}).items():
        if not isinstance(r, dict) or isinstance(r.get("test_acc"), bool) or not isinstance(r.get("test_acc"), _NUM):
            raise DamagedFileError(f"{what}: retrained[{str(seed)[:30]!r}] has no numeric test_acc")
    for k in ("gt_test_acc", "gt_valid_acc", "test_regret", "retrained_test_acc"):
        v = final.get(k)
        if v is not None and not math.isfinite(v):
            raise DamagedFileError(f"{what}: {k!r} is not finite")
    return final


def read_failed(p: Path) -> dict[str, str]:
    """A sweep's ``failed.json``: run id and error as strings (bounded)."""
    f = read_json(p, "failure record")
    what = f"failure record {p}"
    run_id = field(f, "run_id", str, what, default=p.parent.name)
    err = f.get("error", "?")
    return {"run_id": run_id[:300], "error": (err if isinstance(err, str) else repr(err))[:2000]}


def read_result(p: Path) -> dict[str, Any]:
    """``retrain-seedN/result.json`` of ``harness evaluate``."""
    r = read_json(p, "evaluation result")
    what = f"evaluation result {p}"
    for k in ("test_acc", "test_error", "test_loss", "train_seconds"):
        v = field(r, k, _NUM, what)
        if not math.isfinite(v):
            raise DamagedFileError(f"{what}: {k!r} is not finite")
    field(r, "epochs", int, what)
    field(r, "params", int, what)
    field(r, "protocol", dict, what)
    return r


def check_search_state(state: Any, epochs_total: int) -> tuple[list[dict], int, float, list]:
    """A search checkpoint's ``(rows, epoch, elapsed, arch_rows)``; ``ValueError`` when the state is not one a
    run of ``epochs_total`` epochs writes (a forged ``epoch`` would otherwise end a run 'finished' early)."""
    if not isinstance(state, dict):
        raise ValueError("the checkpoint is not a mapping")
    epoch, rows, elapsed = state["epoch"], state["rows"], state["elapsed"]
    if type(epoch) is not int or not 0 <= epoch < epochs_total:
        raise ValueError(f"epoch {str(epoch)[:20]} is outside this run's 0..{epochs_total - 1}")
    if not isinstance(rows, list) or len(rows) != epoch + 1 or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"rows are not the {epoch + 1} trajectory rows of epoch {epoch}")
    if [r.get("epoch") for r in rows] != list(range(epoch + 1)):
        raise ValueError("rows do not number epochs 0..epoch")
    if isinstance(elapsed, bool) or not isinstance(elapsed, _NUM) or not math.isfinite(elapsed) or elapsed < 0:
        raise ValueError("elapsed is not a non-negative number of seconds")
    arch_rows = state.get("arch_weights", [])
    if not isinstance(arch_rows, list):
        raise ValueError("arch_weights is not a list")
    return rows, epoch, float(elapsed), list(arch_rows)


def check_eval_state(st: Any, epochs: int) -> tuple[int, list, float]:
    """An evaluation checkpoint's ``(epoch, history, elapsed)``; ``ValueError`` when out of range."""
    if not isinstance(st, dict):
        raise ValueError("the checkpoint is not a mapping")
    epoch, history, elapsed = st["epoch"], st["history"], st["elapsed"]
    if type(epoch) is not int or not 0 <= epoch < epochs:
        raise ValueError(f"epoch {str(epoch)[:20]} is outside 0..{epochs - 1}")
    if not isinstance(history, list) or len(history) != epoch + 1:
        raise ValueError(f"history does not hold the {epoch + 1} epochs trained")
    if isinstance(elapsed, bool) or not isinstance(elapsed, _NUM) or not math.isfinite(elapsed) or elapsed < 0:
        raise ValueError("elapsed is not a non-negative number of seconds")
    return epoch, history, float(elapsed)


__all__ = [
    "UserError",
    "check_eval_state",
    "check_search_state",
    "read_failed",
    "read_final",
    "read_result",
    "read_run_config",
]
