"""Import published RobustDARTS search logs into the harness run format.

RobustDARTS (automl/RobustDARTS, ``experiments/search_logs``) writes, per
setting directory ``{space}/{dataset}/{drop_path_prob}_{weight_decay}-{job}``
and seed ``s``:

- ``errors_{s}.json``: ``train_acc, valid_acc, train_loss, valid_loss``, one
  value per epoch; the ``*_acc`` keys hold ERROR in percent (the search code
  appends ``100 - acc``), so accuracy = ``100 - value``;
- ``arch_{s}``: the genotype found (one, or one per epoch back to back);
- ``derivatives_{s}.json`` (some settings): JSON lines ``{epoch, H, g}`` with the
  full Hessian of the validation loss w.r.t. the architecture weights.

Each seed becomes one run directory (named by its ``run_id``) holding
``config.json`` (optimizer ``darts-2nd`` and the setting), ``trajectory.csv``
(the runner's columns plus ``dominant_eigenvalue``, the largest ``eigvalsh`` of
the symmetrised logged Hessian, on logged epochs only) and ``final.json``
(canonical genotype, and the DARTS-ES stop epoch the logged eigenvalues imply).
An imported run is never overwritten.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.run.config import RunConfig
from search_spaces import get_space
from search_spaces.darts.genotype import parse_genotypes
from search_spaces.errors import ArchitectureError, UserError
from search_spaces.io import atomic_write_json, atomic_write_text

#: RobustDARTS search protocol (``search_logs/config.yaml``).
PROTOCOL = {"epochs": 50, "batch_size": 64, "channels": 16, "depth": 8}
_SETTING = re.compile(r"^(?P<dp>\d+(?:\.\d+)?)_(?P<wd>\d+(?:\.\d+)?(?:[eE]-?\d+)?)-(?P<job>\d+)$")
_ERRORS = re.compile(r"^errors_(\d+)\.json$")
BASE_COLUMNS = ["epoch", "wall_seconds", "arch", "train_loss", "train_acc", "valid_loss", "valid_acc",
                "gt_valid_acc", "gt_test_acc", "test_regret"]


@dataclass(frozen=True)
class Setting:
    """One RobustDARTS setting directory."""

    path: Path
    space: str
    dataset: str
    drop_path_prob: float
    weight_decay: float
    job: str


def find_settings(root: str | Path) -> list[Setting]:
    """Every setting directory at or below ``root`` (``UserError`` when there is none)."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"RobustDARTS log path {root} does not exist")
    cands = [root] if _SETTING.match(root.name) else sorted(p for p in root.rglob("*") if p.is_dir()
                                                            and _SETTING.match(p.name))
    out = []
    for d in cands:
        m = _SETTING.match(d.name)
        space, dataset = d.parent.parent.name, d.parent.name
        out.append(Setting(d, space, dataset, float(m["dp"]), float(m["wd"]), m["job"]))
    if not out:
        raise UserError(f"no RobustDARTS setting directories ({{dp}}_{{wd}}-{{job}}) under {root}")
    return out


def logged_hessians(path: Path) -> dict[int, np.ndarray]:
    """Epoch -> symmetrised Hessian ``[n, n]`` (float64) of each line of a ``derivatives`` file."""
    out: dict[int, np.ndarray] = {}
    for i, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            h = np.asarray(rec["H"], dtype=np.float64)
        except (json.JSONDecodeError, KeyError, ValueError):
            raise UserError(f"{path}: line {i + 1} is not a {{epoch, H, g}} record") from None
        if h.ndim != 2 or h.shape[0] != h.shape[1]:
            raise UserError(f"{path}: line {i + 1}: H must be square, got shape {h.shape}")
        out[int(rec["epoch"])] = (h + h.T) / 2
    return out


def dominant_eigenvalues(path: Path) -> dict[int, float]:
    """Epoch -> largest eigenvalue of the symmetrised Hessian of each line of a ``derivatives`` file."""
    return {e: float(np.linalg.eigvalsh(h)[-1]) for e, h in logged_hessians(path).items()}


def read_errors(path: Path) -> dict[str, list[float]]:
    """The four series of an ``errors_<seed>.json`` (the "acc" keys hold error in %), checked to match."""
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise UserError(f"{path} is not valid JSON") from None
    keys = ("train_acc", "valid_acc", "train_loss", "valid_loss")
    if not isinstance(d, dict) or any(k not in d for k in keys):
        raise UserError(f"{path}: expected keys {keys}")
    n = {len(d[k]) for k in keys}
    if len(n) != 1:
        raise UserError(f"{path}: the four series have different lengths {sorted(n)}")
    return {k: [float(v) for v in d[k]] for k in keys}


def _canonical_archs(setting: Setting, path: Path) -> list[str]:
    if not path.is_file():
        return []
    space = get_space(setting.space)
    try:
        return [space.to_str(space.from_genotype(g)) for g in parse_genotypes(path.read_text())]
    except ArchitectureError as e:
        raise UserError(f"{path}: {e}") from None


def import_seed(setting: Setting, seed: int, out_root: str | Path) -> Path:
    """Write one run directory for ``seed`` of ``setting``; returns it (an existing one is kept)."""
    from harness.optimizers import make_config

    errors = read_errors(setting.path / f"errors_{seed}.json")
    archs = _canonical_archs(setting, setting.path / f"arch_{seed}")
    der = setting.path / f"derivatives_{seed}.json"
    eig = dominant_eigenvalues(der) if der.is_file() else {}
    epochs = len(errors["train_acc"])
    run = RunConfig(space=setting.space, dataset=setting.dataset, benchmark="none", optimizer="darts-2nd",
                    optimizer_config={"w_weight_decay": setting.weight_decay}, seed=seed, epochs=epochs,
                    batch_size=PROTOCOL["batch_size"], channels=PROTOCOL["channels"], depth=PROTOCOL["depth"])
    setting_d = {"drop_path_prob": setting.drop_path_prob, "weight_decay": setting.weight_decay, "job": setting.job}
    # the RunConfig cannot express drop path, so the id hashes the whole setting
    body = {**{k: v for k, v in run.to_dict().items() if k not in ("seed", "device")}, **setting_d}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:8]
    run_id = f"darts-2nd-{setting.space}-{setting.dataset}-seed{seed}-{digest}"
    d = Path(out_root) / run_id
    if (d / "final.json").is_file():
        return d
    d.mkdir(parents=True, exist_ok=True)
    opt_cfg = make_config("darts-2nd", run.optimizer_values()).to_dict()
    atomic_write_json(d / "config.json", {
        "run_id": run_id, "run": json.loads(json.dumps(run.to_dict())),
        "resolved": {"optimizer": json.loads(json.dumps(opt_cfg)), "drop_path_prob": setting.drop_path_prob,
                     "supernet": {"channels": PROTOCOL["channels"], "depth": PROTOCOL["depth"]},
                     "ground_truth": None},
        "imported": {"source": "robustdarts", "path": str(setting.path.resolve()), "seed": seed, **setting_d,
                     "hessian_logged": bool(eig)}})
    per_epoch = len(archs) == epochs
    rows = []
    for e in range(epochs):
        rows.append({"epoch": e, "wall_seconds": math.nan,
                     "arch": archs[e] if per_epoch else (archs[-1] if archs and e == epochs - 1 else ""),
                     "train_loss": errors["train_loss"][e], "train_acc": 100.0 - errors["train_acc"][e],
                     "valid_loss": errors["valid_loss"][e], "valid_acc": 100.0 - errors["valid_acc"][e],
                     "gt_valid_acc": math.nan, "gt_test_acc": math.nan, "test_regret": math.nan,
                     "dominant_eigenvalue": eig.get(e, math.nan)})
    cols = BASE_COLUMNS + ["dominant_eigenvalue"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(d / "trajectory.csv", buf.getvalue())
    final: dict[str, Any] = {
        "run_id": run_id, "status": "finished", "reason": None, "epochs_completed": epochs, "search_seconds": None,
        "arch": archs[-1] if archs else None, "gt_valid_acc": None, "gt_test_acc": None, "test_regret": None,
        "diverged_epoch": None, "ground_truth": None, "supernet_valid_acc": rows[-1]["valid_acc"],
        "imported": "robustdarts"}
    if eig:
        final["darts_es_stop_epoch"] = _es_stop_epoch(eig, epochs)
    atomic_write_json(d / "final.json", final)
    return d


def _es_stop_epoch(eig: dict[int, float], epochs: int) -> int | None:
    """The epoch the DARTS-ES rule would stop at, replayed on the logged eigenvalues (None: no stop)."""
    from harness.optimizers.robust_darts import EarlyStopRule

    rule, ev_epochs, evs = EarlyStopRule(), [], []
    for e in sorted(eig):
        ev_epochs.append(e)
        evs.append(eig[e])
        if e < epochs - 1:
            stop = rule.check(ev_epochs, evs)
            if stop is not None:
                return stop
    return None


def import_robustdarts(path: str | Path, out_root: str | Path) -> list[Path]:
    """Import every seed of every setting under ``path``; returns the run directories."""
    out = []
    for s in find_settings(path):
        seeds = sorted(int(m[1]) for p in s.path.iterdir() if (m := _ERRORS.match(p.name)))
        for seed in seeds:
            out.append(import_seed(s, seed, out_root))
    if not out:
        raise UserError(f"no errors_{{seed}}.json files under {path}")
    return out
