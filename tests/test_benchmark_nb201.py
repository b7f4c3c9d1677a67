"""NB-201 ground truth: real published values, official formats, split mapping, cache."""

from __future__ import annotations

import bz2
import pickle

import numpy as np
import pytest
import torch

from benchmarks import load_benchmark
from benchmarks.nb201 import import_nats_dir, import_pth
from search_spaces import get_space
from search_spaces.errors import ArchitectureError, BenchmarkError

NB201 = get_space("nb201")
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def real(shared_data):
    return load_benchmark("nb201", shared_data / "nb201")


@pytest.mark.parametrize("dataset,value,index", [("cifar10", 94.3733, 6111), ("cifar100", 73.5133, 9930),
                                                 ("ImageNet16-120", 47.3111, 857)])
def test_published_optima(real, dataset, value, index):
    opt = real.optimum(dataset, "test", "accuracy", 200)
    assert opt.value == pytest.approx(value, abs=1e-3)
    assert NB201.from_str(opt.arch).index == index
    assert real.regret(opt.arch, dataset, "test", epochs=200) == 0.0


def test_all_skip_collapse_value(real):
    assert real.query(ALL_SKIP, "cifar10", "test", epochs=200) == pytest.approx(54.2967, abs=1e-3)
    assert real.regret(ALL_SKIP, "cifar10", "test", epochs=200) == pytest.approx(94.3733 - 54.2967, abs=1e-3)


def test_12_epoch_values_match_file(real, shared_data):
    import pandas as pd

    df = pd.read_csv(shared_data / "nb201" / "nb201_12epoch_valid_test.csv")
    for i in (0, 1, 777, 15624):
        row = df.iloc[i]
        arch = row["cellstr"]
        assert real.query(arch, "cifar10", "valid", epochs=12) == pytest.approx(row["cifar10-val"])
        assert real.query(arch, "cifar100", "test", epochs=12) == pytest.approx(row["cifar100-test"])
        assert real.query(arch, "ImageNet16-120", "valid", epochs=12) == pytest.approx(row["imagenet-val"])


def test_no_silent_fallbacks(real):
    with pytest.raises(BenchmarkError, match="valid/accuracy@200"):
        real.query(ALL_SKIP, "cifar10", "valid", epochs=200)
    with pytest.raises(BenchmarkError, match="only seed means"):
        real.query(ALL_SKIP, "cifar10", "test", epochs=200, seed=0)
    with pytest.raises(BenchmarkError, match="unknown dataset"):
        real.query(ALL_SKIP, "mnist", "test")
    with pytest.raises(ArchitectureError):
        real.query("|bogus~0|", "cifar10", "test")


def test_query_many_is_fast(real):
    import time

    archs = [NB201.to_str(a) for a in NB201.enumerate()]
    t = time.perf_counter()
    v = real.query_many(archs, "cifar10", "test", epochs=200)
    assert time.perf_counter() - t < 5.0  # generous: the figure itself is in the README
    assert np.nanmax(v) == pytest.approx(94.3733, abs=1e-3)


# --- official formats, written by the test in exactly the official structure -------------------

SEEDS = (777, 888)
DATASETS = {"cifar10-valid": ["x-valid"], "cifar10": ["ori-test"], "cifar100": ["x-valid", "x-test", "ori-test"],
            "ImageNet16-120": ["x-valid", "x-test", "ori-test"]}


def _value(index: int, ds: str, name: str, hp: str, seed: int, kind: str) -> float:
    # a distinct, reconstructible number for each cell of the table
    base = {"less": 10.0, "full": 50.0}[hp] + index * 0.01 + (seed % 10) * 0.1
    return base + 1000 * list(DATASETS).index(ds) + 100 * (["train", "x-valid", "x-test", "ori-test"].index(name)) \
        + (0.5 if kind == "loss" else 0.0)


def _results_count(index, ds, seed, hp):
    epochs = 12 if hp == "less" else 200
    last = epochs - 1
    names = DATASETS[ds]
    return {"name": ds, "dataset_seed": None, "seed": seed, "epochs": epochs, "params": 0.5 + index,
            "flop": 10.0 + index, "latency": [0.01],
            "train_acc1es": {last: _value(index, ds, "train", hp, seed, "acc")},
            "train_acc5es": {last: 99.0}, "train_losses": {last: _value(index, ds, "train", hp, seed, "loss")},
            "train_times": {e: 1.0 for e in range(epochs)}, "eval_names": names,
            "eval_acc1es": {f"{n}@{last}": _value(index, ds, n, hp, seed, "acc") for n in names},
            "eval_acc5es": {f"{n}@{last}": 99.0 for n in names},
            "eval_losses": {f"{n}@{last}": _value(index, ds, n, hp, seed, "loss") for n in names},
            "eval_times": {f"{n}@{last}": 0.1 for n in names}, "net_state_dict": None}


def _arch_results(index, hp):
    return {"arch_index": index, "arch_str": NB201.to_str(NB201.from_index(index)),
            "all_results": {(ds, s): _results_count(index, ds, s, hp) for ds in DATASETS for s in SEEDS},
            "dataset_seed": {ds: list(SEEDS) for ds in DATASETS}, "clear_net_done": True}


META = [NB201.to_str(NB201.from_index(i)) for i in range(15625)]
EVALUATED = [0, 3, 6111]


def _check_official(table_bench):
    for idx in EVALUATED:
        arch = META[idx]
        for (ours_ds, split), (off_ds, name) in {
                ("cifar10", "train"): ("cifar10-valid", "train"), ("cifar10", "valid"): ("cifar10-valid", "x-valid"),
                ("cifar10", "test"): ("cifar10", "ori-test"), ("cifar100", "valid"): ("cifar100", "x-valid"),
                ("cifar100", "test"): ("cifar100", "x-test"), ("ImageNet16-120", "valid"): ("ImageNet16-120", "x-valid"),
                ("ImageNet16-120", "test"): ("ImageNet16-120", "x-test")}.items():
            for hp, ep in (("less", 12), ("full", 200)):
                vals = [_value(idx, off_ds, name, hp, s, "acc") for s in SEEDS]
                for s, v in zip(SEEDS, vals):
                    assert table_bench.query(arch, ours_ds, split, epochs=ep, seed=s) == pytest.approx(v)
                assert table_bench.query(arch, ours_ds, split, epochs=ep) == pytest.approx(np.mean(vals))
                assert table_bench.query(arch, ours_ds, split, "loss", ep, s) == pytest.approx(
                    _value(idx, off_ds, name, hp, s, "loss"))
    # architectures the file did not evaluate have no values
    with pytest.raises(BenchmarkError):
        table_bench.query(META[1], "cifar10", "test", epochs=200)


def test_official_pth_every_split(tmp_path):
    p = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    torch.save({"meta_archs": META, "total_archs": len(META), "evaluated_indexes": set(EVALUATED),
                "arch2infos": {i: {"less": _arch_results(i, "less"), "full": _arch_results(i, "full")}
                               for i in EVALUATED}}, p)
    bench = load_benchmark("nb201", p)
    _check_official(bench)
    assert bench.optimum("cifar10", "test", epochs=200).arch == META[6111]
    t = import_pth(p)
    assert t.seeds == ["777", "888"]


def test_nats_directory_every_split(tmp_path):
    d = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    d.mkdir()
    with bz2.open(d / "meta.pickle.pbz2", "wb") as f:
        pickle.dump({"meta_archs": META, "evaluated_indexes": EVALUATED}, f)
    for i in EVALUATED:
        with bz2.open(d / f"{i:06d}.pickle.pbz2", "wb") as f:
            pickle.dump({"less": _arch_results(i, "less"), "full": _arch_results(i, "full")}, f)
    _check_official(load_benchmark("nb201", d))
    assert import_nats_dir(d).metadata["converter"] == "nats-tss-dir"


def test_cache_is_reused_and_verified(tmp_path, shared_data, monkeypatch):
    import benchmarks.nb201 as mod
    from benchmarks.table import cache_root

    csv = shared_data / "nb201" / "nb201_200epoch_test.csv"
    load_benchmark("nb201", csv)
    monkeypatch.setattr(mod, "convert", lambda p: (_ for _ in ()).throw(AssertionError("reconverted")))
    assert load_benchmark("nb201", csv).query(ALL_SKIP, "cifar10", "test") == pytest.approx(54.2967, abs=1e-3)
    npz = next(cache_root().glob("nb201-*/table.npz"))
    npz.write_bytes(npz.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(BenchmarkError, match="checksum"):
        load_benchmark("nb201", csv)


@pytest.mark.parametrize("content,match", [(b"not a pickle", "not an official"), (None, "does not exist")])
def test_bad_files(tmp_path, content, match):
    p = tmp_path / "NAS-Bench-201.pth"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(BenchmarkError, match=match):
        load_benchmark("nb201", p)
    with pytest.raises(BenchmarkError, match="needs --benchmark-file"):
        load_benchmark("nb201", None)
