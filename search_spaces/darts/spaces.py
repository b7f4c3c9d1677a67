"""The DARTS-style spaces as data: cell topology and per-edge op lists.

A cell has two input states (0 = c_{k-2}, 1 = c_{k-1}) and ``steps``
intermediate nodes (node ``i`` is state ``2 + i``). ``edges`` lists
``(node, input state)`` pairs; their order is the row order of the weight
groups and of ``Architecture.choices``. ``options[group][e]`` names the ops of
edge ``e``. Normal cells read group ``normal_group``, reduction cells
``reduce_group`` (the same name when both share one architecture, as in S5).

S1-S4 are the RobustDARTS spaces (Zela et al., ICLR 2020): the full DARTS
cell (4 nodes, 14 edges) with reduced op sets.
"""

from __future__ import annotations

from dataclasses import dataclass


def darts_edges(steps: int) -> tuple[tuple[int, int], ...]:
    """All ``(node, input)`` pairs of a DARTS cell, node-major: (0,0), (0,1), (1,0), (1,1), (1,2), ..."""
    return tuple((node, src) for node in range(steps) for src in range(2 + node))


@dataclass(frozen=True, eq=False)
class CellSpec:
    """Topology and op lists of one DARTS-style space.

    Attributes:
        steps: Intermediate nodes per cell (all concatenated into the cell output).
        edges: ``(node, input state)`` per edge, in weight-row order.
        options: Group name -> per-edge tuple of op names.
        normal_group: Group used by normal cells.
        reduce_group: Group used by reduction cells.
    """

    steps: int
    edges: tuple[tuple[int, int], ...]
    options: dict[str, tuple[tuple[str, ...], ...]]
    normal_group: str = "normal"
    reduce_group: str = "reduce"

    def __post_init__(self) -> None:
        for group, rows in self.options.items():
            if len(rows) != len(self.edges):
                raise ValueError(f"group {group!r}: {len(rows)} op lists for {len(self.edges)} edges")
        for node, src in self.edges:
            if not (0 <= node < self.steps and 0 <= src < 2 + node):
                raise ValueError(f"edge ({node}, {src}) is not a forward edge of a {self.steps}-node cell")

    @property
    def groups(self) -> tuple[str, ...]:
        """Distinct group names, normal first."""
        return tuple(dict.fromkeys((self.normal_group, self.reduce_group)))

    def group_of(self, reduction: bool) -> str:
        """Weight group of a normal (False) or reduction (True) cell."""
        return self.reduce_group if reduction else self.normal_group


# Source: automl/RobustDARTS, src/spaces.py, ``primitives_1`` (per-edge pairs in
# the DARTS edge order of ``darts_edges(4)``), transcribed as facts.
S1_NORMAL: tuple[tuple[str, ...], ...] = (
    ("skip_connect", "dil_conv_3x3"),   # node 0 <- c_{k-2}
    ("skip_connect", "dil_conv_5x5"),   # node 0 <- c_{k-1}
    ("skip_connect", "dil_conv_5x5"),   # node 1 <- c_{k-2}
    ("skip_connect", "sep_conv_3x3"),   # node 1 <- c_{k-1}
    ("skip_connect", "dil_conv_3x3"),   # node 1 <- node 0
    ("max_pool_3x3", "skip_connect"),   # node 2 <- c_{k-2}
    ("skip_connect", "sep_conv_3x3"),   # node 2 <- c_{k-1}
    ("skip_connect", "sep_conv_3x3"),   # node 2 <- node 0
    ("skip_connect", "dil_conv_3x3"),   # node 2 <- node 1
    ("skip_connect", "sep_conv_3x3"),   # node 3 <- c_{k-2}
    ("max_pool_3x3", "skip_connect"),   # node 3 <- c_{k-1}
    ("skip_connect", "dil_conv_3x3"),   # node 3 <- node 0
    ("dil_conv_3x3", "dil_conv_5x5"),   # node 3 <- node 1
    ("dil_conv_3x3", "dil_conv_5x5"),   # node 3 <- node 2
)
S1_REDUCE: tuple[tuple[str, ...], ...] = (
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "dil_conv_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
)


def _uniform(ops: tuple[str, ...]) -> dict[str, tuple[tuple[str, ...], ...]]:
    rows = tuple(ops for _ in darts_edges(4))
    return {"normal": rows, "reduce": rows}


#: The RobustDARTS spaces S1-S4.
DARTS_SPECS: dict[str, CellSpec] = {
    "s1": CellSpec(4, darts_edges(4), {"normal": S1_NORMAL, "reduce": S1_REDUCE}),
    "s2": CellSpec(4, darts_edges(4), _uniform(("skip_connect", "sep_conv_3x3"))),
    "s3": CellSpec(4, darts_edges(4), _uniform(("none", "skip_connect", "sep_conv_3x3"))),
    "s4": CellSpec(4, darts_edges(4), _uniform(("noise", "sep_conv_3x3"))),
}

#: S5 ops and edges (c_{k-2}->n0, c_{k-1}->n0, c_{k-1}->n1, n0->n1); one shared "cell" group.
S5_OPS: tuple[str, ...] = ("none", "skip_connect", "sep_conv_3x3")
S5_SPEC = CellSpec(2, ((0, 0), (0, 1), (1, 1), (1, 2)), {"cell": tuple(S5_OPS for _ in range(4))},
                   normal_group="cell", reduce_group="cell")
