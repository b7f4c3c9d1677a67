"""Structure of the three NAS-Bench-1Shot1 spaces and their mapping to NB-101 cells.

A cell has an input vertex (0), ``n`` choice blocks (1..n) and an output
vertex (n+1). Every choice block picks one op and a fixed number of parents
among all earlier vertices; the output picks its parents among the input and
all blocks (so the input->output edge is an ordinary output-parent choice).
Parents per block and for the output (Zela et al., 2020, reference code):

- space 1: 4 blocks, parents 1, 2, 2, 2, output 2 (blocks 1 and 2 have no choice);
- space 2: 4 blocks, parents 1, 1, 2, 2, output 3;
- space 3: 5 blocks, parents 1, 1, 1, 2, 2, output 2.

Spaces 1 and 2 use 5 of NB-101's 7 vertices' interior slots only partly: the
NB-101 matrix gets an unused dummy vertex (op ``conv1x1-bn-relu``, no edges)
at index 5, right before the output, exactly as the reference does.

Counting (``size``). The published sizes are 6,240 / 29,160 / 363,648. They
are not numbers of distinct NB-101 models (those are fewer: 2,685 and 7,773
for spaces 1 and 2). Spaces 1 and 3 count every parent configuration times
the ops of the blocks that have an outgoing edge (a block without one does
not affect the network, so its op is no choice); space 2's published number
is every parent configuration (360) times all 3^4 op assignments. We
reproduce the published numbers: in spaces 1 and 3 the op of a block without
an outgoing edge is canonical (op 0) and part of no choice; in space 2 all op
assignments are distinct members.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from search_spaces.nb101.spec import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, ModelSpec

#: Op options of every choice block, in the reference's ``PRIMITIVES`` order.
OPS = (MAXPOOL3X3, CONV3X3, CONV1X1)
#: Op given to a block without an outgoing edge where its op is no choice.
DEAD_OP = 0


@dataclass(frozen=True)
class SpaceStructure:
    """Parents per vertex of one 1Shot1 space.

    Attributes:
        number: 1, 2 or 3.
        parents: Required parent count of vertices 1..n+1 (last: the output).
        dead_ops_free: True when blocks without an outgoing edge still carry an
            op choice (space 2's published count), False when their op is fixed.
    """

    number: int
    parents: tuple[int, ...]
    dead_ops_free: bool

    @property
    def num_blocks(self) -> int:
        """Choice blocks ``n``."""
        return len(self.parents) - 1

    @property
    def output(self) -> int:
        """Index of the output vertex in the space's own numbering (``n + 1``)."""
        return self.num_blocks + 1

    @cached_property
    def parent_options(self) -> tuple[tuple[tuple[int, ...], ...], ...]:
        """For vertices 1..n+1: all parent sets (lexicographic combinations of earlier vertices)."""
        return tuple(tuple(itertools.combinations(range(v), k)) for v, k in zip(range(1, self.output + 1), self.parents))

    @cached_property
    def choice_vertices(self) -> tuple[int, ...]:
        """Vertices whose parent set is a real choice (more than one option), in order."""
        return tuple(v for v, opts in zip(range(1, self.output + 1), self.parent_options) if len(opts) > 1)

    def parent_sets(self, parent_idx: tuple[int, ...]) -> dict[int, tuple[int, ...]]:
        """Vertex -> parents, given one option index per choice vertex."""
        out = {}
        it = iter(parent_idx)
        for v, opts in zip(range(1, self.output + 1), self.parent_options):
            out[v] = opts[next(it)] if len(opts) > 1 else opts[0]
        return out

    def live_blocks(self, parent_idx: tuple[int, ...]) -> tuple[bool, ...]:
        """Per block: does it have an outgoing edge (is it somebody's parent)?"""
        used = {p for ps in self.parent_sets(parent_idx).values() for p in ps}
        return tuple(b in used for b in range(1, self.output))

    def op_free(self, parent_idx: tuple[int, ...]) -> tuple[bool, ...]:
        """Per block: is its op a choice under this parent configuration?"""
        if self.dead_ops_free:
            return (True,) * self.num_blocks
        return self.live_blocks(parent_idx)

    @cached_property
    def parent_configs(self) -> tuple[tuple[int, ...], ...]:
        """All parent configurations (one index per choice vertex), lexicographic."""
        return tuple(itertools.product(*(range(len(self.parent_options[v - 1])) for v in self.choice_vertices)))

    @cached_property
    def config_offsets(self) -> np.ndarray:
        """``[n_configs + 1]`` int64: first enumeration index of each parent configuration."""
        sizes = [3 ** sum(self.op_free(c)) for c in self.parent_configs]
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def size(self) -> int:
        """Number of architectures (the published count)."""
        return int(self.config_offsets[-1])

    # -- NB-101 mapping ----------------------------------------------------
    def matrix(self, parent_idx: tuple[int, ...]) -> np.ndarray:
        """``[7, 7]`` int8 NB-101 adjacency (dummy vertex 5 inserted for 4-block spaces)."""
        n = self.output + 1
        m = np.zeros((n, n), dtype=np.int8)
        for v, ps in self.parent_sets(parent_idx).items():
            m[list(ps), v] = 1
        if self.num_blocks == 4:
            m = np.insert(np.insert(m, 5, 0, axis=1), 5, 0, axis=0)
        return m

    def nb101_ops(self, ops: tuple[int, ...]) -> list[str]:
        """The 7 NB-101 vertex labels for block op indices ``ops``."""
        labels = [INPUT, *(OPS[o] for o in ops)]
        if self.num_blocks == 4:
            labels.append(CONV1X1)  # the reference's unused dummy vertex
        return [*labels, OUTPUT]

    def spec(self, parent_idx: tuple[int, ...], ops: tuple[int, ...]) -> ModelSpec:
        """The NB-101 ``ModelSpec`` of one configuration."""
        return ModelSpec(self.matrix(parent_idx), self.nb101_ops(ops))


STRUCTURES = {
    1: SpaceStructure(1, (1, 2, 2, 2, 2), dead_ops_free=False),
    2: SpaceStructure(2, (1, 1, 2, 2, 3), dead_ops_free=True),
    3: SpaceStructure(3, (1, 1, 1, 2, 2, 2), dead_ops_free=False),
}
