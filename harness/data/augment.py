"""Batched, on-device normalisation and augmentation driven by an explicit generator."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentSpec:
    """Random crop with zero padding ``pad`` and optional horizontal flip."""

    pad: int = 4
    flip: bool = True


#: Per dataset: NB-201 uses pad 4 + flip on CIFAR, pad 2 + flip on ImageNet16;
#: digits get a 1-pixel crop jitter and no flip (digits are not mirror-invariant).
AUGMENT = {"cifar10": AugmentSpec(4, True), "cifar100": AugmentSpec(4, True),
           "ImageNet16-120": AugmentSpec(2, True), "digits": AugmentSpec(1, False)}


def normalize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` -> float32 ``(x / 255 - mean) / std``."""
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x.float() / 255.0 - m) / s


def augment(x: torch.Tensor, spec: AugmentSpec, generator: torch.Generator) -> torch.Tensor:
    """Random crop (zero pad ``spec.pad``) and flip of a float batch ``[B, C, H, W]``.

    One gather for the whole batch: per-image offsets index a padded copy.
    """
    b, c, h, w = x.shape
    dev = x.device
    if spec.pad > 0:
        p = spec.pad
        xp = F.pad(x, (p, p, p, p))
        oy = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=dev)
        ox = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=dev)
        rows = (oy[:, None] + torch.arange(h, device=dev)).view(b, 1, h, 1).expand(b, c, h, w + 2 * p)
        cols = (ox[:, None] + torch.arange(w, device=dev)).view(b, 1, 1, w).expand(b, c, h, w)
        x = torch.gather(torch.gather(xp, 2, rows), 3, cols)
    if spec.flip:
        f = torch.rand(b, generator=generator, device=dev) < 0.5
        x = torch.where(f.view(b, 1, 1, 1), x.flip(3), x)
    return x
