"""S5: the 81-architecture DARTS-style space (RobustDARTS names it; its op set is ours).

- a cell has inputs c_{k-2}, c_{k-1} and 2 intermediate nodes n0, n1;
- 4 edges, in this order: c_{k-2}->n0, c_{k-1}->n0, c_{k-1}->n1, n0->n1;
- every edge chooses from {none, skip_connect, sep_conv_3x3} (in that index order);
- the cell outputs concat(n0, n1); normal and reduction cells share the
  architecture, so there is one weight group ``"cell"`` of shape ``[4, 3]``.

String form (identical to ``search_spaces.s5``, so tables keyed by it stay
valid): one ``|op~input|`` per edge, the two nodes joined by ``+``::

    |sep_conv_3x3~k-2|skip_connect~k-1|+|none~k-1|sep_conv_3x3~n0|

The index is lexicographic in the op indices, first edge most significant
(index 0 = all ``none``, 80 = all ``sep_conv_3x3``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from search_spaces.architecture import Architecture
from search_spaces.darts.network import DartsNetwork, DiscreteCell, EvalNetConfig
from search_spaces.darts.spaces import S5_OPS, S5_SPEC
from search_spaces.darts.supernet import DartsSupernet
from search_spaces.errors import ArchitectureError
from search_spaces.errors import check_arch_text
from search_spaces.space import ParamGroup, SearchSpace, SupernetConfig

#: Input name of each edge in the string form.
_INPUT_NAMES = ("k-2", "k-1", "n0")
_SOURCES = tuple(_INPUT_NAMES[src] for _, src in S5_SPEC.edges)
_PART = re.compile(r"\|([a-z0-9_]+)~([a-z0-9-]+)\|([a-z0-9_]+)~([a-z0-9-]+)\|")
_EXPECTED = "expected |op~k-2|op~k-1|+|op~k-1|op~n0| with op in " + ", ".join(S5_OPS)


class S5Space(SearchSpace):
    """The S5 space: 3^4 = 81 architectures; ``choices`` = op index per edge."""

    name = "s5"
    size = len(S5_OPS) ** len(S5_SPEC.edges)

    @property
    def param_groups(self) -> tuple[ParamGroup, ...]:
        return (ParamGroup("cell", S5_SPEC.options["cell"]),)

    # -- encoding -------------------------------------------------------
    def to_str(self, arch: Architecture) -> str:
        self.check(arch)
        parts = [f"{S5_OPS[c]}~{src}" for c, src in zip(arch.choices, _SOURCES)]
        return f"|{parts[0]}|{parts[1]}|+|{parts[2]}|{parts[3]}|"

    def from_str(self, text: str) -> Architecture:
        if not isinstance(text, str):
            raise ArchitectureError(f"S5 architecture must be a string, got {type(text).__name__} {str(text)[:80]!r}")
        check_arch_text(text)
        halves = text.strip().split("+")
        matches = [_PART.fullmatch(h) for h in halves]
        if len(halves) != 2 or not all(matches):
            raise ArchitectureError(f"malformed S5 architecture string {text!r} ({_EXPECTED})")
        pairs = [p for m in matches for p in ((m[1], m[2]), (m[3], m[4]))]
        choices = []
        for e, (op, src) in enumerate(pairs):
            if src != _SOURCES[e]:
                raise ArchitectureError(f"S5 architecture {text!r}: edge {e} must read {_SOURCES[e]!r}, "
                                        f"got {src!r} ({_EXPECTED})")
            if op not in S5_OPS:
                raise ArchitectureError(f"S5 architecture {text!r}: unknown op {op!r} ({_EXPECTED})")
            choices.append(S5_OPS.index(op))
        return Architecture(self.name, tuple(choices))

    def validate(self, arch: Architecture) -> None:
        if len(arch.choices) != len(S5_SPEC.edges) or any(not 0 <= c < len(S5_OPS) for c in arch.choices):
            raise ArchitectureError(f"{arch.choices} is not an S5 architecture (4 op indices in 0..2)")

    # -- enumeration ----------------------------------------------------
    def index(self, arch: Architecture) -> int:
        self.check(arch)
        i = 0
        for c in arch.choices:
            i = i * len(S5_OPS) + c
        return i

    def from_index(self, index: int) -> Architecture:
        if not 0 <= int(index) < self.size:
            raise ArchitectureError(f"S5 index {index} out of range 0..{self.size - 1}")
        digits, index = [], int(index)
        for _ in S5_SPEC.edges:
            index, d = divmod(index, len(S5_OPS))
            digits.append(d)
        return Architecture(self.name, tuple(reversed(digits)))

    def enumerate(self) -> Iterator[Architecture]:
        for c in itertools.product(range(len(S5_OPS)), repeat=len(S5_SPEC.edges)):
            yield Architecture(self.name, c)

    def sample(self, rng: np.random.Generator) -> Architecture:
        return Architecture(self.name, tuple(int(x) for x in rng.integers(0, len(S5_OPS), len(S5_SPEC.edges))))

    # -- weights --------------------------------------------------------
    def discretize(self, weights: dict[str, torch.Tensor]) -> Architecture:
        """Argmax per edge (ties: lowest op index)."""
        return Architecture(self.name, tuple(weights["cell"].detach().argmax(-1).tolist()))

    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        self.check(arch)
        w = torch.zeros(len(S5_SPEC.edges), len(S5_OPS))
        w[torch.arange(len(S5_SPEC.edges)), torch.tensor(arch.choices)] = 1.0
        return {"cell": w}

    # -- networks -------------------------------------------------------
    def default_config(self) -> SupernetConfig:
        """Sized for the digits dataset and a fast CPU search.

        1 x 8 x 8 inputs, 10 classes; C=8 and 3 cells. By the DARTS rule
        (reductions at ``depth // 3`` and ``2 * depth // 3``) cells 1 and 2 both
        reduce: 8x8 -> 4x4 -> 2x2 with 8, 16, 32 channels per node. Search BN
        without affine parameters or running statistics. C=8 (not 16) keeps the
        shipped ``s5-digits`` table, tabulated at the legacy default C=8, valid
        for default-size networks, and a DARTS epoch on 540 images under ~1 s.
        """
        return SupernetConfig(channels=8, depth=3, num_classes=10, in_channels=1, input_size=8,
                              track_running_stats=False, affine=False)

    def build_supernet(self, config: SupernetConfig) -> nn.Module:
        return DartsSupernet(S5_SPEC, config)

    def discrete_cell(self, arch: Architecture) -> DiscreteCell:
        """The chosen edges of ``arch`` (``none`` edges dropped), concatenating both nodes."""
        self.check(arch)
        edges = tuple((node, src, S5_OPS[c]) for (node, src), c in zip(S5_SPEC.edges, arch.choices)
                      if S5_OPS[c] != "none")
        return DiscreteCell(S5_SPEC.steps, edges, (2, 3))

    def build_network(self, arch: Architecture, config: SupernetConfig,
                      eval_config: EvalNetConfig | None = None) -> nn.Module:
        """Discrete network: only the chosen ops, affine BN; a node without inputs outputs zeros."""
        cell = self.discrete_cell(arch)
        return DartsNetwork(cell, cell, config.with_overrides(affine=True, track_running_stats=True), eval_config)
