"""Batches drawn from on-device tensors with an explicit generator (no DataLoader).

A ``BatchStream`` is an endless sequence of batches: each pass over the split
is a fresh ``torch.randperm`` from the stream's generator, and augmentation
draws from the same generator, so the generator state plus the position in the
current pass determine every future batch. ``state_dict`` stores exactly that,
which makes a resumed run draw the batches an uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from harness.data.augment import AugmentSpec, augment_and_normalize, augment_spec, cutout
from search_spaces.errors import ConfigError

_STATE_VERSION = 1


class BatchStream:
    """Endless shuffled batches ``(x float32 [B, C, H, W], y int64 [B])`` on the data's device.

    Args:
        x: uint8 images ``[N, C, H, W]``.
        y: int64 labels ``[N]`` on the same device.
        batch_size: Examples per batch.
        generator: Source of every random draw; must live on the data's device
            (so drawing never waits on the host).
        augment: Training augmentation, or None for plain normalisation.
        mean, std: Per-channel normalisation (0..1 scale).
        drop_last: Skip the incomplete last batch of each pass (as the DARTS
            and NB-201 search loaders do); otherwise it is yielded smaller.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator,
                 augment: AugmentSpec | None, mean: tuple[float, ...], std: tuple[float, ...],
                 drop_last: bool = True) -> None:
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise TypeError(f"BatchStream expects uint8 [N, C, H, W] images, got {x.dtype} {list(x.shape)}")
        if y.shape != (len(x),) or y.device != x.device:
            raise ValueError(f"labels must be [{len(x)}] on {x.device}, got {list(y.shape)} on {y.device}")
        if generator.device.type != x.device.type:
            raise ValueError(f"generator is on {generator.device} but the data is on {x.device}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch size must be a positive integer, got {batch_size!r}")
        n = len(y)
        if n == 0 or (drop_last and batch_size > n):
            raise ConfigError(f"batch size {batch_size} exceeds the {n} examples of the split")
        self.x, self.y, self.batch_size, self.drop_last = x, y, batch_size, drop_last
        self.generator, self.augment = generator, augment
        self.mean, self.std = tuple(mean), tuple(std)
        self.epoch_len = n // batch_size if drop_last else -(-n // batch_size)
        #: Cutout after normalisation (length 0: off); the runner sets the probability per epoch.
        self.cutout_length, self.cutout_prob = 0, 0.0
        self._perm: torch.Tensor | None = None  # order of the current pass
        self._pos = 0  # batches of the current pass already drawn
        self.passes = 0  # shuffles done so far

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch; starts a new pass (new permutation) when the current one is used up."""
        if self._perm is None or self._pos >= self.epoch_len:
            self._perm = torch.randperm(len(self.y), generator=self.generator, device=self.generator.device)
            self._pos = 0
            self.passes += 1
        idx = self._perm[self._pos * self.batch_size:(self._pos + 1) * self.batch_size]
        self._pos += 1
        xb = augment_and_normalize(self.x.index_select(0, idx), self.augment, self.generator, self.mean, self.std)
        if self.cutout_length > 0 and self.cutout_prob > 0.0:
            xb = cutout(xb, self.cutout_length, self.cutout_prob, self.generator)
        return xb, self.y.index_select(0, idx)

    __next__ = next

    def restart(self) -> None:
        """Make the next batch the first of a new pass (a new permutation), as a fresh ``iter(DataLoader)``."""
        self._perm = None

    def __iter__(self) -> BatchStream:
        """The stream itself: iteration never ends, slice it (``itertools.islice``)."""
        return self

    def state_dict(self) -> dict[str, Any]:
        """Generator state, current permutation (CPU) and position; plain tensors and ints."""
        return {"version": _STATE_VERSION, "generator": self.generator.get_state(),
                "perm": None if self._perm is None else self._perm.cpu(), "pos": self._pos,
                "passes": self.passes, "n": len(self.y), "batch_size": self.batch_size,
                "drop_last": self.drop_last}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where the stream that produced ``state`` stopped.

        Raises:
            ConfigError: The state belongs to a stream over different data or batch size.
        """
        if state.get("version") != _STATE_VERSION:
            raise ConfigError(f"unsupported batch stream state (version {state.get('version')!r})")
        mine = {"n": len(self.y), "batch_size": self.batch_size, "drop_last": self.drop_last}
        theirs = {k: state.get(k) for k in mine}
        if mine != theirs:
            raise ConfigError(f"cannot resume a batch stream saved with {theirs} into one with {mine}")
        perm = state["perm"]
        self.generator.set_state(state["generator"])
        self._perm = None if perm is None else perm.to(self.generator.device)
        self._pos, self.passes = int(state["pos"]), int(state["passes"])


def set_cutout(streams, length: int, prob: float) -> None:
    """Cutout ``length`` (0: off) with probability ``prob`` on each of ``streams`` from their next batch on."""
    for s in streams:
        s.cutout_length, s.cutout_prob = int(length), float(prob)


def derive_seed(seed: int, stream: int) -> int:
    """A 63-bit seed for sub-stream ``stream`` of run ``seed`` (independent streams, reproducible)."""
    words = np.random.SeedSequence([seed, stream]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def search_streams(splits: Any, batch_size: int, seed: int, device: torch.device | str | None = None,
                   augment: bool = True, drop_last_train: bool = True) -> tuple[BatchStream, BatchStream]:
    """``(search_train stream, search_valid stream)`` with generators seeded from ``seed``.

    Both use the dataset's training augmentation, as in NB-201 where the
    search-valid data gets the training transform. Each stream has its own
    generator (sub-streams 1 and 2 of ``seed``), so how many batches one
    consumes never changes the other.

    Args:
        splits: A ``DatasetSplits``.
        device: Device of the generators; defaults to (and must match) the data's.
        drop_last_train: Skip the smaller last batch of each pass over the train split (False: keep it, as
            the official search loaders do; ``harness.data.search_split``). Architecture batches are full.
    """
    dev = torch.device(device) if device is not None else splits.device
    spec = augment_spec(splits.name) if augment else None
    gens = [torch.Generator(device=dev).manual_seed(derive_seed(seed, k)) for k in (1, 2)]
    return (BatchStream(*splits.search_train, batch_size, gens[0], spec, splits.mean, splits.std,
                        drop_last=drop_last_train),
            BatchStream(*splits.search_valid, batch_size, gens[1], spec, splits.mean, splits.std))


def selection_stream(splits: Any, batch_size: int, seed: int, augment: bool = False,
                     device: torch.device | str | None = None) -> BatchStream:
    """Batches of the search-valid split for scoring candidates (sub-stream 3 of ``seed``).

    As AutoDL's ``valid_loader``: shuffled, the last batch of a pass kept smaller
    (no ``drop_last``), the batch capped at the split's size; ``augment`` gives it
    the training augmentation (ENAS), else plain normalisation (RS-ws, SETN).
    """
    dev = torch.device(device) if device is not None else splits.device
    x, y = splits.search_valid
    gen = torch.Generator(device=dev).manual_seed(derive_seed(seed, 3))
    spec = augment_spec(splits.name) if augment else None
    return BatchStream(x, y, min(batch_size, len(y)), gen, spec, splits.mean, splits.std, drop_last=False)
