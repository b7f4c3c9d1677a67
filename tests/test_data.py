"""Data: official formats (written here from real images), NB-201 splits, augmentation, resumable streams."""

from __future__ import annotations

import io
import itertools
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data import (AUGMENT, DATASETS, SPLITS, AugmentSpec, BatchStream, augment, augment_and_normalize,
                          augment_spec, balanced_subset, list_datasets, load_dataset, normalize, search_streams,
                          stratified_split)
from search_spaces.errors import ConfigError, DataError, UnknownNameError


def _rows(x: torch.Tensor) -> list[bytes]:
    return sorted(r.numpy().tobytes() for r in x)


@pytest.fixture(scope="module")
def c100(shared_data):
    """The real CIFAR-100 test images with their fine labels."""
    z = np.load(shared_data / "cifar" / "cifar100_test_partial.npz")
    return z["x_test"], z["y_fine"]


@pytest.fixture(scope="module")
def cifar100_dir(c100, tmp_path_factory) -> Path:
    x, y = c100
    d = tmp_path_factory.mktemp("c100") / "cifar-100-python"
    d.mkdir()
    for name, sl in (("train", slice(0, 600)), ("test", slice(None))):
        with open(d / name, "wb") as f:
            pickle.dump({b"filenames": [b"x.png"] * len(x[sl]), b"data": x[sl].reshape(len(x[sl]), -1),
                         b"fine_labels": y[sl].tolist(), b"coarse_labels": [0] * len(x[sl])}, f, protocol=2)
    return d.parent


@pytest.fixture(scope="module")
def imagenet16(c100, tmp_path_factory):
    """An ImageNet16 folder of real pixels (every other pixel of CIFAR-100), labels 1..200."""
    x, _ = c100
    x16 = np.ascontiguousarray(x[:, :, ::2, ::2])
    labels = (np.arange(len(x16)) * 7) % 200 + 1  # 1-based; those above 120 must be dropped
    d = tmp_path_factory.mktemp("in16") / "ImageNet16"
    d.mkdir()
    train_idx = np.array_split(np.arange(600), 10)
    for i, idx in enumerate(train_idx, start=1):
        with open(d / f"train_data_batch_{i}", "wb") as f:
            pickle.dump({"data": x16[idx].reshape(len(idx), -1), "labels": labels[idx].tolist(),
                         "mean": np.zeros(768)}, f)
    with open(d / "val_data", "wb") as f:
        pickle.dump({"data": x16[600:].reshape(-1, 768), "labels": labels[600:].tolist()}, f)
    return d.parent, x16, labels


def test_registry():
    assert list_datasets() == ["ImageNet16-120", "cifar10", "cifar100", "digits"]
    assert (DATASETS["ImageNet16-120"].num_classes, DATASETS["ImageNet16-120"].input_size) == (120, 16)
    assert DATASETS["cifar10"].mean == pytest.approx((125.3 / 255, 123.0 / 255, 113.9 / 255))
    with pytest.raises(UnknownNameError, match="did you mean 'cifar10'"):
        load_dataset("cifar1O", None)
    with pytest.raises(UnknownNameError):
        augment_spec("mnist")


def test_cifar10_official_batches_roundtrip(cifar10_dir, shared_data):
    z = np.load(shared_data / "cifar" / "cifar10_partial.npz")
    s = load_dataset("cifar10", cifar10_dir)
    for split in ("train", "test"):  # exact round trip, official order
        x, y = getattr(s, split)
        assert torch.equal(x, torch.from_numpy(z[f"x_{split}"])) and torch.equal(y, torch.from_numpy(z[f"y_{split}"]))
    for k in SPLITS:
        x, y = getattr(s, k)
        assert x.dtype == torch.uint8 and x.shape[1:] == (3, 32, 32) and y.dtype == torch.int64
        assert 0 <= int(y.min()) and int(y.max()) <= 9
    n = len(z["y_train"])
    assert s.sizes()["search_train"] == n // 2 and s.sizes()["search_valid"] == n - n // 2
    # the two search halves partition the training set; valid is the search-valid half
    assert _rows(torch.cat([s.search_train[0], s.search_valid[0]])) == _rows(s.train[0])
    assert s.valid[0] is s.search_valid[0]
    counts = np.bincount(s.search_train[1].numpy(), minlength=10)
    assert np.abs(counts - np.bincount(z["y_train"], minlength=10) / 2).max() <= 1
    # the batch folder itself is accepted too
    t = load_dataset("cifar10", cifar10_dir / "cifar-10-batches-py")
    assert torch.equal(t.search_valid[0], s.search_valid[0])


@pytest.mark.parametrize("official_form", [False, True])
def test_cifar10_split_file_is_used(cifar10_dir, tmp_path, official_form):
    d = tmp_path / "c10"
    shutil.copytree(cifar10_dir, d)
    n = len(load_dataset("cifar10", d, subset=None).train[1])
    train, valid = list(range(0, n, 2)), list(range(1, n, 2))
    if official_form:  # NB-201's load_config format: [type, values-as-strings]
        doc = {"train": ["int", [str(i) for i in train]], "valid": ["int", [str(i) for i in valid]]}
    else:
        doc = {"train": train, "valid": valid}
    (d / "cifar-split.txt").write_text(json.dumps(doc))
    s = load_dataset("cifar10", d)
    assert torch.equal(s.search_train[0], s.train[0][::2]) and torch.equal(s.search_valid[1], s.train[1][1::2])
    (d / "cifar-split.txt").write_text(json.dumps({"train": [0, n], "valid": [1]}))
    with pytest.raises(DataError, match=f"cifar-split.txt.*{n}"):
        load_dataset("cifar10", d)
    (d / "cifar-split.txt").write_text(json.dumps({"train": [0, 1], "valid": [1]}))
    with pytest.raises(DataError, match="overlap"):
        load_dataset("cifar10", d)


def test_cifar100_official_format_and_halves(cifar100_dir, c100):
    x, y = c100
    s = load_dataset("cifar100", cifar100_dir)
    assert s.num_classes == 100 and s.sizes()["train"] == 600 and s.search_train[0] is s.train[0]
    assert torch.equal(s.train[0], torch.from_numpy(x[:600]))
    assert s.sizes()["valid"] + s.sizes()["test"] == len(y) and s.sizes()["valid"] == len(y) // 2
    assert _rows(torch.cat([s.valid[0], s.test[0]])) == _rows(torch.from_numpy(x))
    assert s.search_valid[0] is s.valid[0] and 0 <= int(s.test[1].min()) and int(s.test[1].max()) <= 99
    # retraining reports the whole official test set (RobustDARTS / DARTS evaluation), never NB-201's half
    assert torch.equal(s.full_test[0], torch.from_numpy(x)) and s.sizes()["full_test"] == len(y)
    # NB-201's x-valid / x-test file wins over the seed-0 halves
    xv, xt = list(range(10, len(y))), list(range(10))
    (cifar100_dir / "cifar100-test-split.txt").write_text(json.dumps({"xvalid": xv, "xtest": xt}))
    try:
        s = load_dataset("cifar100", cifar100_dir / "cifar-100-python")
    finally:
        (cifar100_dir / "cifar100-test-split.txt").unlink()
    assert torch.equal(s.test[0], torch.from_numpy(x[:10])) and torch.equal(s.valid[1], torch.from_numpy(y[10:]))


def test_retraining_tests_on_the_whole_cifar100_test_set(cifar100_dir, c100):
    from harness.run.evaluate import EvalProtocol, evaluate
    from search_spaces import get_space

    arch = get_space("s5").to_str(get_space("s5").sample(np.random.default_rng(0)))
    res = evaluate(arch, EvalProtocol(dataset="cifar100", data_dir=str(cifar100_dir), layers=3, channels=4,
                                      epochs=1, batch_size=64, cutout=4), space="s5", out=cifar100_dir / "eval")
    (work,) = (cifar100_dir / "eval").iterdir()
    result = json.loads((work / "retrain-seed0" / "result.json").read_text())
    assert result["test_split"] == "full_test" and result["test_size"] == len(c100[1]) == 916
    assert res["retrained_test_error"] == pytest.approx(result["test_error"])


def test_imagenet16_keeps_120_classes_zero_based(imagenet16):
    root, x16, labels = imagenet16
    s = load_dataset("ImageNet16-120", root)
    keep = labels[:600] <= 120
    assert s.train[0].shape[1:] == (3, 16, 16) and s.sizes()["train"] == keep.sum()
    assert torch.equal(s.train[0], torch.from_numpy(x16[:600][keep]))
    assert torch.equal(s.train[1], torch.from_numpy(labels[:600][keep] - 1))
    assert int(s.train[1].min()) == 0 and int(s.train[1].max()) == 119
    val_kept = (labels[600:] <= 120).sum()
    assert s.sizes()["valid"] + s.sizes()["test"] == val_kept and s.search_valid[0] is s.valid[0]
    assert s.sizes()["full_test"] == val_kept
    assert load_dataset("ImageNet16-120", root / "ImageNet16").sizes() == s.sizes()


def test_missing_and_corrupt_files(tmp_path, cifar10_dir, imagenet16):
    with pytest.raises(DataError, match="needs --data-dir.*cifar-10-batches-py.*data_batch_1..5, test_batch"):
        load_dataset("cifar10", None)
    with pytest.raises(DataError, match="does not exist.*cifar-100-python/ with train, test"):
        load_dataset("cifar100", tmp_path / "nope")
    with pytest.raises(DataError, match="missing train_data_batch_1..10, val_data"):
        load_dataset("ImageNet16-120", tmp_path)
    broken = tmp_path / "c10"
    shutil.copytree(cifar10_dir, broken)
    batch3 = broken / "cifar-10-batches-py" / "data_batch_3"
    batch3.unlink()
    with pytest.raises(DataError, match=r"cifar-10-batches-py is missing data_batch_3 \(expected"):
        load_dataset("cifar10", broken)
    batch3.write_bytes((broken / "cifar-10-batches-py" / "data_batch_2").read_bytes()[:5000])  # truncated
    with pytest.raises(DataError, match="data_batch_3: not a valid batch"):
        load_dataset("cifar10", broken)
    batch3.write_bytes(pickle.dumps({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}))
    with pytest.raises(DataError, match=r"data_batch_3.*expected uint8 \[N, 3072\]"):
        load_dataset("cifar10", broken)
    batch3.write_bytes(pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}))
    with pytest.raises(DataError, match="data_batch_3.*one integer per image"):
        load_dataset("cifar10", broken)
    batch3.write_bytes(pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 10]}))
    with pytest.raises(DataError, match="data_batch_3.*outside 0..9"):
        load_dataset("cifar10", broken)
    batch3.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="data_batch_3: expected a pickled dict"):
        load_dataset("cifar10", broken)


class _Exploit:
    def __reduce__(self):
        return (shutil.rmtree, ("/definitely/not/here",))


def test_pickles_cannot_run_code(tmp_path, imagenet16):
    root, _, _ = imagenet16
    d = tmp_path / "ImageNet16"
    shutil.copytree(root / "ImageNet16", d)
    (d / "val_data").write_bytes(pickle.dumps({"data": _Exploit(), "labels": []}))
    with pytest.raises(DataError, match="val_data.*refusing to load shutil.rmtree"):
        load_dataset("ImageNet16-120", tmp_path)


def test_digits_split_sizes_and_stratification(tmp_path):
    s = load_dataset("digits", tmp_path / "ignored")
    assert s.sizes() == {"search_train": 538, "search_valid": 539, "train": 1077, "valid": 360, "test": 360, "full_test": 360}
    assert s.search_train[0].shape[1:] == (1, 8, 8) and int(s.train[0].max()) == 255
    for k in ("valid", "test"):
        assert np.ptp(np.bincount(getattr(s, k)[1].numpy())) <= 1
    assert np.ptp(np.bincount(s.search_train[1].numpy()) - np.bincount(s.search_valid[1].numpy())) <= 2
    assert _rows(torch.cat([s.search_train[0], s.search_valid[0]])) == _rows(s.train[0])
    from sklearn.datasets import load_digits

    assert len(set(_rows(torch.cat([s.train[0], s.valid[0], s.test[0]])))) == len(np.unique(
        load_digits().images.reshape(1797, -1), axis=0))
    x = s.train[0].double() / 255
    assert s.mean == (round(x.mean().item(), 4),) and s.std == (round(x.std(unbiased=False).item(), 4),)
    t = load_dataset("digits", None)
    assert all(torch.equal(a, b) for k in SPLITS for a, b in zip(getattr(s, k), getattr(t, k)))


def test_subset_is_balanced_deterministic_and_ordered():
    full, s = load_dataset("digits", None), load_dataset("digits", None, subset=50)
    assert all(n == 50 for n in s.sizes().values()) and (s.mean, s.std) == (full.mean, full.std)
    assert np.bincount(s.test[1].numpy()).tolist() == [5] * 10
    keep = balanced_subset(full.test[1].numpy(), 50)
    assert torch.equal(s.test[0], full.test[0][torch.from_numpy(keep)])
    with pytest.raises(ConfigError, match="subset"):
        load_dataset("digits", None, subset=0)


def test_stratified_split_partitions():
    y = np.repeat(np.arange(4), 25)
    a, b, c = stratified_split(y, [20, 30, 50])
    assert (len(a), len(b), len(c)) == (20, 30, 50) and len(np.unique(np.concatenate([a, b, c]))) == 100
    assert np.bincount(y[a]).tolist() == [5, 5, 5, 5]
    with pytest.raises(ValueError):
        stratified_split(y, [20, 30])


def test_augmentation_crop_flip_and_determinism():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 256, (64, 3, 6, 5), dtype=torch.uint8, generator=g)
    # flip only: every image is itself or its exact mirror, and both happen
    f = augment(x, AugmentSpec(pad=0, flip=True), torch.Generator().manual_seed(1))
    same = [torch.equal(f[i], x[i]) for i in range(64)]
    mirrored = [torch.equal(f[i], x[i].flip(-1)) for i in range(64)]
    assert all(a or b for a, b in zip(same, mirrored)) and any(same) and any(mirrored)
    # crop: same shape, every output is a (possibly mirrored) window of the black-padded image
    a = augment(x, AugmentSpec(2, True), torch.Generator().manual_seed(3))
    assert a.shape == x.shape and a.dtype == torch.uint8
    assert torch.equal(a, augment(x, AugmentSpec(2, True), torch.Generator().manual_seed(3)))
    assert not torch.equal(a, augment(x, AugmentSpec(2, True), torch.Generator().manual_seed(4)))
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(0, 64, 7):
        windows = [xp[i, :, dy:dy + 6, dx:dx + 5] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(a[i], w) or torch.equal(a[i], w.flip(-1)) for w in windows)
    assert (a == 0).any()  # some padding made it into the crops
    # normalisation after augmentation: padding is black (raw 0), not the mean colour
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    out = augment_and_normalize(x, AugmentSpec(2, False), torch.Generator().manual_seed(3), mean, std)
    assert torch.equal(out, normalize(augment(x, AugmentSpec(2, False), torch.Generator().manual_seed(3)), mean, std))
    assert torch.allclose(out.amin(dim=(0, 2, 3)), -torch.tensor(mean) / torch.tensor(std))
    # a no-op spec (or none) is exactly normalisation and draws nothing
    gen = torch.Generator().manual_seed(5)
    before = gen.get_state()
    for spec in (AugmentSpec(0, False), None):
        assert torch.equal(augment_and_normalize(x, spec, gen, mean, std), normalize(x, mean, std))
    assert torch.equal(gen.get_state(), before)
    u = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    assert torch.allclose(normalize(u, (0.5,) * 3, (0.5,) * 3), torch.ones(1, 3, 2, 2))
    assert AUGMENT["digits"] == AugmentSpec(1, False) and AUGMENT["ImageNet16-120"].pad == 2
    with pytest.raises(ConfigError):
        AugmentSpec(-1, True)


def _stream(x, y, seed=3, batch=8, drop_last=True):
    return BatchStream(x, y, batch, torch.Generator().manual_seed(seed), AugmentSpec(1, False), (0.5,), (0.2,),
                       drop_last=drop_last)


def test_batch_stream_passes_and_determinism():
    x = torch.randint(0, 256, (50, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(50)
    a, b = _stream(x, y), _stream(x, y)
    assert a.epoch_len == 6
    batches = list(itertools.islice(a, 12))
    for (xa, ya), (xb, yb) in zip(batches, itertools.islice(b, 12)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert xa.dtype == torch.float32 and xa.shape == (8, 1, 8, 8) and ya.dtype == torch.int64
    first, second = torch.cat([yb for _, yb in batches[:6]]), torch.cat([yb for _, yb in batches[6:]])
    assert len(set(first.tolist())) == 48 and not torch.equal(first, second)  # no repeats; reshuffled
    c = _stream(x, y, drop_last=False)
    assert c.epoch_len == 7 and sorted(torch.cat([c.next()[1] for _ in range(7)]).tolist()) == list(range(50))
    with pytest.raises(ConfigError, match="exceeds"):
        _stream(x, y, batch=51)


def test_batch_stream_resume_gives_same_batches():
    x = torch.randint(0, 256, (50, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(50)
    ref = list(itertools.islice(_stream(x, y), 15))
    b = _stream(x, y)
    for _ in range(9):  # stop mid-way through the second pass
        b.next()
    buf = io.BytesIO()
    torch.save(b.state_dict(), buf)
    buf.seek(0)
    c = _stream(x, y, seed=99)  # the seed must not matter: the state carries the generator
    c.load_state_dict(torch.load(buf, map_location="cpu", weights_only=True))  # as checkpoints load it
    for (xr, yr), (xc, yc) in zip(ref[9:], [c.next() for _ in range(6)]):
        assert torch.equal(xr, xc) and torch.equal(yr, yc)
    with pytest.raises(ConfigError, match="cannot resume"):
        _stream(x, y, batch=5).load_state_dict(b.state_dict())


def test_search_streams_are_seeded_and_independent():
    s = load_dataset("digits", None, subset=100)
    t1, v1 = search_streams(s, 16, seed=0, device="cpu")
    t2, v2 = search_streams(s, 16, seed=0, device="cpu")
    for _ in range(3):
        v1.next()  # draining one stream leaves the other untouched
    assert torch.equal(t1.next()[0], t2.next()[0])
    assert not torch.equal(search_streams(s, 16, seed=1, device="cpu")[0].next()[0], t2.next()[0])
    assert t1.augment == AUGMENT["digits"] and t1.epoch_len == 100 // 16


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batch_stream_steps_never_wait_on_the_host():
    dev = torch.device("cuda")
    x = torch.randint(0, 256, (320, 3, 16, 16), dtype=torch.uint8, device=dev)
    y = torch.arange(320, device=dev)
    s = BatchStream(x, y, 32, torch.Generator(device=dev).manual_seed(0), AugmentSpec(2, True), (0.5,) * 3, (0.2,) * 3)
    s.next()  # the pass's permutation and the cached mean/std tensors are made here
    torch.cuda.set_sync_debug_mode("error")
    try:
        batches = [s.next() for _ in range(s.epoch_len - 1)]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert batches[-1][0].device.type == "cuda" and batches[-1][0].shape == (32, 3, 16, 16)


def test_data_command_writes_the_official_cifar10_folder(shared_data, tmp_path, capsys):
    from harness.cli import main

    npz = shared_data / "cifar" / "cifar10_partial.npz"
    main(["data", "cifar10", str(npz), "-o", str(tmp_path / "c"), "--n-train", "100"])
    s = load_dataset("cifar10", tmp_path / "c")
    z = np.load(npz)
    assert torch.equal(s.train[0], torch.from_numpy(z["x_train"][:100]))
    assert torch.equal(s.test[1], torch.from_numpy(z["y_test"].astype(np.int64)))
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 3, 8, 8), np.uint8), y_train=np.zeros(2, np.int64),
             x_test=np.zeros((1, 3, 32, 32), np.uint8), y_test=np.zeros(1, np.int64))
    with pytest.raises(SystemExit) as e:
        main(["data", "cifar10", str(bad), "-o", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "x_train: expected uint8 [N, 3, 32, 32]" in err[0]
    assert not (tmp_path / "d").exists()
