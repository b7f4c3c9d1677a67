"""The Ray backend of ``harness sweep``: every run a Ray task, on a local Ray or a cluster."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search_spaces.errors import UserError

if TYPE_CHECKING:
    from harness.run.config import RunConfig
    from harness.run.sweep import SweepConfig


def ray_available() -> tuple[bool, str]:
    """Whether ``import ray`` works, and why not."""
    try:
        import ray  # noqa: F401
    except ImportError as e:
        return False, f"ray is not installed ({e}); install the extra: pip install 'nas-harness[ray]'"
    return True, ""


def run_ray(todo: list[RunConfig], sc: SweepConfig, init_kwargs: dict[str, Any],
            execute_run: Callable[..., dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each run of ``todo`` as a Ray task calling ``execute_run``; results as they complete."""
    ok, why = ray_available()
    if not ok:
        raise UserError(why)
    import ray

    started = not ray.is_initialized()
    if started:
        from search_spaces.registry import PLUGINS_ENV

        kw = dict(init_kwargs)
        if os.environ.get(PLUGINS_ENV) and "runtime_env" not in kw:
            # plug-ins load in every worker: they read the same list (a cluster's workers need the
            # modules installed or the files on shared storage)
            kw["runtime_env"] = {"env_vars": {PLUGINS_ENV: os.environ[PLUGINS_ENV]}}
        ray.init(address=sc.address, **kw)
    try:
        if not todo:
            return
        gpus = sc.gpus_per_run
        if gpus is None:  # one GPU per run when the cluster has any
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        # Ray sets CUDA_VISIBLE_DEVICES per task, so the run's "cuda" is its own GPU: no slot claiming.
        task = ray.remote(num_cpus=sc.cpus_per_run, num_gpus=gpus, max_retries=0)(execute_run)
        out = str(Path(sc.out).resolve())  # workers may start elsewhere; the path must be shared storage
        pending = [task.remote(c.to_dict(), out, 0) for c in todo]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        if started:
            ray.shutdown()
