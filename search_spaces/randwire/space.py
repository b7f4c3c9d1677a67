"""Random-wired wide ResNet: the space of NSA's official network (thudzj/NSA, ``models/wrn_r.py``).

Deng et al.'s networks with stochastic architectures train one wide ResNet whose
three stages are each a DAG of ``NUM_NODES`` = 8 ReLU-Conv3x3-BN nodes (the
official ``--num_nodes`` default). The wiring of a stage is a lower-triangular
0/1 matrix ``a`` of size ``(n+1) x (n+1)``: row ``i < n`` lists the inputs of
node ``i`` (column 0 is the stage input, column ``j > 0`` node ``j-1``), row
``n`` the stage output; the diagonal is always 1 (every node reads its
predecessor), entries above it are 0.

Encoding: one weight group per stage (``stage1..3``), one row per entry on or
below the diagonal (row-major: (0,0), (1,0), (1,1), (2,0), ...), options
``("off", "on")``. ``choices`` is the 0/1 entry per row, stage after stage.
String form: a stage's rows as bit strings joined by ``|``, stages by ``/``,
e.g. ``1|01|101|...``.

Architectures: ``sample`` draws every off-diagonal entry with probability 1/2;
``er_architecture(seed)`` draws the official pool member of that seed: per
stage ``RandomState(seed).rand(n+1, n+1) > arch_p`` below the diagonal, stages
drawn in order from one generator (``WRN.__init__``; ``arch_p`` 0.7, so an
edge is on with probability 0.3 -- an Erdos-Renyi graph).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from search_spaces.architecture import Architecture
from search_spaces.errors import ArchitectureError
from search_spaces.errors import check_arch_text
from search_spaces.randwire.wiring import ENTRIES, NUM_NODES, STAGES
from search_spaces.space import ParamGroup, SearchSpace, SupernetConfig

_ROWS = len(ENTRIES)
_DIAG = tuple(k for k, (i, j) in enumerate(ENTRIES) if i == j)


def er_adjacency(seed: int, arch_p: float = 0.7, num_nodes: int = NUM_NODES) -> list[np.ndarray]:
    """The official pool member's three ``(n+1, n+1)`` adjacencies for ``seed`` (diagonal included)."""
    rs = np.random.RandomState(seed)
    eye = np.eye(num_nodes + 1, dtype=np.int64)
    return [np.tril(rs.rand(num_nodes + 1, num_nodes + 1) > arch_p, -1).astype(np.int64) + eye
            for _ in STAGES]


class RandWireSpace(SearchSpace):
    """Random-wired WRN stages (2^108 wirings; not enumerable)."""

    depth_meaning = "nodes per random-wired stage"

    name = "randwire"
    size = None

    @property
    def param_groups(self) -> tuple[ParamGroup, ...]:
        return tuple(ParamGroup(s, tuple(("off", "on") for _ in ENTRIES)) for s in STAGES)

    def adjacency(self, arch: Architecture) -> list[np.ndarray]:
        """The three stage adjacencies ``(n+1, n+1)`` of ``arch``."""
        self.check(arch)
        out = []
        for s in range(len(STAGES)):
            a = np.zeros((NUM_NODES + 1, NUM_NODES + 1), dtype=np.int64)
            for (i, j), c in zip(ENTRIES, arch.choices[s * _ROWS:(s + 1) * _ROWS]):
                a[i, j] = c
            out.append(a)
        return out

    def from_adjacency(self, adjs: list[np.ndarray]) -> Architecture:
        """Inverse of ``adjacency``."""
        if len(adjs) != len(STAGES):
            raise ArchitectureError(f"randwire needs {len(STAGES)} adjacencies, got {len(adjs)}")
        return self.check(Architecture(self.name, tuple(int(a[i, j]) for a in adjs for i, j in ENTRIES)))

    def er_architecture(self, seed: int, arch_p: float = 0.7) -> Architecture:
        """The official pool member of ``seed`` (see the module docstring)."""
        return self.from_adjacency(er_adjacency(seed, arch_p))

    def to_str(self, arch: Architecture) -> str:
        return "/".join("|".join("".join(str(v) for v in a[i, :i + 1]) for i in range(NUM_NODES + 1))
                        for a in self.adjacency(arch))

    def from_str(self, text: str) -> Architecture:
        if not isinstance(text, str):
            raise ArchitectureError(f"randwire architecture must be a string, got {type(text).__name__} {str(text)[:80]!r}")
        check_arch_text(text)
        stages = text.strip().split("/")
        rows = [s.split("|") for s in stages]
        if len(stages) != len(STAGES) or any(len(r) != NUM_NODES + 1 for r in rows) or any(
                len(b) != i + 1 or set(b) - {"0", "1"} for r in rows for i, b in enumerate(r)):
            raise ArchitectureError(f"malformed randwire architecture {text!r} (expected 3 stages joined by '/', each "
                                    f"{NUM_NODES + 1} rows of 1..{NUM_NODES + 1} bits joined by '|')")
        return self.check(Architecture(self.name, tuple(int(b) for r in rows for bits in r for b in bits)))

    def validate(self, arch: Architecture) -> None:
        c = arch.choices
        if len(c) != len(STAGES) * _ROWS or any(v not in (0, 1) for v in c):
            raise ArchitectureError(f"not a randwire architecture: {len(STAGES) * _ROWS} bits expected")
        if any(c[s * _ROWS + k] != 1 for s in range(len(STAGES)) for k in _DIAG):
            raise ArchitectureError("randwire architecture: the diagonal (each node reads its predecessor) must be 1")

    def sample(self, rng: np.random.Generator) -> Architecture:
        bits = rng.integers(0, 2, size=len(STAGES) * _ROWS)
        for s in range(len(STAGES)):
            bits[[s * _ROWS + k for k in _DIAG]] = 1
        return Architecture(self.name, tuple(int(b) for b in bits))

    def discretize(self, weights: dict[str, torch.Tensor]) -> Architecture:
        bits = []
        for s in STAGES:
            on = (weights[s].detach()[..., 1] > weights[s].detach()[..., 0]).long().tolist()
            bits += [1 if k in _DIAG else v for k, v in enumerate(on)]
        return Architecture(self.name, tuple(bits))

    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        self.check(arch)
        out = {}
        for s, name in enumerate(STAGES):
            c = torch.tensor(arch.choices[s * _ROWS:(s + 1) * _ROWS])
            w = torch.zeros(_ROWS, 2)
            w[torch.arange(_ROWS), c] = 1.0
            out[name] = w
        return out

    def default_config(self) -> SupernetConfig:
        # thudzj/NSA main_s.py: --width 10 (stage widths 160/320/640), CIFAR input; the script
        # forces affine BN with running statistics (args.affine = args.track_running_stats = True)
        return SupernetConfig(channels=160, depth=NUM_NODES, num_classes=10, in_channels=3, input_size=32,
                              track_running_stats=True, affine=True)

    def build_supernet(self, config: SupernetConfig) -> nn.Module:
        from search_spaces.randwire.network import RandWireWRN

        return RandWireWRN(config)

    def build_network(self, arch: Architecture, config: SupernetConfig) -> nn.Module:
        from search_spaces.randwire.network import FixedWiring, RandWireWRN

        net = RandWireWRN(config.with_overrides(affine=True, track_running_stats=True))
        return FixedWiring(net, self.one_hot(arch))
