"""The RobustDARTS spaces S1-S4 over the full DARTS cell (4 nodes, 14 edges).

Architectures follow the DARTS discretization: each intermediate node keeps
its two strongest incoming edges and each kept edge one op (never ``none``).
``Architecture.choices`` holds 28 ints, the 14 normal-cell edges then the 14
reduction-cell edges (``darts_edges(4)`` order): the op's index in that edge's
option list, or -1 when the edge is not kept.

The string form is the DARTS ``Genotype`` text. ``to_str`` lists each node's
two inputs by ascending input state, so ``from_str(to_str(a)) == a`` always,
and ``to_str(from_str(s)) == s`` for strings in that canonical order (DARTS
logs list inputs by strength instead; they parse to the same architecture).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from search_spaces.architecture import Architecture
from search_spaces.darts.genotype import Genotype
from search_spaces.darts.network import EvalNetConfig, network_from_genotype
from search_spaces.darts.spaces import CellSpec
from search_spaces.darts.supernet import DartsSupernet
from search_spaces.errors import ArchitectureError
from search_spaces.space import ParamGroup, SearchSpace, SupernetConfig

#: Inputs kept per node by the DARTS rule.
INPUTS_PER_NODE = 2


class DartsSpace(SearchSpace):
    """One RobustDARTS space (S1-S4), defined by its ``CellSpec``; not enumerable.

    Args:
        name: Registered name (``"s1"`` ...).
        spec: Topology and per-edge op lists, groups ``"normal"`` and ``"reduce"``.
    """

    depth_meaning = "total cells (reductions at depth//3 and 2*depth//3; at least 3)"

    size = None

    def __init__(self, name: str, spec: CellSpec) -> None:
        self.name, self.spec = name, spec
        self._groups = (spec.normal_group, spec.reduce_group)
        self._concat = tuple(range(2, 2 + spec.steps))

    @property
    def param_groups(self) -> tuple[ParamGroup, ...]:
        return tuple(ParamGroup(g, self.spec.options[g]) for g in self._groups)

    # -- encoding -------------------------------------------------------
    def _split(self, arch: Architecture) -> tuple[tuple[int, ...], tuple[int, ...]]:
        n = len(self.spec.edges)
        return arch.choices[:n], arch.choices[n:]

    def validate(self, arch: Architecture) -> None:
        n = len(self.spec.edges)
        if len(arch.choices) != 2 * n:
            raise ArchitectureError(f"{self.name} architecture needs {2 * n} choices, got {len(arch.choices)}")
        for group, choices in zip(self._groups, self._split(arch)):
            rows = self.spec.options[group]
            for node in range(self.spec.steps):
                kept = [e for e, (nd, _) in enumerate(self.spec.edges) if nd == node and choices[e] >= 0]
                if len(kept) != INPUTS_PER_NODE:
                    raise ArchitectureError(f"{self.name} {group} node {node} keeps {len(kept)} edges, "
                                            f"needs {INPUTS_PER_NODE}: {arch.choices}")
            for e, c in enumerate(choices):
                if c >= len(rows[e]) or c < -1 or (c >= 0 and rows[e][c] == "none"):
                    raise ArchitectureError(f"{self.name} {group} edge {e}: invalid op index {c} "
                                            f"(options {rows[e]}, 'none' never kept)")

    def genotype(self, arch: Architecture) -> Genotype:
        """The DARTS genotype of ``arch`` (inputs of a node by ascending input state)."""
        self.check(arch)
        halves = []
        for group, choices in zip(self._groups, self._split(arch)):
            rows = self.spec.options[group]
            halves.append(tuple((rows[e][c], src) for e, ((_, src), c) in enumerate(zip(self.spec.edges, choices))
                                if c >= 0))
        return Genotype(halves[0], self._concat, halves[1], self._concat)

    def from_genotype(self, genotype: Genotype, text: str | None = None) -> Architecture:
        """Inverse of ``genotype``; ``ArchitectureError`` (quoting ``text``) when outside this space."""
        text = text if text is not None else genotype.to_str()
        choices: list[int] = []
        for group, pairs, concat in ((self._groups[0], genotype.normal, genotype.normal_concat),
                                     (self._groups[1], genotype.reduce, genotype.reduce_concat)):
            if len(pairs) != INPUTS_PER_NODE * self.spec.steps or tuple(concat) != self._concat:
                raise ArchitectureError(f"{self.name} genotype {text!r}: {group} needs "
                                        f"{INPUTS_PER_NODE * self.spec.steps} pairs and concat {self._concat}")
            row = [-1] * len(self.spec.edges)
            for i, (op, src) in enumerate(pairs):
                node = i // INPUTS_PER_NODE
                try:
                    e = self.spec.edges.index((node, src))
                except ValueError:
                    raise ArchitectureError(f"{self.name} genotype {text!r}: node {node} cannot read "
                                            f"state {src}") from None
                opts = self.spec.options[group][e]
                if op not in opts or op == "none":
                    raise ArchitectureError(f"{self.name} genotype {text!r}: op {op!r} not allowed on {group} "
                                            f"edge {node}<-{src} (options {opts})")
                if row[e] >= 0:
                    raise ArchitectureError(f"{self.name} genotype {text!r}: node {node} reads state {src} twice")
                row[e] = opts.index(op)
            choices += row
        return Architecture(self.name, tuple(choices))

    def to_str(self, arch: Architecture) -> str:
        return self.genotype(arch).to_str()

    def from_str(self, text: str) -> Architecture:
        return self.from_genotype(Genotype.from_str(text), text)

    def sample(self, rng: np.random.Generator) -> Architecture:
        """Per node two distinct inputs uniformly, then a uniform non-``none`` op per kept edge."""
        choices: list[int] = []
        for group in self._groups:
            rows = self.spec.options[group]
            row = [-1] * len(self.spec.edges)
            for node in range(self.spec.steps):
                edges = [e for e, (nd, _) in enumerate(self.spec.edges) if nd == node]
                for e in rng.choice(edges, size=INPUTS_PER_NODE, replace=False):
                    allowed = [k for k, op in enumerate(rows[e]) if op != "none"]
                    row[int(e)] = int(allowed[int(rng.integers(len(allowed)))])
            choices += row
        return Architecture(self.name, tuple(choices))

    # -- weights --------------------------------------------------------
    def discretize(self, weights: dict[str, torch.Tensor]) -> Architecture:
        """DARTS rule: per node the two edges with the largest non-``none`` weight, op = argmax without ``none``.

        Ties go to the lower edge / op index.
        """
        choices: list[int] = []
        for group in self._groups:
            w = weights[group].detach().float().cpu()
            rows = self.spec.options[group]
            mask = torch.tensor([[op == "none" for op in r] for r in rows])
            w = w.masked_fill(mask, float("-inf"))
            best_w, best_k = w.max(dim=-1)
            row = [-1] * len(self.spec.edges)
            for node in range(self.spec.steps):
                edges = [e for e, (nd, _) in enumerate(self.spec.edges) if nd == node]
                ranked = sorted(edges, key=lambda e: -float(best_w[e]))  # stable: ties keep edge order
                for e in ranked[:INPUTS_PER_NODE]:
                    row[e] = int(best_k[e])
            choices += row
        return Architecture(self.name, tuple(choices))

    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """One-hot rows for kept edges, zero rows for the others."""
        self.check(arch)
        out = {}
        for group, choices in zip(self._groups, self._split(arch)):
            rows = self.spec.options[group]
            w = torch.zeros(len(rows), len(rows[0]))
            for e, c in enumerate(choices):
                if c >= 0:
                    w[e, c] = 1.0
            out[group] = w
        return out

    # -- networks -------------------------------------------------------
    def default_config(self) -> SupernetConfig:
        """The RobustDARTS / DARTS search protocol: C=16, 8 cells, CIFAR-sized input, search BN without affine."""
        return SupernetConfig(channels=16, depth=8, num_classes=10, in_channels=3, input_size=32,
                              track_running_stats=False, affine=False)

    def build_supernet(self, config: SupernetConfig) -> nn.Module:
        return DartsSupernet(self.spec, config)

    def build_network(self, arch: Architecture, config: SupernetConfig,
                      eval_config: EvalNetConfig | None = None) -> nn.Module:
        """DARTS evaluation network of ``arch`` (affine BN, optional auxiliary head / drop-path)."""
        return network_from_genotype(self.genotype(arch),
                                     config.with_overrides(affine=True, track_running_stats=True), eval_config)
