"""Batched, on-device normalisation and augmentation driven by an explicit generator.

NB-201 trains with ``RandomCrop(size, padding)`` and ``RandomHorizontalFlip``
applied to the raw image, then ``ToTensor`` and ``Normalize``: the padding is
black (raw 0), not the mean colour. ``augment_and_normalize`` keeps that order.
``augment`` itself works on any dtype and pads with 0 in whatever domain it is
given.

=================  ===  ====
dataset            pad  flip
=================  ===  ====
cifar10, cifar100  4    yes
ImageNet16-120     2    yes
digits             1    no (digits are not mirror-invariant)
=================  ===  ====
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from search_spaces.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class AugmentSpec:
    """Random crop of the input size from a zero-padded copy, then an optional horizontal flip.

    Attributes:
        pad: Zero padding on each side before cropping (0: no crop).
        flip: Mirror each image left-right with probability 1/2.
    """

    pad: int
    flip: bool

    def __post_init__(self) -> None:
        if isinstance(self.pad, bool) or not isinstance(self.pad, int) or self.pad < 0:
            raise ConfigError(f"augmentation pad must be a non-negative integer, got {self.pad!r}")
        if not isinstance(self.flip, bool):
            raise ConfigError(f"augmentation flip must be True or False, got {self.flip!r}")

    @property
    def identity(self) -> bool:
        """True when the spec changes nothing (and draws no random numbers)."""
        return self.pad == 0 and not self.flip


#: The NB-201 training augmentation per dataset (see the module table).
AUGMENT: dict[str, AugmentSpec] = {"cifar10": AugmentSpec(4, True), "cifar100": AugmentSpec(4, True),
                                   "ImageNet16-120": AugmentSpec(2, True), "digits": AugmentSpec(1, False)}


def augment_spec(dataset: str) -> AugmentSpec:
    """The training augmentation of ``dataset``; ``UnknownNameError`` for other names."""
    if dataset not in AUGMENT:
        raise UnknownNameError("dataset", dataset, AUGMENT)
    return AUGMENT[dataset]


@functools.lru_cache(maxsize=64)
def _stats(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # built once per device: a fresh host->device copy every step would stall the GPU queue
    m = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return m, s


def normalize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` in 0..255 -> float32 ``(x / 255 - mean) / std``, same shape and device."""
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise TypeError(f"normalize expects uint8 [B, C, H, W] images, got {x.dtype} {list(x.shape)}")
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ValueError(f"mean/std have {len(mean)}/{len(std)} values for {x.shape[1]} channels")
    m, s = _stats(tuple(map(float, mean)), tuple(map(float, std)), x.device)
    return (x.float() / 255.0 - m) / s


def augment(x: torch.Tensor, spec: AugmentSpec, generator: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding ``spec.pad``) and flip of a batch ``[B, C, H, W]`` (any dtype).

    Draws, in this order: row offsets ``[B]`` and column offsets ``[B]`` (only if
    ``pad > 0``), then flip coins ``[B]`` (only if ``flip``), all from
    ``generator``. Crop and flip become one gather over the padded batch, so
    there is no loop over images and no host synchronisation.

    Returns:
        A tensor of the same shape, dtype and device as ``x`` (``x`` itself for
        an identity spec).
    """
    if spec.identity:
        return x
    b, c, h, w = x.shape
    p, dev, gdev = spec.pad, x.device, generator.device
    rows = torch.arange(h, device=dev).expand(b, h)
    cols = torch.arange(w, device=dev).expand(b, w)
    if p > 0:
        x = F.pad(x, (p, p, p, p))
        oy = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=gdev).to(dev)
        ox = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=gdev).to(dev)
        rows, cols = rows + oy[:, None], cols + ox[:, None]
    if spec.flip:
        mirror = (torch.rand(b, generator=generator, device=gdev) < 0.5).to(dev)
        # flipping a crop reverses its columns: column j reads column w-1-j
        cols = torch.where(mirror[:, None], cols.flip(1), cols)
    wp = w + 2 * p
    index = (rows[:, :, None] * wp + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    return torch.gather(x.reshape(b, c, -1), 2, index).view(b, c, h, w)


def augment_and_normalize(x: torch.Tensor, spec: AugmentSpec | None, generator: torch.Generator,
                          mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` -> augmented (padding = black) and normalised float32 ``[B, C, H, W]``.

    With ``spec`` None or an identity spec this is exactly ``normalize(x, mean, std)``.
    """
    if spec is not None:
        x = augment(x, spec, generator)
    return normalize(x, mean, std)


def cutout(x: torch.Tensor, length: int, prob: float, generator: torch.Generator) -> torch.Tensor:
    """DARTS-style Cutout of a normalised batch ``[B, C, H, W]`` (RobustDARTS ``src/utils.py`` ``Cutout``).

    Per image, with probability ``prob``: a centre ``(y, x)`` uniform over the
    pixels, and the square ``[y - length // 2, y + length // 2)`` x
    ``[x - length // 2, x + length // 2)``, clipped to the image, set to 0 (after
    normalisation, as the official transform list applies it last). Draws, in
    this order: coins ``[B]``, centre rows ``[B]``, centre columns ``[B]``.
    """
    if length <= 0 or prob <= 0.0:
        return x
    b, _, h, w = x.shape
    dev, gdev = x.device, generator.device
    on = (torch.rand(b, generator=generator, device=gdev) < prob).to(dev)
    cy = torch.randint(0, h, (b,), generator=generator, device=gdev).to(dev)
    cx = torch.randint(0, w, (b,), generator=generator, device=gdev).to(dev)
    rows, cols = torch.arange(h, device=dev), torch.arange(w, device=dev)
    half = length // 2
    in_r = (rows[None, :] >= (cy - half)[:, None]) & (rows[None, :] < (cy + half)[:, None])
    in_c = (cols[None, :] >= (cx - half)[:, None]) & (cols[None, :] < (cx + half)[:, None])
    hole = in_r[:, :, None] & in_c[:, None, :] & on[:, None, None]
    return x * (~hole).unsqueeze(1).to(x.dtype)
