"""Discrete DARTS networks in evaluation form (stand-alone training).

Same skeleton as the supernet (stem 3C, reduction cells at ``depth // 3`` and
``2 * depth // 3``, none when ``depth < 3``), but every cell runs only its
chosen ops, with affine BN, plain pooling and drop-path on non-identity ops
in training. An optional auxiliary head after cell ``2 * depth // 3`` makes
``forward`` return ``(logits, aux_logits)`` in training mode.

A cell is described by ``DiscreteCell``: ``(node, input state, op)`` triples
(state 0 = c_{k-2}, 1 = c_{k-1}, 2 + i = node i) plus the concatenated
states, so DARTS genotypes (two inputs per node) and S5 cells (``none``
edges dropped, possibly fewer inputs) share one implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from search_spaces.darts.genotype import Genotype
from search_spaces.darts.ops import FactorizedReduce, ReLUConvBN, drop_path, is_identity, make_op
from search_spaces.darts.supernet import STEM_MULTIPLIER, reduction_cells
from search_spaces.space import SupernetConfig


@dataclass(frozen=True)
class EvalNetConfig:
    """Evaluation-only settings of a discrete network (kept out of ``SupernetConfig``).

    Attributes:
        auxiliary: Add the auxiliary head (returns ``(logits, aux)`` in training).
        drop_path_prob: Drop-path probability of non-identity ops in training;
            a schedule may overwrite the network's ``drop_path_prob`` attribute.
    """

    auxiliary: bool = False
    drop_path_prob: float = 0.0


@dataclass(frozen=True)
class DiscreteCell:
    """The chosen edges of one cell type.

    Attributes:
        steps: Intermediate nodes.
        edges: ``(node, input state, op name)`` per kept edge.
        concat: States concatenated into the cell output.
    """

    steps: int
    edges: tuple[tuple[int, int, str], ...]
    concat: tuple[int, ...]

    @classmethod
    def from_genotype(cls, pairs: Sequence[tuple[str, int]], concat: Sequence[int]) -> DiscreteCell:
        """DARTS genotype half: pairs ``2i, 2i+1`` feed node ``i``."""
        return cls(len(pairs) // 2, tuple((i // 2, src, op) for i, (op, src) in enumerate(pairs)), tuple(concat))


class EvalCell(nn.Module):
    """One cell running only its chosen ops: ``[B, c_pp, ...], [B, c_p, H, W] -> [B, len(concat) * c, H', W']``."""

    def __init__(self, cell: DiscreteCell, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.cell, self.reduction = cell, reduction
        self.pre0 = FactorizedReduce(c_pp, c, True) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, True)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, True)
        self.ops = nn.ModuleList(make_op(op, c, 2 if reduction and src < 2 else 1, affine=True, track=True)
                                 for _, src, op in cell.edges)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(self.cell.steps):
            acc: torch.Tensor | None = None
            for (n, src, _), op in zip(self.cell.edges, self.ops):
                if n != node:
                    continue
                y = op(states[src])
                if self.training and drop_prob > 0.0 and not is_identity(op):
                    y = drop_path(y, drop_prob)
                acc = y if acc is None else acc + y
            if acc is None:  # a node without inputs outputs zeros of node shape
                s = 2 if self.reduction else 1
                acc = states[1][:, :, ::s, ::s].mul(0.0)
            states.append(acc)
        return torch.cat([states[i] for i in self.cell.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS auxiliary classifier: ``[B, C, H, W] -> [B, num_classes]``.

    DARTS pools an 8x8 map with a 5x5/stride-3 window to 2x2; an adaptive pool
    to 2x2 is used instead so that any input size works (on 8x8 the windows
    differ slightly: 4x4 non-overlapping instead of 5x5 overlapping).
    """

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(2), nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128),
            nn.ReLU(), nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU())
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class DartsNetwork(nn.Module):
    """Stand-alone DARTS network: ``[B, C_in, H, W] -> [B, K]`` (or ``(logits, aux)``, see module doc).

    Args:
        normal, reduce: The chosen cells.
        config: ``channels`` (C), ``depth`` (cells), input/output sizes (BN is always affine here).
        eval_config: Auxiliary head and drop-path.
    """

    def __init__(self, normal: DiscreteCell, reduce: DiscreteCell, config: SupernetConfig,
                 eval_config: EvalNetConfig | None = None) -> None:
        super().__init__()
        eval_config = eval_config or EvalNetConfig()
        self.normal, self.reduce, self.config = normal, reduce, config
        self.drop_path_prob = eval_config.drop_path_prob
        c = config.channels
        c_stem = STEM_MULTIPLIER * c
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, c_stem, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_stem))
        reductions = reduction_cells(config.depth)
        self.aux_pos = 2 * config.depth // 3
        c_pp, c_p, c_cur, red_prev = c_stem, c_stem, c, False
        self.cells = nn.ModuleList()
        self.aux_head: AuxiliaryHead | None = None
        for i in range(config.depth):
            red = i in reductions
            if red:
                c_cur *= 2
            cell = reduce if red else normal
            self.cells.append(EvalCell(cell, c_pp, c_p, c_cur, red, red_prev))
            c_pp, c_p, red_prev = c_p, len(cell.concat) * c_cur, red
            if eval_config.auxiliary and i == self.aux_pos:
                self.aux_head = AuxiliaryHead(c_p, config.num_classes)
        self.classifier = nn.Linear(c_p, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_pos and self.aux_head is not None and self.training:
                aux = self.aux_head(s1)
        logits = self.classifier(s1.mean(dim=(2, 3)))
        return (logits, aux) if aux is not None else logits


def network_from_genotype(genotype: Genotype, config: SupernetConfig,
                          eval_config: EvalNetConfig | None = None) -> DartsNetwork:
    """The evaluation network of a DARTS genotype."""
    return DartsNetwork(DiscreteCell.from_genotype(genotype.normal, genotype.normal_concat),
                        DiscreteCell.from_genotype(genotype.reduce, genotype.reduce_concat), config, eval_config)
