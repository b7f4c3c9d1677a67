"""``harness tabulate``: train every architecture of a space from scratch into a canonical table.

Protocol (``TabulateConfig``): each (architecture, seed) trains the space's
discrete network on the dataset's ``train`` split with SGD + Nesterov-free
momentum and a cosine schedule, and is evaluated on ``valid`` and ``test`` at
``eval_epochs`` and at the end. Results of finished pairs are stored one file
each under ``<out>/partial/`` (atomic), so a killed tabulation resumes without
retraining them; the table is assembled once all pairs are done.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.table import MetricKey, Table
from harness.run.orphans import exit_if_orphaned, parent_watch
from search_spaces import Architecture, get_space
from search_spaces.errors import ConfigError
from search_spaces.io import atomic_write_json


@dataclass(frozen=True)
class TabulateConfig:
    """Stand-alone training protocol of a tabulation."""

    space: str = "s5"
    dataset: str = "digits"
    data_dir: str | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 10
    eval_epochs: tuple[int, ...] = (3, 6)
    batch_size: int = 128
    lr: float = 0.1
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True
    channels: int | None = None
    depth: int | None = None
    subset: int | None = None
    sample: int | None = None
    sample_seed: int = 0
    limit: tuple[int, int] | None = None
    max_archs: int = 100_000
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.seeds:
            raise ConfigError("tabulate: epochs, batch_size must be >= 1 and at least one seed given")
        if any(e < 1 or e > self.epochs for e in self.eval_epochs):
            raise ConfigError(f"tabulate: eval_epochs {self.eval_epochs} must lie in 1..{self.epochs}")
        for f in ("lr", "lr_min", "momentum", "weight_decay"):
            v = getattr(self, f)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"tabulate: {f} must be a finite number >= 0, got {v!r}")
        if self.lr <= 0:
            raise ConfigError(f"tabulate: lr must be > 0, got {self.lr}")
        for f in ("channels", "depth", "subset", "sample"):
            if getattr(self, f) is not None and getattr(self, f) < 1:
                raise ConfigError(f"tabulate: {f} must be >= 1, got {getattr(self, f)}")
        if self.limit is not None and not 0 <= self.limit[0] < self.limit[1]:
            raise ConfigError(f"tabulate: limit START:STOP needs 0 <= START < STOP, got {self.limit[0]}:{self.limit[1]}")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "eval_epochs", tuple(sorted(set(int(e) for e in self.eval_epochs))))


def architectures(cfg: TabulateConfig) -> tuple[list[Architecture], bool]:
    """The architectures to train and whether they are a sample of the space."""
    space = get_space(cfg.space)
    if cfg.sample is not None:
        rng = np.random.default_rng(cfg.sample_seed)
        if space.size is not None and cfg.sample >= space.size:
            archs, sampled = list(space.enumerate()), False
        else:
            seen: dict[Architecture, None] = {}
            while len(seen) < cfg.sample:
                seen[space.sample(rng)] = None
            archs, sampled = list(seen), True
    else:
        if space.size is None or space.size > cfg.max_archs:
            size = "an unknown number of" if space.size is None else f"{space.size:,}"
            raise ConfigError(f"space {cfg.space!r} has {size} architectures, too many to enumerate "
                              f"(limit {cfg.max_archs:,}); pass --sample N to tabulate a sample")
        archs, sampled = list(space.enumerate()), False
    if cfg.limit is not None:
        archs = archs[cfg.limit[0]:cfg.limit[1]]
    return archs, sampled


def count_flops(net: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of conv and linear layers for one input ``x`` ``[1, C, H, W]``."""
    total = 0

    def hook(m, _inp, out):
        nonlocal total
        if isinstance(m, torch.nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            total += m.in_features * m.out_features

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        net.eval()(x)
    for h in hs:
        h.remove()
    return total


def train_one(cfg: TabulateConfig, arch_str: str, seed: int, parent_pid: int | None = None) -> dict[str, Any]:
    """Train one architecture with one seed; returns its metrics (runs in a worker process)."""
    from harness.data import AUGMENT, augment, load_dataset, normalize

    torch.set_num_threads(1)
    space = get_space(cfg.space)
    arch = space.from_str(arch_str)
    from harness.run.build import resolve_device

    dev = resolve_device(cfg.device)
    splits = load_dataset(cfg.dataset, cfg.data_dir, dev, subset=cfg.subset)
    net_cfg = space.default_config().with_overrides(channels=cfg.channels, depth=cfg.depth,
                                                    num_classes=splits.num_classes, in_channels=splits.in_channels,
                                                    input_size=splits.input_size)
    torch.manual_seed(seed)
    net = space.build_network(arch, net_cfg).to(dev)
    gen = torch.Generator(device=dev).manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    x, y = splits.train
    steps = max(len(y) // cfg.batch_size, 1)
    spec = AUGMENT.get(cfg.dataset) if cfg.augment else None
    out: dict[str, Any] = {"arch": arch_str, "seed": seed,
                           "params": sum(p.numel() for p in net.parameters()),
                           "flops": count_flops(net, normalize(x[:1], splits.mean, splits.std))}
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        exit_if_orphaned(parent_watch(parent_pid) if parent_pid is not None else None)
        for g in opt.param_groups:
            g["lr"] = cfg.lr_min + (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * epoch / cfg.epochs)) / 2
        net.train()
        perm = torch.randperm(len(y), generator=gen, device=dev)
        for s in range(steps):
            idx = perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            xb = normalize(x[idx], splits.mean, splits.std)
            if spec is not None:
                xb = augment(xb, spec, gen)
            loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if epoch + 1 in cfg.eval_epochs or epoch + 1 == cfg.epochs:
            for split in ("train", "valid", "test"):
                acc, l = evaluate_network(net, *getattr(splits, split), splits.mean, splits.std)
                out[f"{split}/accuracy@{epoch + 1}"] = acc
                out[f"{split}/loss@{epoch + 1}"] = l
            out[f"train/time@{epoch + 1}"] = time.perf_counter() - t0
    return out


def evaluate_network(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mean, std,
                     batch: int = 512) -> tuple[float, float]:
    """Accuracy (%) and mean cross-entropy of ``net`` on uint8 images ``x [N, C, H, W]``, labels ``y [N]``.

    Sums accumulate on the device (loss in float64) and are read once at the end.
    """
    from harness.data import normalize

    net.eval()
    correct = torch.zeros((), dtype=torch.int64, device=y.device)
    loss = torch.zeros((), dtype=torch.float64, device=y.device)
    with torch.no_grad():
        for i in range(0, len(y), batch):
            logits = net(normalize(x[i:i + batch], mean, std))
            correct += (logits.argmax(-1) == y[i:i + batch]).sum()
            loss += F.cross_entropy(logits, y[i:i + batch], reduction="sum").double()
    n = max(len(y), 1)
    return 100.0 * int(correct) / n, float(loss) / n


def tabulate(cfg: TabulateConfig, out: str | Path, jobs: int = 1, progress: bool = True) -> Table:
    """Train every (architecture, seed) not yet done, in parallel, then write the table to ``out``."""
    from joblib import Parallel, delayed

    from harness.data import DATASETS
    from search_spaces.errors import UnknownNameError

    if jobs < 1:
        raise ConfigError(f"tabulate: jobs must be >= 1, got {jobs}")
    # everything checked before the first write: a rejected command leaves nothing behind
    space = get_space(cfg.space)
    if cfg.dataset not in DATASETS:
        raise UnknownNameError("dataset", cfg.dataset, DATASETS)
    archs, sampled = architectures(cfg)
    out = Path(out)
    part = out / "partial"
    cfg_p = out / "tabulate_config.json"
    saved = json.loads(cfg_p.read_text()) if cfg_p.exists() else None
    if saved is not None and saved != json.loads(json.dumps(asdict(cfg))):
        raise ConfigError(f"{out} holds a tabulation with another protocol; choose another output folder")
    part.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cfg_p, asdict(cfg))
    names = [space.to_str(a) for a in archs]
    todo = [(i, s) for i, _ in enumerate(names) for s in cfg.seeds if not (part / f"{i}-{s}.json").exists()]
    total, done0, t0 = len(names) * len(cfg.seeds), len(names) * len(cfg.seeds) - len(todo), time.time()
    show = progress and sys.stderr.isatty()
    results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(_task)(cfg, names[i], s, i, str(part), os.getpid() if jobs > 1 else None) for i, s in todo)
    for k, _ in enumerate(results, start=1):
        if show:
            rate = (time.time() - t0) / k
            sys.stderr.write(f"\rtabulate: {done0 + k}/{total} trained, ETA {rate * (len(todo) - k) / 60:5.1f} min ")
            sys.stderr.flush()
    if show:
        sys.stderr.write("\n")
    table = assemble(cfg, names, part, sampled)
    table.save(out)
    return table


def _task(cfg: TabulateConfig, arch: str, seed: int, i: int, part: str, ppid: int | None = None) -> int:
    # a worker whose tabulate was killed stops (between epochs) instead of training the rest
    res = train_one(cfg, arch, seed, ppid)
    atomic_write_json(Path(part) / f"{i}-{seed}.json", res)
    return i


def assemble(cfg: TabulateConfig, names: list[str], part: Path, sampled: bool) -> Table:
    """Build the canonical table from the per-pair result files."""
    seeds = [str(s) for s in cfg.seeds]
    per_seed: dict[MetricKey, np.ndarray] = {}
    times = []
    for i in range(len(names)):
        for j, s in enumerate(cfg.seeds):
            r = json.loads((part / f"{i}-{s}.json").read_text())
            for key, v in r.items():
                if "/" not in key and key not in ("params", "flops"):
                    continue
                if key in ("params", "flops"):
                    mk = MetricKey(cfg.dataset, "train", key, cfg.epochs)
                else:
                    head, ep = key.split("@")
                    split, metric = head.split("/")
                    mk = MetricKey(cfg.dataset, split, metric, int(ep))
                arr = per_seed.setdefault(mk, np.full((len(names), len(seeds)), np.nan))
                arr[i, j] = v
            times.append(r.get(f"train/time@{cfg.epochs}", math.nan))
    return Table(space=cfg.space, archs=names, seeds=seeds, per_seed=per_seed, metadata={
        "source": "harness tabulate", "converter": "tabulate", "protocol": asdict(cfg), "sample": sampled,
        "n_archs": len(names), "total_train_seconds": float(np.nansum(times)),
        "hardware": {"machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count(),
                     "device": cfg.device},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
    })
