"""Datasets with NAS-Bench-201 split semantics, held whole on the run's device.

| dataset | search_train | search_valid | train | valid | test |
|---|---|---|---|---|---|
| cifar10 | 25k of train | other 25k of train | 50k train | = search_valid | 10k test |
| cifar100 | 50k train | x-valid (5k of test) | 50k train | x-valid | x-test (other 5k) |
| ImageNet16-120 | train | x-valid (half of val) | train | x-valid | x-test |
| digits | half of train (538) | other half (539) | 1,077 | 360 | 360 |

The CIFAR-10 25k/25k split is NB-201's ``cifar-split.txt`` when that file is in
the data folder (JSON with ``train``/``valid`` index lists), else a stratified
split with numpy seed 0. The CIFAR-100 / ImageNet16 test halves likewise use
``cifar100-test-split.txt`` / ``imagenet-16-120-test-split.txt`` (keys
``xvalid``/``xtest``) when present, else stratified seed-0 halves. digits: a
stratified seed-0 split into test 360, valid 360, train 1,077.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness.data import readers
from search_spaces.errors import DataError, UnknownNameError

Pair = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class DatasetInfo:
    num_classes: int
    in_channels: int
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


DATASETS: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo(10, 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": DatasetInfo(100, 3, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "ImageNet16-120": DatasetInfo(120, 3, 16, (0.4811, 0.4575, 0.4078), (0.2471, 0.2400, 0.2573)),
    # mean/std of the digits train split (pixels scaled to [0, 1]); see test_data
    "digits": DatasetInfo(10, 1, 8, (0.3056,), (0.3760,)),
}


def list_datasets() -> list[str]:
    return sorted(DATASETS)


@dataclass(frozen=True)
class DatasetSplits:
    """Every split as ``(x uint8 [N, C, H, W], y int64 [N])`` on one device."""

    name: str
    search_train: Pair
    search_valid: Pair
    train: Pair
    valid: Pair
    test: Pair
    num_classes: int
    in_channels: int
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def stratified_split(y: np.ndarray, sizes: list[int], seed: int = 0) -> list[np.ndarray]:
    """Split indices of ``y`` into parts of ``sizes`` (last part takes the rest), class-balanced.

    Each class's indices are shuffled with ``seed`` and interleaved round-robin
    over classes, so every prefix is close to class-balanced.
    """
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    order = []
    for i in range(max(len(p) for p in per_class)):
        order.extend(int(p[i]) for p in per_class if i < len(p))
    order = np.array(order, dtype=np.int64)
    cuts = np.cumsum(sizes)[:-1]
    return [np.sort(part) for part in np.split(order, cuts)]


def _read_split_file(path: Path, keys: tuple[str, str]) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
        return np.asarray(d[keys[0]], dtype=np.int64), np.asarray(d[keys[1]], dtype=np.int64)
    except (json.JSONDecodeError, KeyError) as e:
        raise DataError(f"{path}: expected JSON with keys {keys} ({e})") from None


def _halves(y: np.ndarray, root, fname: str) -> tuple[np.ndarray, np.ndarray]:
    got = _read_split_file(Path(root) / fname, ("xvalid", "xtest")) if root else None
    return got if got is not None else tuple(stratified_split(y, [len(y) // 2, len(y) - len(y) // 2]))


def load_dataset(name: str, data_dir: str | Path | None, device: torch.device | str = "cpu",
                 subset: int | None = None) -> DatasetSplits:
    """Load ``name`` with NB-201 splits onto ``device``.

    Args:
        subset: Keep only the first ``subset`` examples of every split (splits
            are class-interleaved, so prefixes stay roughly balanced).
    """
    if name not in DATASETS:
        raise UnknownNameError("dataset", name, DATASETS)
    info = DATASETS[name]
    if name == "digits":
        x, y = readers.read_digits()
        te, va, tr = stratified_split(y, [360, 360, len(y) - 720])
        tr_x, tr_y = x[tr], y[tr]
        s_tr, s_va = stratified_split(tr_y, [len(tr_y) // 2, len(tr_y) - len(tr_y) // 2])
        parts = {"search_train": (tr_x[s_tr], tr_y[s_tr]), "search_valid": (tr_x[s_va], tr_y[s_va]),
                 "train": (tr_x, tr_y), "valid": (x[va], y[va]), "test": (x[te], y[te])}
    elif name == "cifar10":
        tx, ty, ex, ey = readers.read_cifar10(data_dir)
        got = _read_split_file(Path(data_dir) / "cifar-split.txt", ("train", "valid"))
        s_tr, s_va = got if got is not None else stratified_split(ty, [len(ty) // 2, len(ty) - len(ty) // 2])
        parts = {"search_train": (tx[s_tr], ty[s_tr]), "search_valid": (tx[s_va], ty[s_va]),
                 "train": (tx, ty), "valid": (tx[s_va], ty[s_va]), "test": (ex, ey)}
    else:
        if name == "cifar100":
            tx, ty, ex, ey = readers.read_cifar100(data_dir)
            xv, xt = _halves(ey, data_dir, "cifar100-test-split.txt")
        else:
            tx, ty, ex, ey = readers.read_imagenet16(data_dir)
            xv, xt = _halves(ey, data_dir, "imagenet-16-120-test-split.txt")
        parts = {"search_train": (tx, ty), "search_valid": (ex[xv], ey[xv]), "train": (tx, ty),
                 "valid": (ex[xv], ey[xv]), "test": (ex[xt], ey[xt])}
    dev = torch.device(device)

    def to_dev(p):
        x, y = p
        if subset is not None:
            x, y = x[:subset], y[:subset]
        return torch.from_numpy(np.ascontiguousarray(x)).to(dev), torch.from_numpy(np.ascontiguousarray(y)).to(dev)

    return DatasetSplits(name=name, **{k: to_dev(v) for k, v in parts.items()}, num_classes=info.num_classes,
                         in_channels=info.in_channels, input_size=info.input_size, mean=info.mean, std=info.std)
