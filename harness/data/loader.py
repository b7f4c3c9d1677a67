"""Batches drawn from on-device tensors with an explicit generator (no DataLoader)."""

from __future__ import annotations

from typing import Any

import torch

from harness.data.augment import AUGMENT, AugmentSpec, augment, normalize


class BatchStream:
    """Endless shuffled batches of ``(x float32 [B, C, H, W], y int64 [B])``.

    Each pass over the data uses a fresh permutation from ``generator``; the
    last incomplete batch is dropped (``drop_last``), as the DARTS loaders do.
    ``state_dict`` captures the generator and the position, so a resumed
    stream yields exactly the batches an uninterrupted one would.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator,
                 augment_spec: AugmentSpec | None, mean: tuple[float, ...], std: tuple[float, ...],
                 drop_last: bool = True) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.generator, self.spec, self.mean, self.std = generator, augment_spec, mean, std
        n = len(y)
        self.epoch_len = n // batch_size if drop_last else -(-n // batch_size)
        self._perm: torch.Tensor | None = None
        self._pos = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch (starts a new pass when the current one is used up)."""
        if self._perm is None or self._pos >= self.epoch_len:
            self._perm = torch.randperm(len(self.y), generator=self.generator, device=self.generator.device)
            self._pos = 0
        idx = self._perm[self._pos * self.batch_size:(self._pos + 1) * self.batch_size].to(self.x.device)
        self._pos += 1
        xb = normalize(self.x[idx], self.mean, self.std)
        if self.spec is not None:
            xb = augment(xb, self.spec, self.generator)
        return xb, self.y[idx]

    def __iter__(self):
        for _ in range(self.epoch_len):
            yield self.next()

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "perm": self._perm, "pos": self._pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self._perm, self._pos = state["perm"], state["pos"]


def search_streams(splits, batch_size: int, seed: int, device: torch.device | str) -> tuple[BatchStream, BatchStream]:
    """(search-train stream, search-valid stream), each with its own generator derived from ``seed``.

    Both get the dataset's augmentation, as in the NB-201 / DARTS search loaders.
    """
    spec = AUGMENT.get(splits.name)
    dev = torch.device(device)
    gens = [torch.Generator(device=dev).manual_seed(seed * 1000 + k) for k in (1, 2)]
    return (BatchStream(*splits.search_train, batch_size, gens[0], spec, splits.mean, splits.std),
            BatchStream(*splits.search_valid, batch_size, gens[1], spec, splits.mean, splits.std))
