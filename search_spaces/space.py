"""The search-space protocol.

A space describes (a) its discrete architectures, (b) the architecture-weight
groups its supernet consumes, and (c) how to build the supernet and the
discrete stand-alone network. It knows nothing about search algorithms.

Architecture weights are a ``dict[str, Tensor]``: one entry per
``ParamGroup``, shaped ``[rows, options]`` (or ``[B, rows, options]`` for
per-example weights). Every row is one categorical decision (for NB-201 a row
is an edge and the options are its five ops), so optimizers can treat all
spaces alike: softmax / Gumbel / Dirichlet along the last dimension.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from torch import nn

from search_spaces.architecture import Architecture
from search_spaces.errors import ArchitectureError, ConfigError


@dataclass(frozen=True)
class ParamGroup:
    """One group of architecture weights: ``rows`` categoricals.

    Attributes:
        name: Key in the weights dict ("cell", "normal", "reduce", ...).
        row_options: For each row, the names of its options (ops or parents).
            All rows of a group have the same number of options.
    """

    name: str
    row_options: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        widths = {len(r) for r in self.row_options}
        if len(widths) != 1:
            raise ValueError(f"group {self.name!r}: rows must have equal option counts, got {widths}")

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, options)``."""
        return len(self.row_options), len(self.row_options[0])


@dataclass(frozen=True)
class SupernetConfig:
    """Size and input of a supernet or discrete network.

    Optional weight keys a supernet may accept besides the groups: ``"edge_norm:<group>"``
    ``[rows]`` multiplies each edge's output (PC-DARTS edge normalisation).

    ``channels`` and ``depth`` are space-specific (NB-201: stem width and cells
    per stage; DARTS: initial channels and total cells; NB-101: stack width and
    cells per stack). ``track_running_stats`` controls BN in the search network.
    """

    channels: int = 16
    depth: int = 5
    num_classes: int = 10
    in_channels: int = 3
    input_size: int = 32
    track_running_stats: bool = False
    affine: bool = False
    #: K of partial-channel connections (PC-DARTS): mixed ops see C/K channels,
    #: the rest bypasses them, followed by a channel shuffle. 1 = all channels.
    partial_channels: int = 1

    def __post_init__(self) -> None:
        for f in ("channels", "depth", "num_classes", "in_channels", "input_size", "partial_channels"):
            if getattr(self, f) < 1:
                raise ConfigError(f"supernet config: {f} must be >= 1, got {getattr(self, f)}")

    def with_overrides(self, **kw: object) -> SupernetConfig:
        """A copy with the non-None entries of ``kw`` replaced."""
        names = {f.name for f in fields(self)}
        unknown = set(kw) - names
        if unknown:
            raise ConfigError(f"supernet config: unknown keys {sorted(unknown)} (known: {sorted(names)})")
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


class SearchSpace(ABC):
    """Base class of every registered space (stateless descriptor)."""

    name: str
    #: Number of architectures, or None when the space is not enumerable.
    size: int | None = None

    #: What ``SupernetConfig.depth`` counts in this space (``harness list``, ``--depth``'s errors).
    depth_meaning: str = "cells per stage"

    def check_depth(self, depth: int) -> None:
        """Refuse a depth this space's supernet cannot use, before any work (``ConfigError``). A cell space
        with a ``reduce`` group needs its two reduction cells (at ``depth // 3`` and ``2 * depth // 3``), so
        at least 3 cells; fewer would leave the reduce weights out of the graph."""
        if not isinstance(depth, int) or depth < 1:
            raise ConfigError(f"--depth must be a positive integer, got {depth!r}")
        if any(g.name == "reduce" for g in self.param_groups) and depth < 3:
            raise ConfigError(f"space {self.name!r}: --depth is the total number of cells here (reduction cells "
                              f"at depth//3 and 2*depth//3), so at least 3; got {depth}")

    # -- encoding -------------------------------------------------------
    @property
    @abstractmethod
    def param_groups(self) -> tuple[ParamGroup, ...]:
        """The architecture-weight groups the supernet takes."""

    @abstractmethod
    def to_str(self, arch: Architecture) -> str:
        """Official string form of ``arch``."""

    @abstractmethod
    def from_str(self, text: str) -> Architecture:
        """Parse the official string form; ``ArchitectureError`` quoting ``text`` otherwise."""

    @abstractmethod
    def validate(self, arch: Architecture) -> None:
        """Raise ``ArchitectureError`` if ``arch`` is not a member of this space."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Architecture:
        """One architecture drawn uniformly with ``rng``."""

    @abstractmethod
    def discretize(self, weights: dict[str, torch.Tensor]) -> Architecture:
        """The architecture the weights select (argmax rule of the space)."""

    @abstractmethod
    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """Weights that make the supernet compute exactly ``arch``."""

    def active_indices(self, arch: Architecture) -> dict[str, list[int]]:
        """Chosen option per row of each weight group (the argmax of ``one_hot``).

        ``one_hot`` is built on the host, so this never reads a device tensor;
        sparse supernet paths take these indices to skip unchosen ops.
        """
        return {k: v.argmax(-1).tolist() for k, v in self.one_hot(arch).items()}

    def enumerate(self) -> Iterator[Architecture]:
        """All architectures in canonical order (enumerable spaces only)."""
        raise ArchitectureError(f"space {self.name!r} cannot enumerate its architectures")

    def index(self, arch: Architecture) -> int:
        """Position of ``arch`` in ``enumerate()`` order."""
        raise ArchitectureError(f"space {self.name!r} has no architecture index")

    def from_index(self, index: int) -> Architecture:
        """Inverse of ``index``."""
        raise ArchitectureError(f"space {self.name!r} has no architecture index")

    # -- networks -------------------------------------------------------
    @abstractmethod
    def default_config(self) -> SupernetConfig:
        """Full-size config of the space's search protocol."""

    @abstractmethod
    def build_supernet(self, config: SupernetConfig) -> nn.Module:
        """Supernet with ``forward(x [B,C,H,W], weights) -> logits [B,K]``."""

    @abstractmethod
    def build_network(self, arch: Architecture, config: SupernetConfig) -> nn.Module:
        """Discrete stand-alone network of ``arch``."""

    # -- helpers shared by all spaces ---------------------------------
    def check(self, arch: Architecture) -> Architecture:
        """``arch`` if it belongs to this space, else ``ArchitectureError``."""
        if not isinstance(arch, Architecture) or arch.space != self.name:
            raise ArchitectureError(f"{arch!r} is not an architecture of space {self.name!r}")
        self.validate(arch)
        return arch

    def parse(self, arch: Architecture | str) -> Architecture:
        """Accept an ``Architecture`` or its string form."""
        return self.from_str(arch) if isinstance(arch, str) else self.check(arch)

    def zeros(self, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """All-zero weights of the right shapes (the usual init of architecture logits)."""
        return {g.name: torch.zeros(g.shape, device=device) for g in self.param_groups}

    @property
    def num_arch_params(self) -> int:
        """Total number of architecture weights."""
        return sum(r * o for r, o in (g.shape for g in self.param_groups))


class OpPerEdgeSpace(SearchSpace):
    """A space whose architecture is one op index per edge: ``choices[i]`` picks row ``i``'s
    option of its single weight group (NB-201, S5). Sampling, discretisation and the
    one-hot encoding follow from that and ``param_groups`` alone."""

    def sample(self, rng: np.random.Generator) -> Architecture:
        (group,) = self.param_groups
        rows, ops = group.shape
        return Architecture(self.name, tuple(int(x) for x in rng.integers(0, ops, size=rows)))

    def discretize(self, weights: dict[str, torch.Tensor]) -> Architecture:
        (group,) = self.param_groups
        return Architecture(self.name, tuple(weights[group.name].detach().argmax(-1).tolist()))

    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        self.check(arch)
        (group,) = self.param_groups
        w = torch.zeros(group.shape)
        w[torch.arange(group.shape[0]), torch.tensor(arch.choices)] = 1.0
        return {group.name: w}
