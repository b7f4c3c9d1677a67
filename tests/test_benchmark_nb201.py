"""NB-201 ground truth: real published values, official formats, split mapping, cache."""

from __future__ import annotations

import bz2
import functools
import pickle
import re
import time
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import load_benchmark
from benchmarks.nb201 import import_csv, import_pth, merge_tables
from benchmarks.table import cache_root
from search_spaces import get_space
from search_spaces.errors import ArchitectureError, BenchmarkError

NB201 = get_space("nb201")
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
META = [NB201.to_str(NB201.from_index(i)) for i in range(NB201.size)]


# --- real published values (shared CSVs) --------------------------------------------------------

@pytest.fixture(scope="module")
def real(shared_data):
    return load_benchmark("nb201", shared_data / "nb201")


@pytest.mark.parametrize("dataset,value,index", [("cifar10", 94.3733, 6111), ("cifar100", 73.5133, 9930),
                                                 ("ImageNet16-120", 47.3111, 857)])
def test_published_optima(real, dataset, value, index):
    opt = real.optimum(dataset, "test", "accuracy", 200, "mean")
    assert opt.value == pytest.approx(value, abs=1e-3)
    assert NB201.from_str(opt.arch).index == index
    assert real.regret(opt.arch, dataset, "test", "accuracy", 200, "mean") == 0.0


def test_all_skip_collapse_value(real):
    assert real.query(ALL_SKIP, "cifar10", "test", "accuracy", 200, "mean") == pytest.approx(54.2967, abs=1e-3)
    assert real.regret(ALL_SKIP, "cifar10", "test", "accuracy", 200, "mean") == pytest.approx(94.3733 - 54.2967, abs=1e-3)
    assert real.query(NB201.from_str(ALL_SKIP), "cifar10", "test", "accuracy", 200, "mean") == pytest.approx(54.2967, abs=1e-3)


def test_values_match_both_files(real, shared_data):
    t12 = pd.read_csv(shared_data / "nb201" / "nb201_12epoch_valid_test.csv")
    t200 = pd.read_csv(shared_data / "nb201" / "nb201_200epoch_test.csv")
    assert len(real.table.archs) == 15625 and real.table.seeds == []
    cols12 = {"cifar10-val": ("cifar10", "valid"), "cifar10-test": ("cifar10", "test"),
              "cifar100-val": ("cifar100", "valid"), "cifar100-test": ("cifar100", "test"),
              "imagenet-val": ("ImageNet16-120", "valid"), "imagenet-test": ("ImageNet16-120", "test")}
    for i in (0, 1, 777, 6111, 15624):
        row = t12.iloc[i]
        for col, (ds, split) in cols12.items():
            assert real.query(row["cellstr"], ds, split, "accuracy", 12, "mean") == pytest.approx(row[col], abs=1e-9)
        row = t200.iloc[i]
        for col, ds in (("CIFAR10TestAccuracy200Epochs", "cifar10"), ("CIFAR100TestAccuracy200Epochs", "cifar100"),
                        ("ImageNetTestAccuracy200Epochs", "ImageNet16-120")):
            assert real.query(row["ArchitectureString"], ds, "test", "accuracy", 200, "mean") == pytest.approx(row[col], abs=1e-9)
    md = real.table.metadata
    assert sorted(md["source"]) == ["nb201_12epoch_valid_test.csv", "nb201_200epoch_test.csv"]
    assert len(md["source_sha256"]) == 2 and md["created_at"] and md["library_version"] and md["converter"]


def test_no_silent_fallbacks(real):
    with pytest.raises(BenchmarkError, match="cifar10/valid/accuracy@200"):
        real.query(ALL_SKIP, "cifar10", "valid", "accuracy", 200, "mean")
    with pytest.raises(BenchmarkError, match="only seed means"):
        real.query(ALL_SKIP, "cifar10", "test", "accuracy", 200, 0)
    with pytest.raises(BenchmarkError, match="unknown dataset"):
        real.query(ALL_SKIP, "mnist", "test", "accuracy", 200, "mean")
    with pytest.raises(BenchmarkError):
        real.query(ALL_SKIP, "cifar10", "test", "loss", 200, "mean")
    with pytest.raises(BenchmarkError):
        real.query(ALL_SKIP, "cifar10", "test", "accuracy", 100, "mean")
    with pytest.raises(ArchitectureError):
        real.query("|bogus~0|", "cifar10", "test", "accuracy", 200, "mean")


def test_cached_load_and_15625_queries_are_fast(shared_data):
    src = shared_data / "nb201"
    load_benchmark("nb201", src)  # converts
    t = time.perf_counter()
    bench = load_benchmark("nb201", src)
    for a in META:
        bench.query(a, "cifar10", "test", "accuracy", 200, "mean")
    v = bench.query_many([NB201.from_index(i) for i in range(NB201.size)], "cifar100", "test", "accuracy", 200, "mean")
    assert time.perf_counter() - t < 5.0  # about 0.3 s here; generous for shared slow machines
    assert np.nanmax(v) == pytest.approx(73.5133, abs=1e-3)


def test_csv_subset_in_any_order(tmp_path, shared_data):
    df = pd.read_csv(shared_data / "nb201" / "nb201_200epoch_test.csv")
    picked = [9930, 5, 6111, 42]
    p = tmp_path / "subset.csv"
    df.iloc[picked].to_csv(p, index=False)
    t = import_csv(p)
    assert t.archs == [META[i] for i in sorted(picked)] and t.seeds == [] and not t.per_seed
    col = t.means[next(k for k in t.means if k.dataset == "cifar100")]
    assert col.tolist() == pytest.approx(df["CIFAR100TestAccuracy200Epochs"].iloc[sorted(picked)].tolist())
    bench = load_benchmark("nb201", p)
    assert bench.optimum("cifar100", "test", "accuracy", 200, "mean").arch == META[9930]
    with pytest.raises(ArchitectureError, match="not in the table"):
        bench.query(META[7], "cifar10", "test", "accuracy", 200, "mean")
    with pytest.raises(ArchitectureError, match="not in the table"):
        bench.query(NB201.from_index(7), "cifar10", "test", "accuracy", 200, "mean")


def test_csv_errors_and_merge(tmp_path, shared_data):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(BenchmarkError, match="CIFAR10TestAccuracy200Epochs.*cifar10-val"):
        import_csv(bad)
    df = pd.read_csv(shared_data / "nb201" / "nb201_200epoch_test.csv").iloc[:4]
    dup = tmp_path / "dup.csv"
    pd.concat([df, df.iloc[:1]]).to_csv(dup, index=False)
    with pytest.raises(BenchmarkError, match="appears 2 times"):
        import_csv(dup)
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    df.iloc[:2].to_csv(a, index=False)
    df.iloc[2:].to_csv(b, index=False)
    merged = merge_tables([import_csv(a), import_csv(b)])
    assert merged.archs == META[:4] and len(merged.metadata["source"]) == 2
    clash = df.copy()
    clash.loc[0, "CIFAR10TestAccuracy200Epochs"] += 1
    clash.to_csv(c, index=False)
    with pytest.raises(BenchmarkError, match="disagree"):
        merge_tables([import_csv(a), import_csv(c)])


# --- official structures, written by the test -------------------------------------------------

#: Official datasets and the eval sets each of their trials records (v1_1 / NATS).
EVALS = {"cifar10-valid": ["x-valid", "ori-test"], "cifar10": ["ori-test"],
         "cifar100": ["ori-test", "x-valid", "x-test"], "ImageNet16-120": ["ori-test", "x-valid", "x-test"]}
#: The mapping under test, written out independently of the code.
MAPPING = {("cifar10", "train"): ("cifar10-valid", "train"), ("cifar10", "valid"): ("cifar10-valid", "x-valid"),
           ("cifar10", "test"): ("cifar10", "ori-test"), ("cifar100", "train"): ("cifar100", "train"),
           ("cifar100", "valid"): ("cifar100", "x-valid"), ("cifar100", "test"): ("cifar100", "x-test"),
           ("ImageNet16-120", "train"): ("ImageNet16-120", "train"),
           ("ImageNet16-120", "valid"): ("ImageNet16-120", "x-valid"),
           ("ImageNet16-120", "test"): ("ImageNet16-120", "x-test")}
EVALUATED = [0, 3, 6111, 15624]
HPS = {"less": 12, "full": 200}


def seeds_of(index, ds, hp):
    # as in v1_1: 12-epoch runs once (cifar10-valid twice); some archs have fewer 200-epoch trials
    if hp == "less":
        return [777, 888] if ds == "cifar10-valid" else [777]
    return [777, 888] if index == 3 else [777, 888, 999]


def val(index, ds, name, hp, seed, epoch, kind):
    """A distinct number per cell; the epoch term catches reading the wrong epoch."""
    base = 10 * list(EVALS).index(ds) + 2 * (["train", "x-valid", "x-test", "ori-test"].index(name))
    return (base + 0.1 * [777, 888, 999].index(seed) + (0.05 if hp == "less" else 0) + index * 1e-5
            + epoch * 1e-3 + (500.0 if kind == "loss" else 0.0))


def per_epoch_time(ds, seed):
    return 1.5 + list(EVALS).index(ds) + 0.01 * [777, 888, 999].index(seed)


def results_count(index, ds, seed, hp):
    """A ResultsCount state dict with the official keys, in the official order."""
    epochs = HPS[hp]
    names = EVALS[ds]
    weights = OrderedDict(w=torch.ones(3, 3)) if index == 3 and hp == "full" else None  # must be dropped unread
    keys = [(n, e) for n in names for e in range(epochs)]
    return {"name": ds, "net_state_dict": weights,
            "train_acc1es": {e: val(index, ds, "train", hp, seed, e, "acc") for e in range(epochs)},
            "train_acc5es": {e: 99.0 for e in range(epochs)},
            "train_losses": {e: val(index, ds, "train", hp, seed, e, "loss") for e in range(epochs)},
            "train_times": {e: per_epoch_time(ds, seed) for e in range(epochs)},
            "arch_config": {"name": "infer.tiny", "C": 16, "N": 5, "arch_str": META[index], "class_num": 10},
            "params": 0.1 + index * 1e-4 + list(EVALS).index(ds), "flop": 10.0 + index * 1e-3,
            "seed": seed, "epochs": epochs, "latency": [0.01], "eval_names": names,
            "eval_acc1es": {f"{n}@{e}": val(index, ds, n, hp, seed, e, "acc") for n, e in keys},
            "eval_times": {f"{n}@{e}": 0.1 for n, e in keys},
            "eval_losses": {f"{n}@{e}": val(index, ds, n, hp, seed, e, "loss") for n, e in keys}}


def arch_results(index, hp, datasets=tuple(EVALS)):
    """An ArchResults state dict."""
    return {"arch_index": index, "arch_str": META[index],
            "all_results": {(ds, s): results_count(index, ds, s, hp) for ds in datasets for s in seeds_of(index, ds, hp)},
            "dataset_seed": {ds: seeds_of(index, ds, hp) for ds in datasets}, "clear_net_done": False}


@functools.lru_cache(maxsize=None)
def pth_dict(less_datasets=tuple(EVALS)):
    """The official .pth dict (built once per module; treat as read-only)."""
    return {"meta_archs": META, "total_archs": len(META), "evaluated_indexes": list(EVALUATED),
            "arch2infos": {i: {"less": arch_results(i, "less", less_datasets), "full": arch_results(i, "full")}
                           for i in EVALUATED}}


def check_every_value(bench):
    """Every canonical split, metric, budget and seed against the written numbers."""
    for idx in EVALUATED:
        arch = META[idx]
        for (ours, split), (ds, name) in MAPPING.items():
            for hp, ep in HPS.items():
                seeds = seeds_of(idx, ds, hp)
                for metric in ("accuracy", "loss"):
                    kind = "acc" if metric == "accuracy" else "loss"
                    vals = [val(idx, ds, name, hp, s, ep - 1, kind) for s in seeds]
                    for s, v in zip(seeds, vals):
                        assert bench.query(arch, ours, split, metric, ep, s) == pytest.approx(v, rel=1e-12)
                        assert bench.query(arch, ours, split, metric, ep, str(s)) == pytest.approx(v, rel=1e-12)
                    assert bench.query(arch, ours, split, metric, ep, "mean") == pytest.approx(np.mean(vals), rel=1e-12)
                times = [ep * per_epoch_time(ds, s) for s in seeds]
                assert bench.query(arch, ours, split, "time", ep, "mean") == pytest.approx(np.mean(times))
                assert bench.query(arch, ours, split, "params", ep, seeds[0]) == pytest.approx(
                    0.1 + idx * 1e-4 + list(EVALS).index(ds))
                assert bench.query(arch, ours, split, "flops", ep, "mean") == pytest.approx(10.0 + idx * 1e-3)
                for s in {777, 888, 999} - set(seeds):  # trials that do not exist are missing, not imputed
                    with pytest.raises(BenchmarkError, match="no accuracy"):
                        bench.query(arch, ours, split, "accuracy", ep, s)
    assert bench.table.seeds == ["777", "888", "999"]
    assert bench.table.archs == META
    with pytest.raises(BenchmarkError, match="no accuracy"):  # not evaluated: NaN, never a neighbour's value
        bench.query(META[1], "cifar10", "test", "accuracy", 200, "mean")
    assert bench.optimum("cifar10", "test", "accuracy", 200, "mean").arch == META[15624]


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_official_pth_every_split(tmp_path, zip_format):
    p = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(pth_dict(), p, _use_new_zipfile_serialization=zip_format)
    bench = load_benchmark("nb201", p)
    check_every_value(bench)
    assert bench.table.metadata["source"] == [p.name]
    if not zip_format:  # the official files are legacy; the low-memory reader must give the same table
        lean = import_pth(p, low_memory=True)
        assert lean.metadata["converter"] == ["nb201-pth:lean"] and set(lean.per_seed) == set(bench.table.per_seed)
        for k, v in bench.table.per_seed.items():
            np.testing.assert_array_equal(lean.per_seed[k], v)


def test_v1_0_less_only_cifar10_valid(tmp_path):
    p = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    torch.save(pth_dict(less_datasets=("cifar10-valid",)), p, _use_new_zipfile_serialization=False)
    bench = load_benchmark("nb201", p)
    assert bench.query(META[0], "cifar10", "valid", "accuracy", 12, 888) == pytest.approx(
        val(0, "cifar10-valid", "x-valid", "less", 888, 11, "acc"))
    with pytest.raises(BenchmarkError, match="no cifar10/test/accuracy@12"):
        bench.query(META[0], "cifar10", "test", "accuracy", 12, "mean")


def _write_bz2(path, obj):
    with bz2.open(path, "wb", compresslevel=1) as f:  # same format as NATS-Bench writes, just faster here
        pickle.dump(obj, f, protocol=4)


def test_nats_directory_every_split(tmp_path):
    d = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    d.mkdir()
    _write_bz2(d / "meta.pickle.pbz2", {"meta_archs": META})
    for i in EVALUATED:
        _write_bz2(d / f"{i:06d}.pickle.pbz2", {"12": arch_results(i, "less"), "200": arch_results(i, "full")})
    bench = load_benchmark("nb201", d)
    check_every_value(bench)
    assert bench.table.metadata["converter"] == ["nats-tss-dir"]
    assert load_benchmark("nb201", tmp_path).table.archs == META  # the folder the tar unpacks into works too


def test_nats_single_file(tmp_path):
    p = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    d = dict(pth_dict())
    d["arch2infos"] = {i: {"12": v["less"], "200": v["full"]} for i, v in d["arch2infos"].items()}
    _write_bz2(p, d)
    check_every_value(load_benchmark("nb201", p))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("make,match", [
    (lambda p: p.write_text("this is not a torch file\n"), "unreadable"),
    (lambda p: p.write_bytes(pickle.dumps({"meta_archs": [_Evil()]}, protocol=2)), "unexpected class .*print"),
    (lambda p: torch.save({"something": 1}, p), "expected the official dict"),
    (lambda p: torch.save({"meta_archs": ["|x~0|"], "arch2infos": {}}, p), "malformed"),
])
def test_bad_official_files(tmp_path, capsys, make, match):
    p = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    make(p)
    with pytest.raises(BenchmarkError, match=match) as e:
        load_benchmark("nb201", p)
    assert p.name in str(e.value)
    assert "pwned" not in capsys.readouterr().out


def test_truncated_pth(tmp_path):
    p = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    torch.save({"meta_archs": META, "arch2infos": {}}, p, _use_new_zipfile_serialization=False)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(BenchmarkError, match="unreadable.*expected a torch-saved") as e:
        load_benchmark("nb201", p)
    assert str(p) in str(e.value)


# --- loader and cache ---------------------------------------------------------------------------

def test_missing_and_absent_files(tmp_path):
    with pytest.raises(BenchmarkError, match="needs --benchmark-file.*pth.*NATS.*CSV"):
        load_benchmark("nb201", None)
    with pytest.raises(BenchmarkError, match="nope.pth does not exist"):
        load_benchmark("nb201", tmp_path / "nope.pth")
    with pytest.raises(BenchmarkError, match="no NB-201 data"):
        load_benchmark("nb201", tmp_path)


def test_cache_is_reused_and_verified(tmp_path, shared_data, monkeypatch):
    import benchmarks.nb201.loader as loader

    csv = tmp_path / "nb201_200epoch_test.csv"
    csv.write_bytes((shared_data / "nb201" / "nb201_200epoch_test.csv").read_bytes())
    load_benchmark("nb201", csv)
    real_convert, real_sha = loader.convert, loader.sha256_file
    monkeypatch.setattr(loader, "convert", lambda p: pytest.fail("reconverted"))
    monkeypatch.setattr(loader, "sha256_file", lambda p: pytest.fail("source hashed again"))
    assert load_benchmark("nb201", csv).query(ALL_SKIP, "cifar10", "test", "accuracy", 200, "mean") == pytest.approx(54.2967, abs=1e-3)
    (folder,) = [d for d in cache_root().glob("nb201-*") if d.is_dir()]
    assert folder.name == f"nb201-{real_sha(csv)[:16]}"

    meta = (folder / "metadata.json").read_text()  # a cache from another converter version is rebuilt
    (folder / "metadata.json").write_text(meta.replace('"converter_version": 2', '"converter_version": 1'))
    calls = []
    monkeypatch.setattr(loader, "convert", lambda p: calls.append(p) or real_convert(p))
    load_benchmark("nb201", csv)
    assert calls == [csv]

    npz = folder / "table.npz"
    npz.write_bytes(npz.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(BenchmarkError, match=f"checksum.*delete {re.escape(str(folder))}"):
        load_benchmark("nb201", csv)


def test_changed_source_gets_a_new_cache(tmp_path, shared_data):
    df = pd.read_csv(shared_data / "nb201" / "nb201_200epoch_test.csv").iloc[:3]
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    first = load_benchmark("nb201", p).query(META[0], "cifar10", "test", "accuracy", 200, "mean")
    df.loc[0, "CIFAR10TestAccuracy200Epochs"] = 12.5
    df.to_csv(p, index=False)
    assert first != 12.5 and load_benchmark("nb201", p).query(META[0], "cifar10", "test", "accuracy", 200, "mean") == 12.5
    assert len([d for d in cache_root().glob("nb201-*") if d.is_dir()]) == 2
