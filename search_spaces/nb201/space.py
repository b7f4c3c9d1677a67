"""The NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 ops, 15,625 cells.

Edge order (also the row order of the ``"cell"`` weight group) is
(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), the order of the official string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

The NB-201 index is the position in the official ``meta_archs`` list, which is
not a lexicographic order. ``official_order.npy`` holds, for each official
index, the lexicographic code of its cell (base-5 op indices, first edge most
significant): 15,625 uint16 values, derived from the architecture order of the
NATS-Bench topology API (MIT licence); the tests check it against the real
table. It holds no accuracies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from torch import nn

from search_spaces.architecture import Architecture
from search_spaces.errors import ArchitectureError
from search_spaces.errors import check_arch_text
from search_spaces.nb201.cell import EDGES, NUM_NODES, OPS
from search_spaces.space import OpPerEdgeSpace, ParamGroup, SupernetConfig

_NODE_RE = re.compile(r"^\|(?:[a-z0-9_]+~\d+\|)+$")
_ORDER = np.load(Path(__file__).with_name("official_order.npy")).astype(np.int64)
_RANK = np.empty_like(_ORDER)
_RANK[_ORDER] = np.arange(len(_ORDER))


def _lex_code(choices: tuple[int, ...]) -> int:
    code = 0
    for c in choices:
        code = code * len(OPS) + c
    return code


def _from_lex_code(code: int) -> tuple[int, ...]:
    digits = []
    for _ in EDGES:
        code, d = divmod(code, len(OPS))
        digits.append(d)
    return tuple(reversed(digits))


class NB201Space(OpPerEdgeSpace):
    """NAS-Bench-201 / NATS-Bench topology space."""

    name = "nb201"
    size = len(OPS) ** len(EDGES)

    @property
    def param_groups(self) -> tuple[ParamGroup, ...]:
        return (ParamGroup("cell", tuple(OPS for _ in EDGES)),)

    # -- encoding -------------------------------------------------------
    def to_str(self, arch: Architecture) -> str:
        self.check(arch)
        it = iter(arch.choices)
        nodes = []
        for node in range(1, NUM_NODES):
            nodes.append("|" + "|".join(f"{OPS[next(it)]}~{src}" for src in range(node)) + "|")
        return "+".join(nodes)

    def from_str(self, text: str) -> Architecture:
        if not isinstance(text, str):
            raise ArchitectureError(f"NB-201 architecture must be a string, got {type(text).__name__} {str(text)[:80]!r}")
        check_arch_text(text)
        nodes = text.strip().split("+")
        if len(nodes) != NUM_NODES - 1 or not all(_NODE_RE.match(n) for n in nodes):
            raise ArchitectureError(
                f"malformed NB-201 architecture string {text!r} "
                "(expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|)")
        choices = []
        for node, part in enumerate(nodes, start=1):
            edges = part.strip("|").split("|")
            if len(edges) != node:
                raise ArchitectureError(f"NB-201 architecture {text!r}: node {node} needs {node} inputs, got {len(edges)}")
            for src, edge in enumerate(edges):
                op, _, idx = edge.partition("~")
                if int(idx) != src:
                    raise ArchitectureError(f"NB-201 architecture {text!r}: node {node} input {src} reads ~{idx}")
                if op not in OPS:
                    raise ArchitectureError(f"NB-201 architecture {text!r}: unknown op {op!r} (ops: {', '.join(OPS)})")
                choices.append(OPS.index(op))
        return Architecture(self.name, tuple(choices))

    def validate(self, arch: Architecture) -> None:
        c = arch.choices
        if len(c) != len(EDGES) or any(not 0 <= x < len(OPS) for x in c):
            raise ArchitectureError(f"{c} is not an NB-201 architecture (6 op indices in 0..4)")

    def index(self, arch: Architecture) -> int:
        self.check(arch)
        return int(_RANK[_lex_code(arch.choices)])

    def from_index(self, index: int) -> Architecture:
        if not 0 <= index < self.size:
            raise ArchitectureError(f"NB-201 index {index} out of range 0..{self.size - 1}")
        return Architecture(self.name, _from_lex_code(int(_ORDER[index])))

    def enumerate(self) -> Iterator[Architecture]:
        for i in range(self.size):
            yield self.from_index(i)

    # -- networks -------------------------------------------------------
    def default_config(self) -> SupernetConfig:
        # NB-201 search protocol: C=16, N=5 cells per stage, BN without affine.
        return SupernetConfig(channels=16, depth=5, track_running_stats=False, affine=False)

    def build_supernet(self, config: SupernetConfig) -> nn.Module:
        from search_spaces.nb201.supernet import NB201Supernet

        return NB201Supernet(config)

    def build_network(self, arch: Architecture, config: SupernetConfig) -> nn.Module:
        from search_spaces.nb201.network import NB201Network

        return NB201Network(self.check(arch), config)
