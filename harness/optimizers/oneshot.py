"""One-shot training with path dropout (Bender et al., ICML 2018), no architecture parameters.

Training: the all-paths-on supernet (every non-``none`` op of every row with
weight 1) with *path dropout*: each incoming path of a node is dropped with
probability ``r ** (1 / k)`` (``k`` = the node's incoming paths; plain ``r``
with ``fanin_scaling=False``), so that a whole node is emptied with
probability ``r`` whatever its fan-in; when all of a node's paths are dropped
one of them, chosen uniformly, is kept. ``r`` rises linearly from 0 at the
first step to ``r_max`` at the last. Dropped paths are zero entries in the
mixing weights, so no supernet change is needed; kept outputs are not
rescaled, so training sees the same magnitudes as the single-path
architectures evaluated afterwards.

Ghost batch normalisation: each mini-batch is split into ghost batches of
about ``ghost_batch_size`` examples; each ghost batch runs the supernet
separately, so it gets its own BN statistics, and it has its own dropped paths
(``mask_per="example"`` gives every example its own paths instead, via
per-example weights ``[B, rows, options]``).

L2 regularisation only on parameters used in the step: those outside any path
(stem, preprocessing, head) and those of paths kept in at least one ghost
batch. The optimizer's SGD therefore runs without weight decay; the penalty
``w_weight_decay / 2 * sum ||theta||^2`` is added to the loss.

Selection (each epoch and at the end): by one-shot validation accuracy on the
fixed validation batches, over ``n_candidates`` uniformly sampled architectures
(``selection="random"``) or ``n_candidates`` evaluations of regularized
evolution (``selection="evolution"``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch, OptimizerConfig, SearchOptimizer
from harness.optimizers.parts.weights import WeightTrainer
from search_spaces import Architecture, SearchSpace
from search_spaces.errors import ArchitectureError, ConfigError

#: Child modules of an NB-201-style mixed edge and the op each one implements.
_NAMED_OPS = {"conv1": "nor_conv_1x1", "conv3": "nor_conv_3x3"}
PathKey = tuple[str, int, int]  # (group, row, option)


@dataclass(frozen=True)
class OneShotConfig(OptimizerConfig):
    """Bender et al. one-shot training and candidate selection.

    Attributes:
        r_max: Path-dropout rate reached at the last step (0 = no dropout).
        fanin_scaling: Drop each path with ``r ** (1/k)`` (k incoming paths) instead of ``r``.
        ghost_batch_size: Examples per ghost batch (>= batch size: one ghost batch).
        mask_per: ``"ghost"`` (one set of dropped paths per ghost batch) or ``"example"``.
        n_candidates: Architectures scored at each selection.
        selection: ``"random"`` search or regularized ``"evolution"``.
        population, tournament: Regularized-evolution population and sample size.
    """

    r_max: float = 0.1
    fanin_scaling: bool = True
    ghost_batch_size: int = 32
    mask_per: str = "ghost"
    n_candidates: int = 100
    selection: str = "random"
    population: int = 20
    tournament: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.r_max <= 1.0:
            raise ConfigError(f"OneShotConfig.r_max must lie in [0, 1], got {self.r_max}")
        for name in ("ghost_batch_size", "n_candidates", "population", "tournament"):
            if getattr(self, name) < 1:
                raise ConfigError(f"OneShotConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.mask_per not in ("ghost", "example"):
            raise ConfigError(f"OneShotConfig.mask_per must be 'ghost' or 'example', got {self.mask_per!r}")
        if self.selection not in ("random", "evolution"):
            raise ConfigError(f"OneShotConfig.selection must be 'random' or 'evolution', got {self.selection!r}")


def dropout_rate(step: int, total_steps: int, r_max: float) -> float:
    """Linear ramp: 0 at step 0, ``r_max`` at step ``total_steps - 1``."""
    return r_max * min(step, total_steps - 1) / max(total_steps - 1, 1)


def node_rows(space: SearchSpace) -> dict[str, list[list[int]]]:
    """Per group, the rows (edges) entering each node; every row its own node when the topology is unknown.

    Reads a DARTS-style ``CellSpec`` (``space.spec`` or one in the space's module,
    edges ``(node, input)``) or a module-level ``EDGES`` of ``(target, source)``
    pairs (NB-201, S5).
    """
    mod = vars(sys.modules[type(space).__module__])
    specs = [getattr(space, "spec", None)] + [v for v in mod.values() if hasattr(v, "edges") and hasattr(v, "options")]
    out = {}
    for g in space.param_groups:
        rows = g.shape[0]
        spec = next((sp for sp in specs if sp is not None and g.name in getattr(sp, "options", {})
                     and len(sp.edges) == rows), None)
        edges = mod.get("EDGES")
        if spec is not None:
            targets = [node for node, _ in spec.edges]
        elif isinstance(edges, tuple) and len(edges) == rows:
            targets = [tgt for tgt, _ in edges]
        else:
            targets = list(range(rows))
        out[g.name] = [[r for r in range(rows) if targets[r] == t] for t in dict.fromkeys(targets)]
    return out


def path_entries(space: SearchSpace) -> dict[str, np.ndarray]:
    """Per group, bool ``[rows, options]``: True where the option is a real path (not ``none``)."""
    return {g.name: np.array([[op != "none" for op in row] for row in g.row_options]) for g in space.param_groups}


def drop_paths(nodes: dict[str, list[list[int]]], paths: dict[str, np.ndarray], rate: float, n: int,
               rng: np.random.Generator, fanin_scaling: bool = True) -> dict[str, np.ndarray]:
    """``n`` independent path-dropout masks, bool ``[n, rows, options]`` per group.

    Each path of a node survives with probability ``1 - p``, ``p = rate ** (1/k)``
    (or ``rate``); a node left without paths keeps one of its paths, chosen uniformly.
    Non-paths (``none``) are always False.
    """
    out = {}
    for g, valid in paths.items():
        keep = np.zeros((n, *valid.shape), dtype=bool)
        for rows in nodes[g]:
            entry = np.zeros_like(valid)
            entry[rows] = valid[rows]
            k = int(entry.sum())
            if k == 0:
                continue
            p = rate ** (1.0 / k) if fanin_scaling else rate
            kept = ((rng.random((n, *valid.shape)) >= p) & entry).reshape(n, -1)
            empty = np.flatnonzero(~kept.any(1))
            if len(empty):
                flat = np.flatnonzero(entry)
                kept[empty, flat[rng.integers(len(flat), size=len(empty))]] = True
            keep |= kept.reshape(keep.shape)
        out[g] = keep
    return out


def ghost_slices(batch: int, ghost_size: int) -> list[slice]:
    """``max(1, batch // ghost_size)`` contiguous ghost batches of (nearly) equal size."""
    n = max(1, batch // ghost_size)
    bounds = [round(i * batch / n) for i in range(n + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def path_parameters(space: SearchSpace, supernet: nn.Module) -> dict[PathKey, list[nn.Parameter]]:
    """Parameters of each path ``(group, row, option)``; empty when the supernet's layout is unknown.

    Cells are modules with an ``edges`` ModuleList; an edge is a ModuleList of
    ops (one per option) or an NB-201 mixed edge with ``conv1`` / ``conv3``.
    The group of each cell comes from ``supernet.cell_groups`` or is the only group.
    """
    options = {g.name: g.row_options for g in space.param_groups}
    cells = [m for m in supernet.modules() if isinstance(getattr(m, "edges", None), nn.ModuleList)]
    groups = list(getattr(supernet, "cell_groups", []))
    if len(groups) != len(cells):
        if len(options) != 1:
            return {}
        groups = [next(iter(options))] * len(cells)
    out: dict[PathKey, list[nn.Parameter]] = {}
    for cell, g in zip(cells, groups):
        for e, edge in enumerate(cell.edges):
            if e >= len(options[g]):
                return {}
            if isinstance(edge, nn.ModuleList):
                ops = list(enumerate(edge))
            else:
                ops = [(options[g][e].index(_NAMED_OPS[n]), child) for n, child in edge.named_children()
                       if _NAMED_OPS.get(n) in options[g][e]]
            for k, op in ops:
                out.setdefault((g, e, k), []).extend(op.parameters())
    return out


def mutate(space: SearchSpace, arch: Architecture, rng: np.random.Generator, tries: int = 20) -> Architecture:
    """``arch`` with one choice replaced by that of a fresh sample (a fresh sample if no valid child is found)."""
    for _ in range(tries):
        other = space.sample(rng)
        i = int(rng.integers(len(arch.choices)))
        if other.choices[i] == arch.choices[i]:
            continue
        child = Architecture(space.name, arch.choices[:i] + (other.choices[i],) + arch.choices[i + 1:])
        try:
            return space.check(child)
        except ArchitectureError:  # spaces with coupled choices (DARTS: two inputs per node)
            continue
    return space.sample(rng)


@register_optimizer("oneshot")
class OneShot(SearchOptimizer):
    name = "oneshot"
    config_cls = OneShotConfig
    description = "One-shot model: path dropout, ghost BN, active-path L2 (Bender et al. 2018)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        c = self.config
        # the active-path L2 penalty replaces SGD's weight decay, which would decay every parameter
        self.weights = WeightTrainer(self.supernet, replace(c, w_weight_decay=0.0),
                                     total_steps=self.epochs * self.steps_per_epoch)
        self.nodes, self.paths = node_rows(self.space), path_entries(self.space)
        self.path_params = path_parameters(self.space, self.supernet)
        in_path = {id(p) for ps in self.path_params.values() for p in ps}
        self.shared_params = [p for p in self.supernet.parameters() if p.requires_grad and id(p) not in in_path]
        self.picked: Architecture = self.space.sample(self.rng)
        self.rate = 0.0

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        return {"path_dropout_rate": self.rate}

    def l2_penalty(self, active: dict[str, np.ndarray]) -> torch.Tensor:
        """``wd / 2 * sum ||theta||^2`` over shared parameters and those of paths with ``active[g][row, option]``."""
        used = list(self.shared_params)
        used += [p for (g, e, k), ps in self.path_params.items() if active[g][e, k] for p in ps]
        if not used or self.config.w_weight_decay == 0:
            return torch.zeros((), device=self.device)
        return 0.5 * self.config.w_weight_decay * torch.stack([p.pow(2).sum() for p in used]).sum()

    def ghost_forward(self, x: torch.Tensor, masks: dict[str, np.ndarray], per_example: bool = False) -> torch.Tensor:
        """Logits ``[B, K]``: one supernet call per ghost batch, so each has its own BN statistics.

        ``masks[g]`` is ``[n_ghosts, rows, options]`` (one weight matrix per ghost
        batch) or, with ``per_example``, ``[B, rows, options]`` (per-example weights).
        """
        ghosts = ghost_slices(len(x), self.config.ghost_batch_size)
        outs = []
        for i, sl in enumerate(ghosts):
            w = {g: torch.as_tensor(m[sl] if per_example else m[i], dtype=torch.float32).to(self.device)
                 for g, m in masks.items()}
            outs.append(self.supernet(x[sl], w))
        return torch.cat(outs)

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        c = self.config
        x, y = train
        self.rate = dropout_rate(self.weights.steps, self.weights.total_steps, c.r_max)
        n = len(y) if c.mask_per == "example" else len(ghost_slices(len(y), c.ghost_batch_size))
        masks = drop_paths(self.nodes, self.paths, self.rate, n, self.rng, c.fanin_scaling)
        logits = self.ghost_forward(x, masks, per_example=c.mask_per == "example")
        loss = F.cross_entropy(logits, y)
        self.weights.step(loss + self.l2_penalty({g: m.any(0) for g, m in masks.items()}))
        a = self.space.sample(self.rng)
        w = {k: v.to(self.device) for k, v in self.space.one_hot(a).items()}
        with torch.no_grad():
            logits_v = self.forward(valid[0], w, self.space.active_indices(a))  # host-side indices: no sync
            loss_v = F.cross_entropy(logits_v, valid[1])
        return {**self.metrics("train", logits, y, loss), **self.metrics("valid", logits_v, valid[1], loss_v)}

    # -- selection ------------------------------------------------------
    def select(self, eval_batches: list[Batch]) -> Architecture:
        if self.config.selection == "random":
            cands = [self.space.sample(self.rng) for _ in range(self.config.n_candidates)]
            scores = self.score_architectures(cands, eval_batches).tolist()
        else:
            cands, scores = self._evolve(eval_batches)
        self.picked = cands[int(np.argmax(scores))]
        return self.picked

    def _evolve(self, batches: list[Batch]) -> tuple[list[Architecture], list[float]]:
        """Regularized evolution (Real et al. 2019) with ``n_candidates`` evaluations in all."""
        c = self.config
        init = [self.space.sample(self.rng) for _ in range(min(c.population, c.n_candidates))]
        history = list(zip(init, self.score_architectures(init, batches).tolist()))
        population = list(history)
        while len(history) < c.n_candidates:
            picks = self.rng.choice(len(population), size=min(c.tournament, len(population)), replace=False)
            parent = max((population[int(i)] for i in picks), key=lambda t: t[1])[0]
            child = mutate(self.space, parent, self.rng)
            history.append((child, float(self.score_architectures([child], batches)[0])))
            population.append(history[-1])
            population.pop(0)  # the oldest dies, not the worst
        return [a for a, _ in history], [s for _, s in history]

    def current_architecture(self) -> Architecture:
        return self.picked

    def sample(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        return [self.space.sample(rng) for _ in range(n)]

    def extra_state(self) -> dict[str, Any]:
        return {"picked": list(self.picked.choices), "rate": self.rate}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.picked = Architecture(self.space.name, tuple(state["picked"]))
        self.rate = float(state["rate"])
