"""Shared-CPU benchmark: a short search's wall and CPU seconds under the old and the new OpenMP wait policy,
quiet and beside busy processes, in one run with the cases alternated (ratios, not absolute times).

"old" leaves libgomp's default (spin, then sleep: ``OMP_WAIT_POLICY`` empty, which libgomp ignores); "new" is
what the harness chooses (``harness.openmp_wait_policy`` from the processes running when the run starts). Each
case is ``harness run --optimizer darts --epochs E --seeds 0`` in
a fresh process (the policy is read when torch loads), timed by ``os.wait4`` (the child's user + system time).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any

OLD = {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": ""}


def _busy() -> subprocess.Popen:
    """A process that keeps one core busy until killed (a competing job)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _one(policy: str, epochs: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one short search under ``policy``."""
    env = {k: v for k, v in os.environ.items() if k not in OLD}  # "new": the harness decides
    if policy == "old":
        env.update(OLD)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "harness", "run", "--optimizer", "darts", "--epochs", str(epochs),
                              "--seeds", "0", "-o", out, "-q"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark search under policy {policy!r} failed")
    return wall, usage.ru_utime + usage.ru_stime


def shared_cpu_bench(epochs: int = 2, rounds: int = 2, competitors: int = 2,
                     progress=None) -> dict[str, Any]:
    """Median wall / CPU seconds per (load, policy) and the ratios new / old, cases alternated per round."""
    res: dict[str, dict[str, list[tuple[float, float]]]] = {"quiet": {"old": [], "new": []},
                                                            "loaded": {"old": [], "new": []}}
    for load in ("quiet", "loaded"):
        busy = [_busy() for _ in range(competitors)] if load == "loaded" else []
        if busy:
            time.sleep(1)  # the competitors are running before the search starts
        try:
            for r in range(rounds):
                for policy in (("old", "new") if r % 2 == 0 else ("new", "old")):
                    res[load][policy].append(_one(policy, epochs))
                    if progress:
                        w, c = res[load][policy][-1]
                        progress(f"{load} {policy} round {r + 1}: {w:.1f} s wall, {c:.1f} CPU-s")
        finally:
            for b in busy:
                b.kill()
                b.wait()

    from statistics import median as med

    out: dict[str, Any] = {"epochs": epochs, "rounds": rounds, "competitors": competitors,
                           "cpus": len(os.sched_getaffinity(0)), "load_before": os.getloadavg()[0]}
    for load, cases in res.items():
        wall = {p: med([w for w, _ in v]) for p, v in cases.items()}
        cpu = {p: med([c for _, c in v]) for p, v in cases.items()}
        out[load] = {"wall_s": wall, "cpu_s": cpu, "rounds": {p: [[round(w, 2), round(c, 2)] for w, c in v]
                                                             for p, v in cases.items()},
                     "cpu_ratio_old_over_new": cpu["old"] / cpu["new"],
                     "speed_ratio_new_over_old": wall["old"] / wall["new"]}
    return out
