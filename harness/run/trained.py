"""A trained supernet with what evaluating it needs: built from a live optimizer, trained in memory, or read back from ``supernet.pt``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.optimizers.parts.weight_map import WeightMap
from harness.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from harness.run.config import RunConfig
from search_spaces import Architecture, SearchSpace, SupernetConfig, get_space
from search_spaces.errors import UserError

SUPERNET_FILE = "supernet.pt"


@dataclass
class Trained:
    """A trained supernet with what is needed to evaluate it."""

    space: SearchSpace
    supernet: nn.Module
    run: RunConfig
    weight_map: WeightMap = field(default_factory=WeightMap)
    pool: list[Architecture] | None = None  # the architectures trained on (NSA)
    source: Path | None = None


def trained_from_optimizer(opt: Any, run: RunConfig, source: Path | None = None) -> Trained:
    """Wrap a live optimizer's supernet and its evaluation extras (``eval_weight_map``, ``pool``)."""
    wm = getattr(opt, "eval_weight_map", None)
    return Trained(opt.space, opt.supernet, run, wm() if wm else WeightMap(), getattr(opt, "pool", None), source)


def train_supernet(run: RunConfig, progress: Callable[[str], None] | None = None) -> tuple[Trained, Any, Any]:
    """Train ``run``'s supernet in memory (no run directory) -> ``(Trained, DatasetSplits, optimizer)``.

    Same construction and seeds as ``SearchRun``, without its per-epoch selection
    and files; studies use it to get the final shared weights directly.
    """
    from harness.data import load_dataset
    from harness.data.search_split import search_data, search_setup
    from harness.optimizers import create_optimizer
    from harness.run.build import resolve_device, supernet_config
    from search_spaces.errors import ConfigError

    device = resolve_device(run.device)
    space = get_space(run.space)
    splits = search_data(load_dataset(run.dataset, run.data_dir, device, subset=run.subset), run.search_split)
    net_cfg = supernet_config(run, space, splits)
    torch.manual_seed(run.seed)
    supernet = space.build_supernet(net_cfg).to(device)
    train_s, valid_s, steps = search_setup(splits, run.search_split, run.batch_size, run.seed, device)
    if steps < 1:
        raise ConfigError(f"batch size {run.batch_size} exceeds the search split")
    opt = create_optimizer(run.optimizer, space, supernet, run.optimizer_values(), epochs=run.epochs,
                           steps_per_epoch=steps, seed=run.seed)
    for epoch in range(run.epochs):
        opt.on_epoch_start(epoch)
        for _ in range(steps):
            opt.step(train_s.next(), valid_s.next())
        opt.on_epoch_end(epoch)
        if progress:
            progress(f"[{run.optimizer} seed {run.seed}] trained epoch {epoch + 1}/{run.epochs}")
    return trained_from_optimizer(opt, run), splits, opt


def save_supernet(run_dir: str | Path, supernet: nn.Module, optimizer: Any = None) -> Path:
    """Write ``run_dir/supernet.pt``: the final shared weights (and evaluation extras of ``optimizer``).

    The runner calls this once after the last epoch, before ``final.json``.
    """
    state = {k: v.detach().cpu() for k, v in supernet.state_dict().items()}
    payload: dict[str, Any] = {"format": 1, "state_dict": state}
    if optimizer is not None:
        wm = getattr(optimizer, "eval_weight_map", None)
        payload["weight_map"] = wm().state() if wm else None
        pool = getattr(optimizer, "pool", None)
        payload["pool"] = None if pool is None else [optimizer.space.to_str(a) for a in pool]
    path = Path(run_dir) / SUPERNET_FILE
    save_checkpoint(path, payload)
    return path


def load_trained(path: str | Path, device: torch.device | str = "cpu") -> Trained:
    """The supernet of a run directory (``supernet.pt``, else ``checkpoint.pt``) or of one of those files."""
    p = Path(path).expanduser()
    if p.is_dir():
        cand = [p / SUPERNET_FILE, p / "checkpoint.pt"]
        p = next((c for c in cand if c.is_file()), None)
        if p is None:
            raise UserError(f"{path} holds neither {SUPERNET_FILE} nor checkpoint.pt (finished runs keep their "
                            "weights only when the runner saves them with harness.analysis.correlate.save_supernet)")
    if not p.is_file():
        raise UserError(f"{path} does not exist")
    cfg_p = p.parent / "config.json"
    if not cfg_p.exists():
        raise UserError(f"{cfg_p} not found: a supernet file must sit in its run directory")
    from harness.run.files import read_run_config

    cfg = read_run_config(p.parent)
    try:
        state = load_checkpoint(p)
    except CheckpointError as e:
        raise UserError(str(e)) from None
    try:
        return _rebuild(cfg, state, p, device)
    except UserError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
        # a valid checksum around another run's (or a forged) payload, or a config.json that does not build
        raise UserError(f"{p} does not hold the supernet its config.json describes ({type(e).__name__}: "
                        f"{str(e)[:100]})") from None


def _rebuild(cfg: dict, state: dict, p: Path, device) -> Trained:
    run = RunConfig.from_dict(cfg["run"])
    space = get_space(run.space)
    supernet = space.build_supernet(SupernetConfig(**cfg["resolved"]["supernet"])).to(device)
    if not isinstance(state, dict):
        raise TypeError("the file does not hold a mapping")
    if "state_dict" in state:  # supernet.pt
        supernet.load_state_dict(state["state_dict"])
        pool = state.get("pool")
        return Trained(space, supernet, run, WeightMap.from_state(state.get("weight_map")),
                       None if pool is None else [space.from_str(a) for a in pool], p)
    # checkpoint.pt: rebuild the optimizer so its evaluation extras come back too
    from harness.optimizers import create_optimizer

    opt = create_optimizer(run.optimizer, space, supernet, run.optimizer_values(), epochs=run.epochs,
                           steps_per_epoch=cfg["resolved"]["steps_per_epoch"], seed=run.seed)
    opt.load_state_dict(state["optimizer"])
    return trained_from_optimizer(opt, run, p)
