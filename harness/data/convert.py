"""Write the official CIFAR-10 python-batch folder from image arrays (e.g. the shared partial ``.npz``).

``harness data cifar10 NPZ -o DIR`` makes ``DIR/cifar-10-batches-py`` (``data_batch_1..5``,
``test_batch``: dicts of ``b"data"`` uint8 ``[N, 3072]`` and ``b"labels"``, as the official
files), so every command that takes ``--data-dir`` reads it like the real download.
The ``.npz`` is read with ``allow_pickle=False``: no code in it can run.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from search_spaces.errors import DataError
from search_spaces.io import atomic_write_bytes

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _checked(z, key: str, image: bool) -> np.ndarray:
    a = np.asarray(z[key])
    ok = (a.dtype == np.uint8 and a.ndim == 4 and a.shape[1:] == (3, 32, 32)) if image else (
        a.ndim == 1 and np.issubdtype(a.dtype, np.integer) and (len(a) == 0 or (a.min() >= 0 and a.max() <= 9)))
    if not ok:
        raise DataError(f"{key}: expected {'uint8 [N, 3, 32, 32]' if image else 'integer labels 0..9 [N]'}, "
                        f"got {a.dtype} {list(a.shape)}")
    return a


def write_cifar10_batches(npz_path: str | Path, out: str | Path, n_train: int | None = None) -> Path:
    """``out/cifar-10-batches-py`` from ``npz_path`` (keys ``NPZ_KEYS``); the first ``n_train`` training images
    (all by default), split over five batches in order. Returns ``out``."""
    npz_path, out = Path(npz_path), Path(out)
    if not npz_path.is_file():
        raise DataError(f"{npz_path} is not a file (a .npz with {', '.join(NPZ_KEYS)})")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                raise DataError(f"{npz_path}: missing arrays {missing} (need {', '.join(NPZ_KEYS)})")
            xt, yt = _checked(z, "x_train", True)[:n_train], _checked(z, "y_train", False)[:n_train]
            xs, ys = _checked(z, "x_test", True), _checked(z, "y_test", False)
    except DataError:
        raise
    except (OSError, ValueError) as e:
        raise DataError(f"{npz_path}: not a readable .npz ({e})") from None
    if len(xt) != len(yt) or len(xs) != len(ys):
        raise DataError(f"{npz_path}: images and labels differ in length")
    d = out / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    for i, idx in enumerate(np.array_split(np.arange(len(yt)), 5), start=1):
        atomic_write_bytes(d / f"data_batch_{i}", pickle.dumps(
            {b"data": xt[idx].reshape(len(idx), -1), b"labels": yt[idx].tolist()}))
    atomic_write_bytes(d / "test_batch", pickle.dumps({b"data": xs.reshape(len(xs), -1), b"labels": ys.tolist()}))
    return out
