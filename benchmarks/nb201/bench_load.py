"""Load-and-query timing of the cached NB-201 table: ``python -m benchmarks.nb201.bench_load SOURCE``."""

from __future__ import annotations

import sys
import time

from benchmarks import load_benchmark
from search_spaces import get_space


def main(source: str) -> None:
    load_benchmark("nb201", source)  # converts once into the cache
    t0 = time.perf_counter()
    b = load_benchmark("nb201", source)
    t1 = time.perf_counter()
    space = get_space("nb201")
    archs = [space.from_index(i) for i in range(space.size)]
    t2 = time.perf_counter()
    for a in archs:
        b.query(a, "cifar10", "test", "accuracy", 200)
    t3 = time.perf_counter()
    b.query_many(archs, "cifar10", "test", "accuracy", 200)
    t4 = time.perf_counter()
    nbytes = sum(v.nbytes for v in b.table.means.values()) + sum(v.nbytes for v in b.table.per_seed.values())
    print(f"cached table load: {t1 - t0:.3f} s")
    print(f"15,625 single queries: {t3 - t2:.3f} s")
    print(f"15,625 queries via query_many: {t4 - t3:.4f} s")
    print(f"value arrays in memory: {nbytes / 2**20:.2f} MiB ({len(b.table.keys())} columns)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/nb201")
