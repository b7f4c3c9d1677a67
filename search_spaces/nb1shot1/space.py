"""The NAS-Bench-1Shot1 spaces ``nb1shot1-s1``, ``-s2``, ``-s3`` as ``SearchSpace`` objects.

Encoding (``Architecture.choices``): ``n`` block op indices (into ``OPS``:
maxpool3x3, conv3x3-bn-relu, conv1x1-bn-relu), then, for every vertex whose
parent set is a real choice (see ``SpaceStructure.choice_vertices``), the
index of its parent set among the lexicographic combinations of earlier
vertices (input = 0, block i = i).

String form: the raw 7x7 NB-101 adjacency as 49 row-major bits, ``|``, the 7
comma-separated NB-101 labels (``ModelSpec.to_str(raw=True)``), e.g.
``0100000...|input,conv3x3-bn-relu,...,output``. It is exact (unpruned, with
the reference's dummy vertex in spaces 1 and 2), so it parses back to the
same choices, and it is directly an NB-101 cell.

Weight groups (each row one categorical; the optimizer's softmax along the
last dim gives the supernet normalised weights):
- ``"ops"``: ``[n, 3]``, one row per block;
- ``"parents{v}"``: ``[1, v]`` for every block ``v`` with a parent choice,
  options = input and blocks 1..v-1;
- ``"output"``: ``[1, n + 1]``, options = input and blocks 1..n.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from search_spaces.architecture import Architecture
from search_spaces.errors import ArchitectureError
from search_spaces.errors import check_arch_text
from search_spaces.nb101.spec import CONV1X1, ModelSpec
from search_spaces.nb1shot1.structure import DEAD_OP, OPS, SpaceStructure
from search_spaces.space import ParamGroup, SearchSpace, SupernetConfig


def _vertex_name(v: int) -> str:
    return "input" if v == 0 else f"block{v}"


class NB1Shot1Space(SearchSpace):
    """One of the three NAS-Bench-1Shot1 spaces.

    Args:
        structure: Parents per vertex and counting rule of the space.
    """

    depth_meaning = "cells per stack"

    def __init__(self, structure: SpaceStructure) -> None:
        self.structure = structure
        self.name = f"nb1shot1-s{structure.number}"
        self.size = structure.size
        self._groups = self._make_groups()

    # -- encoding -------------------------------------------------------
    def _group_name(self, v: int) -> str:
        return "output" if v == self.structure.output else f"parents{v}"

    def _make_groups(self) -> tuple[ParamGroup, ...]:
        s = self.structure
        groups = [ParamGroup("ops", tuple(OPS for _ in range(s.num_blocks)))]
        for v in s.choice_vertices:
            groups.append(ParamGroup(self._group_name(v), (tuple(_vertex_name(u) for u in range(v)),)))
        return tuple(groups)

    @property
    def param_groups(self) -> tuple[ParamGroup, ...]:
        return self._groups

    def split(self, arch: Architecture) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(ops, parent_idx)`` of ``arch``."""
        n = self.structure.num_blocks
        return arch.choices[:n], arch.choices[n:]

    def spec(self, arch: Architecture) -> ModelSpec:
        """The NB-101 cell of ``arch`` (raw, with the dummy vertex in spaces 1 and 2)."""
        ops, pidx = self.split(self.check(arch))
        return self.structure.spec(pidx, ops)

    def parents(self, arch: Architecture) -> dict[int, tuple[int, ...]]:
        """Vertex (1..n+1) -> its parent vertices."""
        return self.structure.parent_sets(self.split(self.check(arch))[1])

    def to_str(self, arch: Architecture) -> str:
        return self.spec(arch).to_str(raw=True)

    def from_str(self, text: str) -> Architecture:
        if not isinstance(text, str):
            raise ArchitectureError(f"{self.name} architecture must be a string, got {type(text).__name__} {str(text)[:80]!r}")
        check_arch_text(text)
        try:
            spec = ModelSpec.from_str(text)
        except ArchitectureError as e:
            raise ArchitectureError(f"{self.name}: {e}") from None
        s, m, labels = self.structure, spec.original_matrix, spec.original_ops
        if m.shape != (7, 7):
            raise ArchitectureError(f"{self.name}: {text!r} must have 7 vertices, got {m.shape[0]}")
        if s.num_blocks == 4:
            if m[5].any() or m[:, 5].any() or labels[5] != CONV1X1:
                raise ArchitectureError(f"{self.name}: {text!r}: vertex 5 must be the unused conv1x1-bn-relu dummy")
            m = np.delete(np.delete(m, 5, axis=0), 5, axis=1)
            labels = labels[:5] + labels[6:]
        if labels[0] != "input" or labels[-1] != "output":
            raise ArchitectureError(f"{self.name}: {text!r}: first label must be input and last output")
        try:
            ops = tuple(OPS.index(o) for o in labels[1:-1])
        except ValueError:
            raise ArchitectureError(f"{self.name}: {text!r}: block ops must be in {OPS}") from None
        pidx = []
        for v, opts in zip(range(1, s.output + 1), s.parent_options):
            ps = tuple(int(u) for u in np.flatnonzero(m[:, v]))
            if ps not in opts:
                raise ArchitectureError(
                    f"{self.name}: {text!r}: vertex {v} has parents {ps}; it needs {s.parents[v - 1]} of {list(range(v))}")
            if len(opts) > 1:
                pidx.append(opts.index(ps))
        arch = Architecture(self.name, ops + tuple(pidx))
        self.validate(arch)
        return arch

    def validate(self, arch: Architecture) -> None:
        s, c = self.structure, arch.choices
        n, k = s.num_blocks, len(s.choice_vertices)
        if len(c) != n + k:
            raise ArchitectureError(f"{c} is not a {self.name} architecture ({n} ops + {k} parent choices)")
        ops, pidx = c[:n], c[n:]
        if any(not 0 <= o < len(OPS) for o in ops):
            raise ArchitectureError(f"{self.name}: op indices {ops} must be in 0..{len(OPS) - 1}")
        for v, i in zip(s.choice_vertices, pidx):
            if not 0 <= i < len(s.parent_options[v - 1]):
                raise ArchitectureError(f"{self.name}: parent choice {i} of vertex {v} out of range")
        free = s.op_free(pidx)
        bad = [b + 1 for b, (f, o) in enumerate(zip(free, ops)) if not f and o != DEAD_OP]
        if bad:
            raise ArchitectureError(
                f"{self.name}: blocks {bad} have no outgoing edge, so their op is no choice and must be "
                f"{OPS[DEAD_OP]} (index {DEAD_OP}); use canonicalize()")

    def canonicalize(self, ops: tuple[int, ...], pidx: tuple[int, ...]) -> Architecture:
        """The member with these parents and ops (ops of op-less blocks set to ``DEAD_OP``)."""
        free = self.structure.op_free(tuple(pidx))
        ops = tuple(int(o) if f else DEAD_OP for o, f in zip(ops, free))
        return Architecture(self.name, ops + tuple(int(i) for i in pidx))

    # -- enumeration ------------------------------------------------------
    def _config_index(self, pidx: tuple[int, ...]) -> int:
        s, code = self.structure, 0
        for v, i in zip(s.choice_vertices, pidx):
            code = code * len(s.parent_options[v - 1]) + i
        return code

    def index(self, arch: Architecture) -> int:
        ops, pidx = self.split(self.check(arch))
        code = 0
        for o, f in zip(ops, self.structure.op_free(pidx)):
            if f:
                code = code * len(OPS) + o
        return int(self.structure.config_offsets[self._config_index(pidx)]) + code

    def from_index(self, index: int) -> Architecture:
        s = self.structure
        if not 0 <= index < self.size:
            raise ArchitectureError(f"{self.name} index {index} out of range 0..{self.size - 1}")
        ci = int(np.searchsorted(s.config_offsets, index, side="right")) - 1
        pidx = s.parent_configs[ci]
        code = index - int(s.config_offsets[ci])
        free = s.op_free(pidx)
        ops = [DEAD_OP] * s.num_blocks
        for b in reversed(range(s.num_blocks)):
            if free[b]:
                code, ops[b] = divmod(code, len(OPS))
        return Architecture(self.name, tuple(ops) + pidx)

    def enumerate(self) -> Iterator[Architecture]:
        for i in range(self.size):
            yield self.from_index(i)

    def sample(self, rng: np.random.Generator) -> Architecture:
        return self.from_index(int(rng.integers(0, self.size)))

    # -- weights ----------------------------------------------------------
    def discretize(self, weights: dict[str, torch.Tensor]) -> Architecture:
        """Argmax op per block; for every parent group the top-k options, k = the vertex's parent count.

        Ties go to the lower vertex index. Blocks that end up without an
        outgoing edge get the canonical op where the space fixes it.
        """
        s = self.structure
        w_ops = weights["ops"].detach()
        if w_ops.dim() != 2:
            raise ArchitectureError(f"{self.name}: discretize needs shared weights [rows, options], got {tuple(w_ops.shape)}")
        ops = tuple(int(x) for x in w_ops.argmax(-1).tolist())
        pidx = []
        for v in s.choice_vertices:
            row = weights[self._group_name(v)].detach().reshape(-1).float().cpu()
            k = s.parents[v - 1]
            # stable sort on -w keeps the lower index first on ties
            order = np.argsort(-row.numpy(), kind="stable")[:k]
            pidx.append(s.parent_options[v - 1].index(tuple(sorted(int(u) for u in order))))
        return self.canonicalize(ops, tuple(pidx))

    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """Op one-hots and k-hot parent rows (1 on each chosen parent; NB-101 sums a vertex's inputs)."""
        ops, pidx = self.split(self.check(arch))
        s = self.structure
        w = {"ops": torch.zeros(s.num_blocks, len(OPS))}
        w["ops"][torch.arange(s.num_blocks), torch.tensor(ops)] = 1.0
        sets = s.parent_sets(pidx)
        for v in s.choice_vertices:
            row = torch.zeros(1, v)
            row[0, list(sets[v])] = 1.0
            w[self._group_name(v)] = row
        return w

    # -- networks -------------------------------------------------------
    def default_config(self) -> SupernetConfig:
        # 1Shot1 DARTS search: 16 initial channels, 9 cells = 3 stacks x 3, BN with affine + running stats.
        return SupernetConfig(channels=16, depth=3, track_running_stats=True, affine=True)

    def build_supernet(self, config: SupernetConfig) -> nn.Module:
        from search_spaces.nb1shot1.supernet import NB1Shot1Supernet

        return NB1Shot1Supernet(self.structure, config)

    def build_network(self, arch: Architecture, config: SupernetConfig) -> nn.Module:
        from search_spaces.nb101.network import NB101Network

        return NB101Network(self.spec(arch), config)
