"""NAS-Bench-1Shot1 ground truth: ``nb1shot1-s1``, ``-s2``, ``-s3`` from the official NB-101 tfrecord.

Pass ``nasbench_only108.tfrecord`` (108 epochs) or ``nasbench_full.tfrecord``
(4, 12, 36, 108 epochs) as ``--benchmark-file``; the first load converts it
into a cached table per space (see ``convert``). Query with ``epochs=108``.

``PUBLISHED_OPTIMA`` holds the best single-repeat errors the paper's code
reports per space (fractions). The reference regret
(``reference_test_regret``, nasbench-1shot1
``experiments/analysis/experiment_database.py``) is the mean test error over
the three repeats minus that constant, as a fraction; the generic
``Benchmark.regret`` (the table's best mean accuracy minus the value, in
percent points) is the alternative.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import register_benchmark
from benchmarks.base import TabularBenchmark
from benchmarks.nb1shot1.convert import compute_space_hashes, convert, load_or_convert, space_hashes
from search_spaces import get_space
from search_spaces.errors import BenchmarkError

#: Best test / validation error of a single repeat at 108 epochs (reference code, fractions).
PUBLISHED_OPTIMA: dict[str, dict[str, float]] = {
    "nb1shot1-s1": {"test_error": 0.05448716878890991, "valid_error": 0.049278855323791504},
    "nb1shot1-s2": {"test_error": 0.057592153549194336, "valid_error": 0.051582515239715576},
    "nb1shot1-s3": {"test_error": 0.05338543653488159, "valid_error": 0.04847759008407593},
}

def reference_test_regret(bench: TabularBenchmark, arch, epochs: int = 108) -> float:
    """nasbench-1shot1's test regret of ``arch``: mean test error over the repeats minus the space's
    best single-repeat test error (``PUBLISHED_OPTIMA``), both fractions."""
    space = bench.space.name
    if space not in PUBLISHED_OPTIMA:
        raise BenchmarkError(f"no published NB-1Shot1 optimum for space {space!r}")
    acc = bench.query(arch, "cifar10", "test", "accuracy", epochs, "mean")
    return (100.0 - acc) / 100.0 - PUBLISHED_OPTIMA[space]["test_error"]


_ACCEPTED = "the official nasbench_only108.tfrecord or nasbench_full.tfrecord"


def _make_loader(name: str):
    def load(file: Path | None) -> TabularBenchmark:
        if file is None:
            raise BenchmarkError(f"benchmark {name!r} needs --benchmark-file: {_ACCEPTED}")
        return TabularBenchmark(load_or_convert(file, get_space(name)), name=name)

    load.__name__ = f"load_{name.replace('-', '_')}"
    load.__doc__ = f"Load the {name} table from an NB-101 tfrecord (converted once, then cached)."
    return load


for _n in (1, 2, 3):
    _name = f"nb1shot1-s{_n}"
    register_benchmark(_name, _name, f"NAS-Bench-1Shot1 space {_n} from an NB-101 tfrecord (--benchmark-file)")(
        _make_loader(_name))

__all__ = ["PUBLISHED_OPTIMA", "reference_test_regret", "compute_space_hashes", "convert", "load_or_convert", "space_hashes"]
