"""Sweeps: execute the runs of a plan (``harness.run.plan``), in this process, in joblib workers or on Ray.

Runs keep ``RunConfig.run_id()`` as their directory, so a re-run of the sweep
skips finished runs, resumes interrupted ones and retries failed ones; a
failure is written to ``failed.json`` in the run directory and never stops
the other runs. Workers share the CPUs (``harness.run.cpus``), print their
per-epoch lines to the inherited stderr and the log file, and stop within
seconds on SIGTERM or Ctrl-C, each releasing its run's lock.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.run.config import RunConfig
# the plan lives in its own module; its names stay importable from here
from harness.run.plan import (MAX_PLAN_BYTES, MAX_PLAN_NODES, MAX_PLAN_RUNS, PLAN_KEYS,  # noqa: F401
                              OptimizerEntry, Plan)
from harness.run.signals import Terminated
from search_spaces.errors import ConfigError, UserError
from search_spaces.io import atomic_write_json


# -- run state ------------------------------------------------------------
def run_state(cfg: RunConfig, out: str | Path) -> str:
    """``finished``, ``failed`` (last attempt), ``resumable`` (started, unfinished) or ``pending``."""
    d = Path(out) / cfg.run_id()
    if (d / "final.json").is_file():
        return "finished"
    if (d / "failed.json").is_file():
        return "failed"
    return "resumable" if _started(d) else "pending"


def _started(d: Path) -> bool:
    # config.json without a checkpoint: killed during the first epoch; resuming restarts it cleanly.
    return (d / "checkpoint.pt").is_file() or (d / "config.json").is_file()


def worker_progress() -> Callable[[str], None] | None:
    """Per-epoch lines of a run in a worker process: to the inherited stderr (a terminal, nohup's file, a
    SLURM log) and appended to ``--log-file`` (``HARNESS_LOG_FILE``); None under ``-q`` without a log."""
    import sys

    log = os.environ.get("HARNESS_LOG_FILE") or None
    quiet = os.environ.get("HARNESS_QUIET") == "1"
    if quiet and not log:
        return None

    def emit(line: str) -> None:
        if not quiet:
            sys.stderr.write(("\r\033[K" if sys.stderr.isatty() else "") + line + "\n")
            sys.stderr.flush()
        if log:
            try:  # one short O_APPEND write per line: lines of parallel workers never interleave
                fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
                try:
                    os.write(fd, (line + "\n").encode())
                finally:
                    os.close(fd)
            except OSError:
                pass  # the parent already checked the file; a late failure must not stop the run

    return emit


def execute_run(cfg_dict: dict[str, Any], out: str, gpu_slots: int = 0, threads: int | None = None,
                parent_pid: int | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run one config in this process; never raises for a run's own errors.

    Args:
        cfg_dict: ``RunConfig.to_dict()`` (plain data, so it crosses process boundaries).
        out: Sweep output root.
        gpu_slots: GPUs visible to the sweep; > 1 claims one of them for this run.
        threads: torch's intra-op threads for the run (a worker gets its share of the parent's threads,
            ``harness.run.cpus.share``; pin ``--threads`` to make a run's trajectory independent of ``--jobs``).
        parent_pid: The sweep's process (a worker's parent): once it died, the worker stops between
            epochs and exits; its run resumes with the next sweep.

    Returns:
        ``{"run_id", "status", "error", "seconds"}`` with status finished, diverged,
        failed, or locked (another worker holds the run).
    """
    from harness.run.lock import RunLockedError
    from harness.run.orphans import ParentDied, exit_if_orphaned, parent_watch
    from harness.run.runner import SearchRun

    if threads is not None:
        from harness.run.cpus import set_worker_threads

        set_worker_threads(threads)
    if parent_pid is not None:  # a worker: SIGTERM from its sweep stops it now, not after the epoch
        from harness.run.signals import terminate_like_interrupt

        terminate_like_interrupt()
    check = parent_watch(parent_pid) if parent_pid is not None else None
    exit_if_orphaned(check)
    cfg = RunConfig.from_dict(cfg_dict)
    d = Path(out) / cfg.run_id()
    t0 = time.perf_counter()
    slot = None
    try:
        if gpu_slots > 1 and cfg.device in ("cuda", "auto"):  # an explicit cuda:N keeps its GPU
            slot = _claim_gpu(Path(out), gpu_slots)
        final = SearchRun(cfg, out, stop_check=check, progress=progress or worker_progress()).run(
            resume=_started(d))
        (d / "failed.json").unlink(missing_ok=True)  # an old failure no longer applies
        status, error = final.get("status", "finished"), None
    except RunLockedError as e:
        status, error = "locked", str(e)
    except ParentDied:
        if slot is not None:
            slot.release()
        os._exit(3)  # the run's lock was released on the way out; nothing waits for this worker
    except KeyboardInterrupt:  # SIGTERM from the sweep that is stopping (or Ctrl-C): lock released, checkpoint kept
        if parent_pid is None:
            raise
        if slot is not None:
            slot.release()
        os._exit(143)
    except Exception as e:  # noqa: BLE001 - a failed run is recorded, the sweep goes on
        status, error = "failed", f"{type(e).__name__}: {e}"
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_json(d / "failed.json", {
            "run_id": cfg.run_id(), "error": error, "user_error": isinstance(e, UserError),
            "traceback": traceback.format_exc(), "host": socket.gethostname(), "pid": os.getpid(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "run": json.loads(json.dumps(cfg_dict, default=str))})
    finally:
        if slot is not None:
            slot.release()
    return {"run_id": cfg.run_id(), "status": status, "error": error, "seconds": time.perf_counter() - t0}


def _claim_gpu(out: Path, n: int):
    """Take a free GPU slot (lock file per GPU) and make it this process's current device."""
    import torch

    from harness.run.lock import RunLock, RunLockedError

    while True:
        for i in range(n):
            lock = RunLock(out / ".gpu-slots" / str(i))
            try:
                lock.acquire()
            except RunLockedError:
                continue
            # "cuda" in a config means the current device, so the run dir stays independent of the slot.
            torch.cuda.set_device(i)
            return lock
        time.sleep(0.5)


def visible_gpus() -> int:
    """Number of CUDA devices this process sees (0 without CUDA)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken CUDA install means CPU runs
        return 0


# -- execution -------------------------------------------------------------
@dataclass(frozen=True)
class SweepConfig:
    """How to execute a sweep.

    Attributes:
        out: Output root (one directory per run id).
        jobs: Parallel runs (local); None = one per GPU, else 1.
        backend: ``local`` (joblib processes) or ``ray``.
        address: Ray cluster address (None: start a local Ray).
        gpus_per_run, cpus_per_run: Ray task resources (gpus default: 1 if the cluster has GPUs).
        retry_failed: Re-run runs whose last attempt failed.
    """

    out: str = "results/runs"
    jobs: int | None = None
    backend: str = "local"
    address: str | None = None
    gpus_per_run: float | None = None
    cpus_per_run: float = 1.0
    retry_failed: bool = True
    #: Where an in-process run's per-epoch lines go (workers write theirs to stderr and the log file).
    progress: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.backend not in ("local", "ray"):
            raise ConfigError(f"backend must be 'local' or 'ray', got {self.backend!r}")
        if self.jobs is not None and self.jobs < 1:
            raise ConfigError(f"jobs must be >= 1, got {self.jobs}")
        if self.address and self.backend != "ray":
            raise ConfigError("--address needs --backend ray")


def run_sweep(configs: Iterable[RunConfig], sc: SweepConfig,
              on_start: Callable[[int, int], None] | None = None,
              on_result: Callable[[dict[str, Any]], None] | None = None,
              init_kwargs: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Execute every unfinished run; returns one result dict per run (finished ones as ``skipped``).

    Args:
        configs: The runs (e.g. ``Plan.expand()``).
        sc: Execution settings.
        on_start: Called once with (runs to execute, parallel jobs) before any starts.
        on_result: Called with each executed run's result as it completes.
        init_kwargs: Extra ``ray.init`` arguments (Ray backend only).
    """
    configs = list(configs)
    Path(sc.out).mkdir(parents=True, exist_ok=True)
    results, todo = [], []
    for c in configs:
        st = run_state(c, sc.out)
        if st == "finished" or (st == "failed" and not sc.retry_failed):
            results.append({"run_id": c.run_id(), "status": "skipped" if st == "finished" else "failed",
                            "error": None if st == "finished" else "earlier failure kept", "seconds": 0.0})
        else:
            todo.append(c)
    gpus = visible_gpus()
    jobs = sc.jobs or max(1, gpus)
    if on_start:
        on_start(len(todo), jobs)
    if sc.backend == "ray":
        from harness.run.ray_backend import run_ray

        results_iter = run_ray(todo, sc, init_kwargs or {}, execute_run)
    else:
        results_iter = _run_local(todo, sc, jobs, gpus)
    for r in results_iter:
        if on_result:
            on_result(r)
        results.append(r)
    order = {c.run_id(): i for i, c in enumerate(configs)}
    return sorted(results, key=lambda r: order[r["run_id"]])


def _run_local(todo: list[RunConfig], sc: SweepConfig, jobs: int, gpus: int) -> Iterator[dict[str, Any]]:
    if not todo:
        return
    if jobs == 1:  # in-process: no worker start-up cost, and tracebacks stay readable
        for c in todo:
            yield execute_run(c.to_dict(), sc.out, gpus if gpus > 1 else 0, progress=sc.progress)
        return
    from joblib import Parallel, delayed

    from harness.run.cpus import ensure_threads, share

    # workers share the CPUs: N workers x all threads each would oversubscribe them N times (issue 36)
    decided = ensure_threads()
    threads = decided["threads"] if decided["threads_source"] == "--threads" else share(decided["threads"], jobs)

    def stop(signum, frame) -> None:
        # before joblib sees the interrupt (it would kill the workers outright, locks left behind): each
        # worker gets SIGTERM, releases its run's lock and exits; then this process unwinds
        signal.signal(signal.SIGTERM, signal.SIG_IGN if signum == signal.SIGTERM else old[signal.SIGTERM])
        stop_workers()
        raise Terminated("SIGTERM") if signum == signal.SIGTERM else KeyboardInterrupt()

    old = {s_: signal.getsignal(s_) for s_ in (signal.SIGTERM, signal.SIGINT)}
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        for s_ in old:
            signal.signal(s_, stop)
    par = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    try:
        yield from par(delayed(execute_run)(c.to_dict(), sc.out, gpus if gpus > 1 else 0, threads, os.getpid())
                       for c in todo)
    finally:
        if main_thread:
            for s_, h in old.items():
                signal.signal(s_, h)


def stop_workers(grace: float = 20.0) -> int:
    """SIGTERM every worker process of this sweep (direct children running loky's worker) and wait up to
    ``grace`` seconds (ours: a worker needs well under a second to release its lock, and SLURM's default
    KillWait sends SIGKILL 30 s after SIGTERM); returns how many were still running then."""
    me, pids = os.getpid(), []
    for st in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields_ = st.read_text().rsplit(")", 1)[1].split()
            cmd = (st.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields_[1]) == me and b"loky" in cmd and b"resource_tracker" not in cmd:
            pids.append(int(st.parent.name))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]
        time.sleep(0.1)
    return len(pids)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def with_device(configs: Iterable[RunConfig], device: str | None) -> list[RunConfig]:
    """Override every config's device (the run id ignores the device)."""
    return [replace(c, device=device) if device else c for c in configs]


def summarize(results: list[dict[str, Any]]) -> dict[str, int]:
    """Counts per status."""
    out: dict[str, int] = {}
    for r in results:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


from harness.run.ray_backend import ray_available  # noqa: E402 (public here, as before)

__all__ = ["OptimizerEntry", "Plan", "SweepConfig", "execute_run", "ray_available", "run_state",
           "run_sweep", "summarize", "visible_gpus", "with_device"]
