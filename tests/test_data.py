"""Data: official formats, NB-201 splits, batched augmentation, resumable streams."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from harness.data import AugmentSpec, BatchStream, augment, load_dataset, normalize, stratified_split
from search_spaces.errors import DataError, UnknownNameError


def test_cifar10_official_batches_roundtrip(cifar10_dir, shared_data):
    z = np.load(shared_data / "cifar" / "cifar10_partial.npz")
    s = load_dataset("cifar10", cifar10_dir)
    n = len(z["y_train"])
    assert len(s.train[1]) == n and len(s.test[1]) == len(z["y_test"])
    assert len(s.search_train[1]) + len(s.search_valid[1]) == n
    assert s.search_train[0].dtype == torch.uint8 and s.search_train[0].shape[1:] == (3, 32, 32)
    assert torch.equal(s.test[0], torch.from_numpy(z["x_test"]))
    assert torch.equal(s.train[0], torch.from_numpy(z["x_train"]))
    assert set(s.search_train[1].tolist()) == set(range(10))
    # the two search halves are disjoint and class-balanced
    assert abs(len(s.search_train[1]) - len(s.search_valid[1])) <= 1
    counts = np.bincount(s.search_train[1].numpy(), minlength=10)
    assert counts.max() - counts.min() <= np.ptp(np.bincount(z["y_train"], minlength=10)) // 2 + 2


def test_cifar100_and_imagenet16_official_formats(shared_data, tmp_path):
    z = np.load(shared_data / "cifar" / "cifar100_test_partial.npz")
    xkey = "x_test" if "x_test" in z.files else [k for k in z.files if k.startswith("x")][0]
    ykey = "y_test_fine" if "y_test_fine" in z.files else [k for k in z.files if "fine" in k][0]
    x, y = z[xkey], z[ykey][: len(z[xkey])]
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    for name in ("train", "test"):
        with open(d / name, "wb") as f:
            pickle.dump({b"data": x.reshape(len(x), -1), b"fine_labels": y.tolist(), b"coarse_labels": [0] * len(y)}, f)
    s = load_dataset("cifar100", tmp_path)
    assert len(s.valid[1]) + len(s.test[1]) == len(y)
    assert s.num_classes == 100

    d = tmp_path / "ImageNet16"
    d.mkdir()
    small = x[:, :, ::2, ::2].reshape(len(x), -1)  # real pixels, 16x16
    labels = (np.arange(len(x)) % 200) + 1  # 1-based, some above 120
    for i in range(1, 11):
        with open(d / f"train_data_batch_{i}", "wb") as f:
            pickle.dump({"data": small, "labels": labels.tolist()}, f)
    with open(d / "val_data", "wb") as f:
        pickle.dump({"data": small, "labels": labels.tolist()}, f)
    s = load_dataset("ImageNet16-120", tmp_path)
    kept = (labels <= 120).sum()
    assert len(s.train[1]) == 10 * kept and int(s.train[1].max()) <= 119 and int(s.train[1].min()) >= 0
    assert s.train[0].shape[1:] == (3, 16, 16)


def test_missing_and_corrupt_files(tmp_path, cifar10_dir):
    with pytest.raises(DataError, match="needs --data-dir"):
        load_dataset("cifar10", None)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("cifar10", tmp_path / "nope")
    import shutil

    broken = tmp_path / "c10"
    shutil.copytree(cifar10_dir, broken)
    (broken / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_dataset("cifar10", broken)
    (broken / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x04truncated")
    with pytest.raises(DataError, match="data_batch_3"):
        load_dataset("cifar10", broken)
    with pytest.raises(UnknownNameError, match="cifar10"):
        load_dataset("cifar1O", None)


def test_digits_split_sizes_and_stratification():
    s = load_dataset("digits", None)
    assert [len(getattr(s, k)[1]) for k in ("search_train", "search_valid", "train", "valid", "test")] == \
        [538, 539, 1077, 360, 360]
    assert s.search_train[0].shape[1:] == (1, 8, 8)
    for k in ("valid", "test"):
        assert np.ptp(np.bincount(getattr(s, k)[1].numpy())) <= 1
    x = s.train[0].float() / 255
    assert x.mean().item() == pytest.approx(s.mean[0], abs=1e-3)


def test_stratified_split_partitions():
    y = np.repeat(np.arange(4), 25)
    a, b, c = stratified_split(y, [20, 30, 50])
    assert len(a) == 20 and len(b) == 30 and len(c) == 50
    assert len(np.unique(np.concatenate([a, b, c]))) == 100
    assert np.bincount(y[a]).tolist() == [5, 5, 5, 5]


def test_augmentation_is_batched_exact_and_deterministic():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    flipped = augment(x, AugmentSpec(pad=0, flip=True), torch.Generator().manual_seed(0))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1))
    a = augment(x, AugmentSpec(2, True), torch.Generator().manual_seed(1))
    b = augment(x, AugmentSpec(2, True), torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape
    # every crop is a window of the zero-padded image
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        ok = any(torch.equal(a[i], w) or torch.equal(a[i], w.flip(-1))
                 for dy in range(5) for dx in range(5) for w in [xp[i, :, dy:dy + 4, dx:dx + 4]])
        assert ok
    assert torch.equal(augment(x, AugmentSpec(0, False), torch.Generator()), x)
    u = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    torch.testing.assert_close(normalize(u, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), torch.ones(1, 3, 2, 2))


def test_batch_stream_resume_gives_same_batches():
    x = torch.randint(0, 255, (50, 1, 8, 8), dtype=torch.uint8)
    y = torch.arange(50)
    make = lambda: BatchStream(x, y, 8, torch.Generator().manual_seed(3), AugmentSpec(1, False), (0.5,), (0.2,))  # noqa
    a = make()
    ref = [a.next() for _ in range(15)]
    b = make()
    for _ in range(9):
        b.next()
    state = b.state_dict()
    c = make()
    c.load_state_dict(state)
    for (xr, yr), (xc, yc) in zip(ref[9:], [c.next() for _ in range(6)]):
        assert torch.equal(xr, xc) and torch.equal(yr, yc)
    assert a.epoch_len == 6
