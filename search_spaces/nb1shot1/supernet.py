"""The NAS-Bench-1Shot1 one-shot search model (the paper's DARTS supernet).

Macro skeleton of NB-101: a 3x3 conv-BN-ReLU stem, three stacks of ``depth``
cells, 2x2 max-pooling (stride 2) and channel doubling between stacks, a 1x1
ReLU-conv-BN that maps the last cell's concatenated output back to the stack
width, global average pooling and a linear classifier.

Search cell with ``n`` choice blocks. Each block gets its own 1x1
conv-BN-ReLU projection of the cell input (NB-101 projects every edge from
the input); its candidate inputs are that projection and the outputs of all
earlier blocks. A block with a parent choice sums its candidates weighted by
its ``parents{v}`` row; a block without one sums its fixed parents. The block
then mixes its three ops with its ``ops`` row. The cell output is the
concatenation of a last input projection and all block outputs, weighted by
the ``output`` row, so it has ``(n + 1) * C`` channels. The n + 1 projections
read the same input and run as one 1x1 conv, BN and ReLU (``set_fused(False)``:
one module each, the reference the fused form is tested against).

Weights arrive already normalised (the optimizer applies softmax / sampling
per row); shapes ``[rows, options]`` or ``[B, rows, options]``. Note that
pooling here uses no padding (32 -> 16 -> 8, as NB-101), unlike the
reference PyTorch port, which pads by 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.fusion import cat_params, concat_batch_norm, pointwise_conv2d
from search_spaces.nb1shot1.structure import SpaceStructure
from search_spaces.nb101.network import ConvBnRelu
from search_spaces.space import SupernetConfig


def _coef(w: torch.Tensor, r: int, k: int) -> torch.Tensor:
    # shared weights give a scalar; per-example weights [B, rows, opts] a [B, 1, 1, 1] factor
    c = w[..., r, k]
    return c.view(-1, 1, 1, 1) if c.dim() == 1 else c


class ChoiceBlock(nn.Module):
    """Mixed op over maxpool3x3, conv3x3-bn-relu, conv1x1-bn-relu (``OPS`` order)."""

    def __init__(self, c: int, affine: bool, track: bool) -> None:
        super().__init__()
        self.conv3 = ConvBnRelu(c, c, 3, affine, track)
        self.conv1 = ConvBnRelu(c, c, 1, affine, track)

    def forward(self, x: torch.Tensor, w: torch.Tensor, row: int) -> torch.Tensor:
        pool = F.max_pool2d(x, 3, stride=1, padding=1)
        return _coef(w, row, 0) * pool + _coef(w, row, 1) * self.conv3(x) + _coef(w, row, 2) * self.conv1(x)


class SearchCell(nn.Module):
    """One 1Shot1 search cell; see the module docstring."""

    def __init__(self, structure: SpaceStructure, c_in: int, c: int, affine: bool, track: bool) -> None:
        super().__init__()
        self.s = structure
        n = structure.num_blocks
        self.proj = nn.ModuleList(ConvBnRelu(c_in, c, 1, affine, track) for _ in range(n + 1))
        self.blocks = nn.ModuleList(ChoiceBlock(c, affine, track) for _ in range(n))
        self.fixed = {v: opts[0] for v, opts in zip(range(1, n + 1), structure.parent_options) if len(opts) == 1}
        self.fused = True

    def _projections(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The n + 1 input projections; fused: one 1x1 conv over their concatenated kernels, one BN, one ReLU."""
        if not self.fused:
            return [p(x) for p in self.proj]
        y = pointwise_conv2d(x, cat_params([p.conv.weight for p in self.proj]))
        y = F.relu(concat_batch_norm(y, [p.bn for p in self.proj], None, self.training))
        return list(y.split(self.proj[0].conv.out_channels, dim=1))

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        n, states = self.s.num_blocks, []
        proj = self._projections(x)
        for b in range(n):
            v = b + 1
            cands = [proj[b], *states]  # vertex u's tensor is cands[u]
            if v in self.fixed:
                h = sum(cands[u] for u in self.fixed[v])
            else:
                wp = weights[f"parents{v}"]
                h = sum(_coef(wp, 0, u) * cands[u] for u in range(v))
            states.append(self.blocks[b](h, weights["ops"], b))
        wo = weights["output"]
        outs = [proj[n], *states]
        return torch.cat([_coef(wo, 0, u) * t for u, t in enumerate(outs)], dim=1)


class NB1Shot1Supernet(nn.Module):
    """One-shot model of a 1Shot1 space.

    Args:
        structure: The space's structure (blocks, parents).
        config: ``channels`` (stem / first-stack width, 16 in the search protocol),
            ``depth`` (cells per stack, 3), ``in_channels``, ``num_classes``,
            ``affine`` / ``track_running_stats`` of every BN.
    """

    def __init__(self, structure: SpaceStructure, config: SupernetConfig) -> None:
        super().__init__()
        self.structure, self.config = structure, config
        aff, trk, n = config.affine, config.track_running_stats, structure.num_blocks
        c = config.channels
        self.stem = ConvBnRelu(config.in_channels, c, 3, aff, trk)
        self.cells = nn.ModuleList()
        self.downsample_before: set[int] = set()
        c_in = c
        for stack in range(3):
            if stack > 0:
                self.downsample_before.add(len(self.cells))
                c *= 2
            for _ in range(config.depth):
                self.cells.append(SearchCell(structure, c_in, c, aff, trk))
                c_in = c * (n + 1)
        self.post = nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c, 1, bias=False),
                                  nn.BatchNorm2d(c, affine=aff, track_running_stats=trk))
        self.classifier = nn.Linear(c, config.num_classes)

    def set_fused(self, fused: bool) -> None:
        """Switch between fused input projections (one conv per cell) and one conv per projection."""
        for cell in self.cells:
            cell.fused = fused

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]
                ) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of ``x`` ``[B, C, H, W]``.

        Args:
            weights: ``"ops"`` ``[n, 3]``, ``"parents{v}"`` ``[1, v]``, ``"output"`` ``[1, n + 1]``
                (normalised), each optionally with a leading batch dimension ``B``; or a list of such
                dicts, one per cell (nasbench-1shot1's GDAS draws afresh in every cell).
        """
        per_cell = isinstance(weights, (list, tuple))
        if per_cell and len(weights) != len(self.cells):
            raise ValueError(f"per-cell weights: {len(weights)} dicts for {len(self.cells)} cells")
        h = self.stem(x)
        for i, cell in enumerate(self.cells):
            if i in self.downsample_before:
                h = F.max_pool2d(h, 2, stride=2)
            h = cell(h, weights[i] if per_cell else weights)
        h = self.post(h)
        return self.classifier(h.mean(dim=(2, 3)))
