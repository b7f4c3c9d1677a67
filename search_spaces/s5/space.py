"""S5: the 81-architecture DARTS-style space with a known optimum (RobustDARTS).

RobustDARTS describes S5 as a very small space (81 architectures, each trained
3 times) but never published its op set; this definition is ours and stable:

- a cell has inputs c_{k-2}, c_{k-1} and 2 intermediate nodes n0, n1;
- 4 edges, in this order: c_{k-2}->n0, c_{k-1}->n0, c_{k-1}->n1, n0->n1;
- every edge chooses from {none, skip_connect, sep_conv_3x3};
- the cell outputs concat(n0, n1); normal and reduction cells share the architecture.

String form (NB-201 style, one ``|op~input|`` per edge, nodes joined by ``+``)::

    |sep_conv_3x3~k-2|skip_connect~k-1|+|none~k-1|sep_conv_3x3~n0|

The index is lexicographic in the op indices, first edge most significant.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from torch import nn

from search_spaces.architecture import Architecture
from search_spaces.errors import ArchitectureError
from search_spaces.errors import check_arch_text
from search_spaces.s5.cell import EDGES, OPS
from search_spaces.space import OpPerEdgeSpace, ParamGroup, SupernetConfig

_PART = re.compile(r"^\|([a-z0-9_]+)~([a-z0-9-]+)\|([a-z0-9_]+)~([a-z0-9-]+)\|$")


class S5Space(OpPerEdgeSpace):
    """The S5 space (81 architectures)."""

    depth_meaning = "total cells (one shared cell; cells at depth//3 and 2*depth//3 reduce)"

    name = "s5"
    size = len(OPS) ** len(EDGES)

    @property
    def param_groups(self) -> tuple[ParamGroup, ...]:
        return (ParamGroup("cell", tuple(OPS for _ in EDGES)),)

    def to_str(self, arch: Architecture) -> str:
        self.check(arch)
        parts = [f"{OPS[c]}~{src}" for c, (_, src) in zip(arch.choices, EDGES)]
        return f"|{parts[0]}|{parts[1]}|+|{parts[2]}|{parts[3]}|"

    def from_str(self, text: str) -> Architecture:
        if not isinstance(text, str):
            raise ArchitectureError(f"S5 architecture must be a string, got {type(text).__name__} {str(text)[:80]!r}")
        check_arch_text(text)
        halves = text.strip().split("+")
        if len(halves) != 2:
            raise ArchitectureError(f"malformed S5 architecture string {text!r} "
                                    "(expected |op~k-2|op~k-1|+|op~k-1|op~n0|)")
        choices = []
        for node, half in enumerate(halves):
            m = _PART.match(half)
            if not m:
                raise ArchitectureError(f"malformed S5 architecture string {text!r} "
                                        "(expected |op~k-2|op~k-1|+|op~k-1|op~n0|)")
            for j, (op, src) in enumerate(((m[1], m[2]), (m[3], m[4]))):
                want = EDGES[2 * node + j][1]
                if src != want:
                    raise ArchitectureError(f"S5 architecture {text!r}: edge {2 * node + j} must read {want!r}, got {src!r}")
                if op not in OPS:
                    raise ArchitectureError(f"S5 architecture {text!r}: unknown op {op!r} (ops: {', '.join(OPS)})")
                choices.append(OPS.index(op))
        return Architecture(self.name, tuple(choices))

    def validate(self, arch: Architecture) -> None:
        if len(arch.choices) != len(EDGES) or any(not 0 <= c < len(OPS) for c in arch.choices):
            raise ArchitectureError(f"{arch.choices} is not an S5 architecture (4 op indices in 0..2)")

    def index(self, arch: Architecture) -> int:
        self.check(arch)
        i = 0
        for c in arch.choices:
            i = i * len(OPS) + c
        return i

    def from_index(self, index: int) -> Architecture:
        if not 0 <= index < self.size:
            raise ArchitectureError(f"S5 index {index} out of range 0..{self.size - 1}")
        digits = []
        for _ in EDGES:
            index, d = divmod(index, len(OPS))
            digits.append(d)
        return Architecture(self.name, tuple(reversed(digits)))

    def enumerate(self) -> Iterator[Architecture]:
        for c in itertools.product(range(len(OPS)), repeat=len(EDGES)):
            yield Architecture(self.name, c)

    def default_config(self) -> SupernetConfig:
        # Sized for the embedded digits setting: C=8, 3 cells (reductions at
        # cells 1 and 2 by the DARTS rule: 8x8 -> 4x4 -> 2x2), search BN without affine.
        return SupernetConfig(channels=8, depth=3, num_classes=10, in_channels=1, input_size=8,
                              track_running_stats=False, affine=False)

    def build_supernet(self, config: SupernetConfig) -> nn.Module:
        from search_spaces.s5.network import S5Network

        return S5Network(config, arch=None)

    def build_network(self, arch: Architecture, config: SupernetConfig) -> nn.Module:
        from search_spaces.s5.network import S5Network

        # stand-alone networks use affine BN that tracks running statistics
        return S5Network(config.with_overrides(affine=True, track_running_stats=True), arch=self.check(arch))
