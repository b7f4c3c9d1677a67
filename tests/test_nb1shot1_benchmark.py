"""NAS-Bench-1Shot1 tables from a synthetic tfrecord in the official NB-101 format."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from benchmarks import load_benchmark
from benchmarks.nb1shot1 import PUBLISHED_OPTIMA, compute_space_hashes, convert
from benchmarks.nb101 import EvaluationData, ModelMetrics, encode_nb101_record, write_tfrecord
from search_spaces import get_space
from search_spaces.errors import BenchmarkError


def _record(spec, h, epochs, acc, params=1000):
    m = ModelMetrics([EvaluationData(0.0, 0.0, 0.1, 0.1, 0.1),
                      EvaluationData(epochs / 2, 5.0, acc - 0.1, acc - 0.1, acc - 0.1),
                      EvaluationData(float(epochs), 10.0 * epochs, min(1.0, acc + 0.05), acc, acc - 0.01)],
                     params, 11.0 * epochs)
    adj = "".join(str(int(b)) for b in spec.matrix.flatten())
    return encode_nb101_record(h, epochs, adj, ",".join(spec.ops), m)


@pytest.fixture()
def synthetic(tmp_path):
    """Three space-1 members (3 repeats at 4 and 108 epochs) plus non-member records."""
    space = get_space("nb1shot1-s1")
    members, seen = [], set()
    for i in (0, 100, 5000, 1, 2, 3, 4, 777, 3333):  # three distinct NB-101 models
        h = space.spec(space.from_index(i)).hash()
        if h not in seen and len(members) < 3:
            seen.add(h)
            members.append(space.from_index(i))
    records, accs = [], {}
    for j, a in enumerate(members):
        spec = space.spec(a)
        pr = type(spec)(spec.matrix, spec.ops)  # files store pruned cells
        for epochs in (4, 108):
            for r in range(3):
                acc = 0.80 + 0.05 * j + 0.01 * r
                accs[(a, epochs, r)] = acc
                records.append(_record(pr, spec.hash(), epochs, acc, params=1000 + j))
    for k in range(4):  # non-members: unknown hashes
        fake = hashlib.md5(f"other{k}".encode()).hexdigest()
        records.insert(2 * k, _record(space.spec(members[0]), fake, 108, 0.99))
    path = tmp_path / "nasbench_only108.tfrecord"
    write_tfrecord(path, records)
    return space, members, accs, path


def test_convert_and_query(synthetic):
    space, members, accs, path = synthetic
    table = convert(path, space, quiet=True)
    assert table.space == "nb1shot1-s1" and len(table.archs) == 6240 and table.seeds == ["0", "1", "2"]
    keys = {str(k) for k in table.keys()}
    assert "cifar10/test/accuracy@108" in keys and "cifar10/valid/accuracy@4" in keys
    assert "cifar10/train/time@108" in keys and "cifar10/train/params@108" in keys
    assert table.metadata["models_found"] == 3
    from benchmarks.base import TabularBenchmark

    b = TabularBenchmark(table, name="nb1shot1-s1")
    a = members[1]
    assert b.query(a, "cifar10", "valid", "accuracy", 108, 2) == pytest.approx(100 * accs[(a, 108, 2)])
    assert b.query(a, "cifar10", "test", "accuracy", 108, "mean") == pytest.approx(100 * (0.85 + 0.01 - 0.01))
    assert b.query(a.to_str(), "cifar10", "train", "params", 108, "mean") == 1001
    # architectures that are the same NB-101 model share the values
    hashes = compute_space_hashes(space, quiet=True).tolist()
    twins = [i for i, h in enumerate(hashes) if h == hashes[space.index(a)]]
    col = table.column(next(k for k in table.keys() if str(k) == "cifar10/valid/accuracy@108"), "mean")
    assert np.allclose(col[twins], col[space.index(a)])
    assert np.isnan(col).sum() == 6240 - sum(h in {hashes[space.index(m)] for m in members} for h in hashes)
    opt = b.optimum("cifar10", "valid", "accuracy", 108, "mean")
    assert opt.value == pytest.approx(100 * (0.90 + 0.01))
    assert b.regret(members[0], "cifar10", "valid", "accuracy", 108, "mean") == pytest.approx(10.0)
    with pytest.raises(BenchmarkError, match="no cifar10/valid/accuracy@200"):
        b.query(a, "cifar10", "valid", "accuracy", 200, "mean")


def test_registered_loader_caches(synthetic, tmp_path):
    space, members, _, path = synthetic
    b = load_benchmark("nb1shot1-s1", path)
    assert b.query(members[0], "cifar10", "valid", "accuracy", 108, 0) == pytest.approx(80.0)
    b2 = load_benchmark("nb1shot1-s1", path)  # second load reads the cache
    assert b2.table.metadata.get("source_sha256") and len(b2.table.archs) == 6240
    with pytest.raises(BenchmarkError, match="--benchmark-file"):
        load_benchmark("nb1shot1-s2", None)


def test_corrupted_file_names_offset(synthetic):
    space, _, _, path = synthetic
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0x55
    path.write_bytes(bytes(raw))
    with pytest.raises(BenchmarkError, match="byte offset"):
        convert(path, space, quiet=True)


def test_published_optima_documented():
    assert set(PUBLISHED_OPTIMA) == {"nb1shot1-s1", "nb1shot1-s2", "nb1shot1-s3"}
    assert round(PUBLISHED_OPTIMA["nb1shot1-s1"]["test_error"], 6) == 0.054487
    assert round(PUBLISHED_OPTIMA["nb1shot1-s3"]["valid_error"], 6) == 0.048478


def test_reference_regret_convention(synthetic):
    """nasbench-1shot1 experiment_database.py: mean test error over the repeats minus the space's best
    single-repeat test error (0.054487 for space 1), as a fraction; the table convention stays available."""
    from benchmarks.nb1shot1 import reference_test_regret
    from harness.reporting.plots import regret_label
    from harness.run.config import RunConfig
    from harness.run.ground_truth import GroundTruth

    space, members, accs, path = synthetic
    b = load_benchmark("nb1shot1-s1", path)
    a = members[1]
    mean_err = 1 - (sum(accs[(a, 108, r)] for r in range(3)) / 3 - 0.01)  # _record's test = valid - 0.01
    assert reference_test_regret(b, a) == pytest.approx(mean_err - 0.05448716878890991, rel=1e-9)
    for s, const in (("nb1shot1-s2", 0.057592153549194336), ("nb1shot1-s3", 0.05338543653488159)):
        assert PUBLISHED_OPTIMA[s]["test_error"] == const
    cfg = RunConfig(space="nb1shot1-s1", dataset="cifar10", benchmark="nb1shot1-s1", benchmark_file=str(path))
    assert cfg.regret == "nb1shot1-reference" and cfg.batch_size == 96
    gt = GroundTruth.create(cfg, space)
    row = gt.evaluate(a)
    assert row["test_regret"] == pytest.approx(mean_err - 0.05448716878890991, rel=1e-9)
    assert gt.describe()["regret"]["unit"] == "fraction"
    table = GroundTruth.create(RunConfig(space="nb1shot1-s1", dataset="cifar10", benchmark="nb1shot1-s1",
                                         benchmark_file=str(path), regret="table"), space)
    assert table.evaluate(a)["test_regret"] == pytest.approx(100 * 0.90 - 100 * (1 - mean_err))
    import pandas as pd

    assert "fraction" in regret_label(pd.DataFrame({"regret_convention": ["nb1shot1-reference"]}))
    assert "% points" in regret_label(pd.DataFrame({"epoch": [0]}))
    assert "MIXED" in regret_label(pd.DataFrame({"regret_convention": ["table", "nb1shot1-reference"]}))
    with pytest.raises(Exception, match="NB-1Shot1"):
        RunConfig(regret="nb1shot1-reference")
