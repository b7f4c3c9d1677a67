"""Which images a search trains on, where architecture batches come from, and how long an epoch is.

Three protocols (a preset value, ``harness protocol SPACE OPT`` prints its source):

- ``nb201``: AutoDL-Projects' NB-201 search (``get_nas_search_loaders`` + ``SearchDataset``): weights on
  the train part (CIFAR-10: one half of the training set; CIFAR-100 / ImageNet16-120: the whole training
  set), architecture batches from the valid part (CIFAR-10: the other half; CIFAR-100 / ImageNet16-120:
  the x-valid half of the test set), drawn endlessly; an epoch is one pass over the train part with its
  last, smaller batch (a DataLoader without ``drop_last``): 391 / 782 / 2,371 steps at batch 64.
- ``train-halves``: the DARTS-derived scripts (DARTS, RobustDARTS, SDARTS, DrNAS, PC-DARTS,
  nasbench-1shot1): ``train_portion`` 0.5 of the *training* set for weights, the rest for architecture
  batches, on every dataset (the test set is never touched); an epoch is one pass over the first half
  with its last batch (391 steps for 50,000 training images at batch 64).
- ``ours``: the harness's own demo protocol (embedded S5/digits, NSA's studies): NB-201's split
  semantics, an epoch of ``min`` passes of full batches.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from harness.data.loader import BatchStream, search_streams
from harness.data.splits import halves

SEARCH_SPLITS = ("nb201", "train-halves", "ours")


def search_data(splits: Any, mode: str) -> Any:
    """``splits`` with ``search_train`` / ``search_valid`` as ``mode`` says (``train-halves``: the class-
    balanced seed-0 halves of the training split; otherwise unchanged)."""
    if mode not in SEARCH_SPLITS:
        raise ValueError(f"search split must be one of {SEARCH_SPLITS}, got {mode!r}")
    if mode != "train-halves":
        return splits
    x, y = splits.train
    first, second = halves(y.cpu().numpy())
    a, b = torch.as_tensor(first, device=y.device), torch.as_tensor(second, device=y.device)
    return dataclasses.replace(splits, search_train=(x[a], y[a]), search_valid=(x[b], y[b]))


def steps_per_epoch(mode: str, n_train: int, n_valid: int, batch_size: int) -> int:
    """Search steps of one epoch: a pass over the train part with its last batch (official modes), or
    ``min`` of full-batch passes (``ours``)."""
    if mode == "ours":
        return min(n_train // batch_size, n_valid // batch_size)
    return math.ceil(n_train / batch_size)


def search_setup(splits: Any, mode: str, batch_size: int, seed: int, device: torch.device | str | None = None
                 ) -> tuple[BatchStream, BatchStream, int]:
    """``(train stream, architecture-batch stream, steps per epoch)`` of ``mode`` on ``splits`` already split by
    ``search_data`` (callers split once, where they load the data). The official loaders keep the last, smaller
    batch of a pass (``ours``: full batches); architecture batches are full."""
    train_s, valid_s = search_streams(splits, batch_size, seed, device, drop_last_train=mode == "ours")
    return train_s, valid_s, steps_per_epoch(mode, len(splits.search_train[1]), len(splits.search_valid[1]),
                                             batch_size)


def describe(mode: str) -> str:
    """One line for ``config.json``: where architecture batches come from."""
    return {"nb201": "weights: the train part; architecture batches: the valid part (x-valid on CIFAR-100 / "
                     "ImageNet16-120), drawn endlessly; an epoch is one pass over the train part",
            "train-halves": "weights: the first half of the training set; architecture batches: the second "
                            "half; an epoch is one pass over the first half",
            "ours": "NB-201 split semantics; an epoch is min(train, valid) passes of full batches"}[mode]


def planned_sizes(mode: str, sizes: dict[str, int]) -> tuple[int, int]:
    """``(weight images, architecture-batch images)`` of ``mode`` for a dataset whose ``DatasetSplits.sizes()``
    are ``sizes`` (what ``search_data`` gives, without loading anything)."""
    if mode == "train-halves":
        return sizes["train"] // 2, sizes["train"] - sizes["train"] // 2  # floor(0.5 n) first, as DARTS
    return sizes["search_train"], sizes["search_valid"]
