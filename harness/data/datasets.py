"""Datasets with NAS-Bench-201 split semantics, held whole on the run's device.

Split sizes for the full official data (digits is fixed and always complete):

==============  ============  ============  =========  =========  ==========  =========
dataset         search_train  search_valid  train      valid      test        full_test
==============  ============  ============  =========  =========  ==========  =========
cifar10         25,000 (a)    25,000 (a)    50,000     = s_valid  10,000 (b)  = test
cifar100        = train       5,000 (c)     50,000     = s_valid  5,000 (c)   10,000 (f)
ImageNet16-120  = train       3,000 (c)     151,700    = s_valid  3,000 (c)   6,000 (f)
digits          538 (d)       539 (d)       1,077 (e)  360 (e)    360 (e)     = test
==============  ============  ============  =========  =========  ==========  =========

(a) The two halves of the official training set. NB-201 takes them from its
    ``cifar-split.txt``; put that file (JSON, keys ``train`` / ``valid``) in
    the data folder to use it, otherwise every class is shuffled with numpy
    seed 0 and cut in two (``splits.halves``; 2,500 per class on each side).
(b) The full official test set (NB-201's ``ori-test``).
(c) The ``x-valid`` / ``x-test`` halves of the official test set (CIFAR-100) or
    of the 120-class validation set (ImageNet16-120), from
    ``cifar100-test-split.txt`` / ``imagenet-16-120-test-split.txt`` (keys
    ``xvalid`` / ``xtest``) when present in the data folder, else stratified
    seed-0 halves as in (a) (x-valid gets the smaller half of an odd count).
(d) The digits train split, halved as in (a) (seed 0).
(e) scikit-learn's 1,797 digits split once with seed 0 by
    ``splits.stratified_split`` into test 360 and valid 360 (36 per class
    each) and train 1,077 (the rest).
(f) The whole official test set (CIFAR-100) / 120-class validation set
    (ImageNet16-120): what stand-alone retraining reports, as RobustDARTS's
    ``src/evaluation`` and DARTS's ``train.py`` test on the whole test set.

Split files are looked for in the batch folder and in the folder holding it.

Normalisation: the per-channel NB-201 mean/std for CIFAR-10, CIFAR-100 and
ImageNet16; for digits, the mean/std of the train split's pixels (population
std), rounded to 4 decimals so they do not depend on summation order.
``subset=n`` keeps a class-balanced, deterministic selection of ``n`` examples
of every split (original order preserved), for tests and tiny runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness.data import readers
from harness.data.splits import balanced_subset, halves, read_split_file, stratified_split
from search_spaces.errors import ConfigError, UnknownNameError

#: ``(x uint8 [N, C, H, W], y int64 [N])`` on one device.
Pair = tuple[torch.Tensor, torch.Tensor]

SPLITS = ("search_train", "search_valid", "train", "valid", "test", "full_test")


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset; ``mean``/``std`` None means computed from the train split."""

    num_classes: int
    in_channels: int
    input_size: int
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None


def _nb201(mean255: tuple[float, ...], std255: tuple[float, ...]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    # NB-201 writes its statistics on the 0..255 scale
    return tuple(v / 255 for v in mean255), tuple(v / 255 for v in std255)


DATASETS: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo(10, 3, 32, *_nb201((125.3, 123.0, 113.9), (63.0, 62.1, 66.7))),
    "cifar100": DatasetInfo(100, 3, 32, *_nb201((129.3, 124.1, 112.4), (68.2, 65.4, 70.4))),
    "ImageNet16-120": DatasetInfo(120, 3, 16, *_nb201((122.68, 116.66, 104.01), (63.22, 61.26, 65.09))),
    "digits": DatasetInfo(10, 1, 8, None, None),
}

#: The digits split sizes (test, valid, train), fixed and stratified with seed 0.
DIGITS_SIZES = (360, 360, 1077)


def list_datasets() -> list[str]:
    """Names accepted by ``load_dataset``."""
    return sorted(DATASETS)


@dataclass(frozen=True)
class DatasetSplits:
    """Every split as ``(x uint8 [N, C, H, W], y int64 [N])`` on one device (see the module table)."""

    name: str
    search_train: Pair
    search_valid: Pair
    train: Pair
    valid: Pair
    test: Pair
    full_test: Pair
    num_classes: int
    in_channels: int
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        shape = (self.in_channels, self.input_size, self.input_size)
        device = self.train[0].device
        for split in SPLITS:
            x, y = getattr(self, split)
            if x.dtype != torch.uint8 or tuple(x.shape[1:]) != shape:
                raise ValueError(f"{split}: images must be uint8 [N, {', '.join(map(str, shape))}], "
                                 f"got {x.dtype} {list(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (len(x),):
                raise ValueError(f"{split}: labels must be int64 [{len(x)}], got {y.dtype} {list(y.shape)}")
            if x.device != device or y.device != device:
                raise ValueError(f"{split}: every split must be on {device}")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels or min(self.std) <= 0:
            raise ValueError(f"mean/std need {self.in_channels} values each (std > 0)")

    @property
    def device(self) -> torch.device:
        """Where every split lives."""
        return self.train[0].device

    def sizes(self) -> dict[str, int]:
        """Number of examples per split."""
        return {s: len(getattr(self, s)[1]) for s in SPLITS}


def _pixel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    v = x.astype(np.float64) / 255.0
    axes = (0, 2, 3)
    return (tuple(round(float(m), 4) for m in v.mean(axis=axes)),
            tuple(round(float(s), 4) for s in v.std(axis=axes)))


def _splits_digits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x, y = readers.read_digits()
    te, va, tr = stratified_split(y, list(DIGITS_SIZES))
    s_tr, s_va = halves(y[tr])
    xt, yt = x[tr], y[tr]
    return {"search_train": (xt[s_tr], yt[s_tr]), "search_valid": (xt[s_va], yt[s_va]),
            "train": (xt, yt), "valid": (x[va], y[va]), "test": (x[te], y[te]), "full_test": (x[te], y[te])}


def _split_dirs(located: Path) -> list[Path]:
    # NB-201 keeps its split files next to the batch folder; accept them inside it too
    return [located, located.parent]


def _find_split(dirs: list[Path], fname: str, keys: tuple[str, str], n: int) -> tuple[np.ndarray, np.ndarray] | None:
    for d in dirs:
        got = read_split_file(d / fname, keys, n)
        if got is not None:
            return got
    return None


def _splits_cifar10(data_dir: str | Path | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    located = readers.locate(data_dir, "cifar10")
    (tx, ty), test = readers.read_cifar10(located)
    got = _find_split(_split_dirs(located), "cifar-split.txt", ("train", "valid"), len(ty))
    s_tr, s_va = got if got is not None else halves(ty)
    valid = (tx[s_va], ty[s_va])
    return {"search_train": (tx[s_tr], ty[s_tr]), "search_valid": valid, "train": (tx, ty), "valid": valid,
            "test": test, "full_test": test}


def _splits_halved_test(name: str, data_dir: str | Path | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    located = readers.locate(data_dir, name)
    if name == "cifar100":
        train, (ex, ey) = readers.read_cifar100(located)
        fname = "cifar100-test-split.txt"
    else:
        train, (ex, ey) = readers.read_imagenet16(located, DATASETS[name].num_classes)
        fname = "imagenet-16-120-test-split.txt"
    got = _find_split(_split_dirs(located), fname, ("xvalid", "xtest"), len(ey))
    xv, xt = got if got is not None else halves(ey)
    valid = (ex[xv], ey[xv])
    return {"search_train": train, "search_valid": valid, "train": train, "valid": valid, "test": (ex[xt], ey[xt]),
            "full_test": (ex, ey)}


def load_dataset(name: str, data_dir: str | Path | None, device: torch.device | str = "cpu",
                 subset: int | None = None) -> DatasetSplits:
    """Read ``name`` from its official files and put every NB-201 split on ``device``.

    Args:
        name: One of ``list_datasets()``.
        data_dir: Folder with the official files, or the batch folder itself
            (ignored for digits).
        device: Where the uint8 images and int64 labels are kept.
        subset: Keep a class-balanced, deterministic ``subset`` examples of
            every split (order preserved); None keeps everything.

    Raises:
        UnknownNameError: ``name`` is not a known dataset.
        DataError: The folder or one of its files is missing or malformed.
        ConfigError: ``subset`` is not a positive integer.
    """
    if name not in DATASETS:
        raise UnknownNameError("dataset", name, DATASETS)
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1):
        raise ConfigError(f"subset must be a positive integer or None, got {subset!r}")
    info = DATASETS[name]
    if name == "digits":
        parts = _splits_digits()
    elif name == "cifar10":
        parts = _splits_cifar10(data_dir)
    else:
        parts = _splits_halved_test(name, data_dir)
    # statistics come from the full train split, so they do not change with ``subset``
    mean, std = (info.mean, info.std) if info.mean is not None else _pixel_stats(parts["train"][0])
    dev = torch.device(device)
    moved: dict[int, Pair] = {}  # splits that alias each other share one device copy

    def to_device(pair: tuple[np.ndarray, np.ndarray]) -> Pair:
        if id(pair) not in moved:
            x, y = pair
            if subset is not None:
                keep = balanced_subset(y, subset)
                x, y = x[keep], y[keep]
            moved[id(pair)] = (torch.from_numpy(np.ascontiguousarray(x)).to(dev),
                               torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)).to(dev))
        return moved[id(pair)]

    return DatasetSplits(name=name, **{s: to_device(parts[s]) for s in SPLITS}, num_classes=info.num_classes,
                         in_channels=info.in_channels, input_size=info.input_size, mean=mean, std=std)
