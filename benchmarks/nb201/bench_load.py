"""Load and query timings of the cached NB-201 table.

Usage: ``python -m benchmarks.nb201.bench_load [SOURCE]`` (default: the shared
CSV folder ``../shared/data/nb201``). The first load converts SOURCE into the
cache (``$HARNESS_CACHE``); the figures are for the loads after that.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from benchmarks import load_benchmark
from benchmarks.nb201.loader import cache_dir
from search_spaces import get_space


def _mib(n: float) -> str:
    return f"{n / 2**20:.2f} MiB"


def main(source: str) -> None:
    """Print conversion, cached-load and query figures for ``source``."""
    t0 = time.perf_counter()
    load_benchmark("nb201", source)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    bench = load_benchmark("nb201", source)
    t_load = time.perf_counter() - t0
    space = get_space("nb201")
    archs = [space.from_index(i) for i in range(space.size)]
    strs = [space.to_str(a) for a in archs]
    key = bench.available()[0]
    args = (key.dataset, key.split, key.metric, key.epochs, "mean")

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    # a CSV may cover a subset, an official file may leave architectures unevaluated (NaN)
    keep = [i for i, s in enumerate(strs) if bench.table.row(s) is not None]
    keep = [i for i, v in zip(keep, bench.query_many([strs[i] for i in keep], *args)) if not math.isnan(v)]
    present, present_archs = [strs[i] for i in keep], [archs[i] for i in keep]
    t_str = timed(lambda: [bench.query(s, *args) for s in present])
    fresh = load_benchmark("nb201", source)  # Architecture lookups are memoised: time a cold instance
    t_arch = timed(lambda: [fresh.query(a, *args) for a in present_archs])
    t_many = timed(lambda: bench.query_many(present, *args))
    t = bench.table
    values = sum(v.nbytes for v in t.means.values()) + sum(v.nbytes for v in t.per_seed.values())
    strings = sum(sys.getsizeof(a) for a in t.archs)
    folder = cache_dir(Path(source))
    on_disk = sum(f.stat().st_size for f in folder.iterdir())
    print(f"source: {source} -> cache {folder} ({_mib(on_disk)} on disk)")
    print(f"table: {len(t.archs)} archs x {len(t.keys())} columns, seeds {t.seeds or 'none (means only)'}")
    print(f"first load (convert, or cache hit if already converted): {t_first:.3f} s")
    print(f"cached load (checksum-verified): {t_load:.3f} s")
    print(f"{len(present):,} single queries by string ({key}): {t_str:.3f} s")
    print(f"{len(present):,} single queries by Architecture, cold: {t_arch:.3f} s")
    print(f"{len(present):,} queries via one query_many: {t_many:.4f} s")
    print(f"table memory: values {_mib(values)}, architecture strings {_mib(strings)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[3] / "shared" / "data" / "nb201"))
