"""Readers of the official raw dataset formats (no torchvision, no PIL).

=================  ==============================================================
dataset            files (in ``data_dir`` or in the named sub-folder of it)
=================  ==============================================================
cifar10            ``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``,
                   ``test_batch``; pickled dicts with ``b'data'`` uint8
                   ``[N, 3072]`` (R, G, B planes of 32x32) and ``b'labels'``.
cifar100           ``cifar-100-python/``: ``train``, ``test``; ``b'data'`` as
                   above and ``b'fine_labels'`` (0..99).
ImageNet16-120     ``ImageNet16/``: ``train_data_batch_1`` .. ``train_data_batch_10``,
                   ``val_data``; ``'data'`` uint8 ``[N, 768]`` (3 planes of
                   16x16) and ``'labels'`` 1-based over 1000 classes. Only labels
                   1..120 are kept, shifted to 0..119 (as NB-201 does).
digits             scikit-learn's ``load_digits()``: 1,797 real 8x8 images with
                   values 0..16, rescaled to uint8 0..255; no folder needed.
=================  ==============================================================

The user may pass either the parent folder or the batch folder itself. Every
missing, unreadable or malformed file raises ``DataError`` naming the file and
the files expected. Pickles are read with a restricted unpickler that only
rebuilds numpy arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces.errors import DataError

try:  # numpy >= 2 moved the array internals to numpy._core
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

#: ``(x uint8 [N, C, H, W], y int64 [N])`` as numpy arrays.
Arrays = tuple[np.ndarray, np.ndarray]

CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
CIFAR100_FILES = ["train", "test"]
IMAGENET16_FILES = [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]
#: dataset -> (accepted sub-folder names, files that must all be there)
LAYOUT: dict[str, tuple[tuple[str, ...], list[str]]] = {
    "cifar10": (("cifar-10-batches-py",), CIFAR10_FILES),
    "cifar100": (("cifar-100-python",), CIFAR100_FILES),
    "ImageNet16-120": (("ImageNet16", "ImageNet16-120"), IMAGENET16_FILES),
}

# The only globals an official batch (py2 or py3, any protocol) refers to.
_NUMPY_GLOBALS = {"_reconstruct": _multiarray._reconstruct, "scalar": _multiarray.scalar,
                  "_frombuffer": _numeric._frombuffer, "ndarray": np.ndarray, "dtype": np.dtype}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "numpy" and name in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[name]
        if (module, name) == ("_codecs", "encode"):  # py3 writing bytes at protocol 2
            return codecs.encode
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of the official format")


def _describe(files: list[str]) -> str:
    """``data_batch_1..5, test_batch`` rather than six names (only runs of consecutive numbers fold)."""
    out: list[str] = []
    run: list[tuple[str, int]] = []  # (stem, number) of the current consecutive run

    def flush() -> None:
        if len(run) > 2:
            out.append(f"{run[0][0]}_{run[0][1]}..{run[-1][1]}")
        else:
            out.extend(f"{s}_{n}" for s, n in run)
        run.clear()

    for f in files:
        stem, _, num = f.rpartition("_")
        if stem and num.isdigit():
            if run and (run[-1][0] != stem or run[-1][1] + 1 != int(num)):
                flush()
            run.append((stem, int(num)))
        else:
            flush()
            out.append(f)
    flush()
    return ", ".join(out)


def locate(root: str | Path | None, dataset: str) -> Path:
    """The folder holding all files of ``dataset`` (see ``LAYOUT``): ``root`` itself or ``root/<subdir>``.

    Raises:
        DataError: ``root`` is None or missing, or no candidate holds every file.
    """
    subdirs, files = LAYOUT[dataset]
    expected = f"{subdirs[0]}/ with {_describe(files)}"
    if root is None:
        raise DataError(f"dataset {dataset!r} needs --data-dir: a folder holding {expected}")
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"dataset {dataset!r}: data folder {root} does not exist (expected {expected})")
    if not root.is_dir():
        raise DataError(f"dataset {dataset!r}: {root} is not a folder (expected {expected})")
    candidates = [root] + [root / s for s in subdirs if (root / s).is_dir()]
    for cand in candidates:
        if all((cand / f).is_file() for f in files):
            return cand
    # report against the candidate that looks most like the dataset folder
    best = max(candidates, key=lambda c: (sum((c / f).is_file() for f in files), c != root))
    missing = [f for f in files if not (best / f).is_file()]
    raise DataError(f"dataset {dataset!r}: {best} is missing {_describe(missing)} (expected {expected})")


def unpickle(path: Path) -> dict:
    """One official batch file as a dict (keys are ``str`` or ``bytes``)."""
    try:
        with open(path, "rb") as f:
            # latin1 decodes py2 byte strings 1:1, the way numpy expects
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: not a valid batch of the official format "
                        f"({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    return obj


def _field(batch: dict, key: str, path: Path) -> Any:
    for k in (key, key.encode()):
        if k in batch:
            return batch[k]
    raise DataError(f"{path}: missing key {key!r} (found {sorted(map(str, batch))})")


def read_batch(path: Path, label_key: str, channels: int, size: int) -> Arrays:
    """Images ``uint8 [N, C, H, W]`` and raw labels ``int64 [N]`` of one batch file."""
    batch = unpickle(path)
    try:
        x = np.asarray(_field(batch, "data", path))
        y = np.asarray(_field(batch, label_key, path))
    except (ValueError, TypeError) as e:
        raise DataError(f"{path}: malformed arrays ({e})") from None
    dim = channels * size * size
    if x.ndim != 2 or x.shape[1] != dim or x.dtype != np.uint8:
        raise DataError(f"{path}: 'data' is {x.dtype} {list(x.shape)}, expected uint8 [N, {dim}]")
    if y.ndim != 1 or len(y) != len(x) or (len(y) and not np.issubdtype(y.dtype, np.integer)):
        raise DataError(f"{path}: {label_key!r} must hold one integer per image ({len(x)}), "
                        f"found {y.dtype} {list(y.shape)}")
    return x.reshape(-1, channels, size, size), y.astype(np.int64)


def _check_range(y: np.ndarray, lo: int, hi: int, path: Path, key: str) -> None:
    if len(y) and (y.min() < lo or y.max() > hi):
        raise DataError(f"{path}: {key!r} outside {lo}..{hi} (found {y.min()}..{y.max()})")


def read_cifar10(root: str | Path | None) -> tuple[Arrays, Arrays]:
    """((train x, y), (test x, y)) from ``cifar-10-batches-py``; 50,000 + 10,000 in the full set."""
    d = locate(root, "cifar10")
    parts = []
    for f in CIFAR10_FILES:
        x, y = read_batch(d / f, "labels", 3, 32)
        _check_range(y, 0, 9, d / f, "labels")
        parts.append((x, y))
    train = (np.concatenate([p[0] for p in parts[:5]]), np.concatenate([p[1] for p in parts[:5]]))
    return train, parts[5]


def read_cifar100(root: str | Path | None) -> tuple[Arrays, Arrays]:
    """((train x, fine y), (test x, fine y)) from ``cifar-100-python``; 50,000 + 10,000."""
    d = locate(root, "cifar100")
    out = []
    for f in CIFAR100_FILES:
        x, y = read_batch(d / f, "fine_labels", 3, 32)
        _check_range(y, 0, 99, d / f, "fine_labels")
        out.append((x, y))
    return out[0], out[1]


def read_imagenet16(root: str | Path | None, num_classes: int = 120) -> tuple[Arrays, Arrays]:
    """((train x, y), (val x, y)) keeping labels ``1..num_classes`` as ``0..num_classes-1``.

    For 120 classes the full set keeps 151,700 training and 6,000 validation images.
    """
    d = locate(root, "ImageNet16-120")
    parts = []
    for f in IMAGENET16_FILES:
        x, y = read_batch(d / f, "labels", 3, 16)
        _check_range(y, 1, 1000, d / f, "labels")
        keep = y <= num_classes  # filter batch by batch: the full set is ~1 GB
        parts.append((x[keep], y[keep] - 1))
    train = (np.concatenate([p[0] for p in parts[:-1]]), np.concatenate([p[1] for p in parts[:-1]]))
    return train, parts[-1]


def read_digits() -> Arrays:
    """All 1,797 scikit-learn digits as uint8 ``[N, 1, 8, 8]`` (0..16 scaled to 0..255), labels 0..9."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        raise DataError("dataset 'digits' needs scikit-learn (pip install scikit-learn)") from None
    d = load_digits()
    x = np.clip(np.round(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[:, None]
    return x, d.target.astype(np.int64)
