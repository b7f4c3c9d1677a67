"""Readers of the official raw dataset formats (no torchvision, no PIL).

- CIFAR-10 ``cifar-10-batches-py/``: pickles ``data_batch_1..5`` and ``test_batch``
  (``b'data'`` uint8 ``[N, 3072]``, ``b'labels'``).
- CIFAR-100 ``cifar-100-python/``: pickles ``train`` and ``test`` (``b'fine_labels'``).
- ImageNet16-120: pickles ``train_data_batch_1..10`` and ``val_data`` (``'data'``
  uint8 ``[N, 768]``, ``'labels'`` 1-based over 1000 classes); only labels
  1..120 are kept, shifted to 0..119.
- digits: scikit-learn's ``load_digits`` (1,797 real 8x8 images, values 0..16,
  scaled to 0..255 as uint8).

Every reader returns ``(train_x, train_y, test_x, test_y)`` with images uint8
``[N, C, H, W]`` and labels int64 ``[N]`` as numpy arrays.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from search_spaces.errors import DataError

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _locate(root: str | Path | None, subdir: str, needed: list[str], name: str) -> Path:
    if root is None:
        raise DataError(f"dataset {name!r} needs --data-dir (a folder holding {subdir}/ with {', '.join(needed)})")
    root = Path(root).expanduser()
    for cand in (root, root / subdir):
        if all((cand / f).is_file() for f in needed):
            return cand
    where = root / subdir if (root / subdir).is_dir() else root
    if not where.exists():
        raise DataError(f"dataset {name!r}: data folder {root} does not exist (expected {subdir}/ with {', '.join(needed)})")
    missing = [f for f in needed if not (where / f).is_file()]
    raise DataError(f"dataset {name!r}: {where} is incomplete, missing {', '.join(missing)}")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except Exception as e:  # truncated or not a pickle
        raise DataError(f"cannot read {path}: not a valid pickle of the official format ({type(e).__name__}: {e})") from None


def _get(d: dict, key: str, path: Path):
    for k in (key, key.encode()):
        if k in d:
            return d[k]
    raise DataError(f"{path}: missing key {key!r} (keys: {sorted(map(str, d))})")


def _images(flat, path: Path, channels: int, size: int) -> np.ndarray:
    a = np.asarray(flat, dtype=np.uint8)
    if a.ndim != 2 or a.shape[1] != channels * size * size:
        raise DataError(f"{path}: data has shape {a.shape}, expected [N, {channels * size * size}]")
    return a.reshape(-1, channels, size, size)


def read_cifar10(root: str | Path | None) -> Arrays:
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    d = _locate(root, "cifar-10-batches-py", files, "cifar10")
    xs, ys = [], []
    for f in files:
        p = d / f
        b = _unpickle(p)
        xs.append(_images(_get(b, "data", p), p, 3, 32))
        ys.append(np.asarray(_get(b, "labels", p), dtype=np.int64))
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]


def read_cifar100(root: str | Path | None) -> Arrays:
    d = _locate(root, "cifar-100-python", ["train", "test"], "cifar100")
    out = []
    for f in ("train", "test"):
        p = d / f
        b = _unpickle(p)
        out += [_images(_get(b, "data", p), p, 3, 32), np.asarray(_get(b, "fine_labels", p), dtype=np.int64)]
    return tuple(out)  # type: ignore[return-value]


def read_imagenet16(root: str | Path | None, num_classes: int = 120) -> Arrays:
    files = [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]
    d = _locate(root, "ImageNet16", files, "ImageNet16-120")
    parts = []
    for f in files:
        p = d / f
        b = _unpickle(p)
        x = _images(_get(b, "data", p), p, 3, 16)
        y = np.asarray(_get(b, "labels", p), dtype=np.int64)
        keep = (y >= 1) & (y <= num_classes)
        parts.append((x[keep], y[keep] - 1))
    tx = np.concatenate([p[0] for p in parts[:-1]])
    ty = np.concatenate([p[1] for p in parts[:-1]])
    return tx, ty, parts[-1][0], parts[-1][1]


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as uint8 ``[N, 1, 8, 8]`` (0..16 scaled to 0..255) and labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.clip(np.round(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[:, None]
    return x, d.target.astype(np.int64)
