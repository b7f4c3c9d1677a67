"""Sweeps: plan expansion, stable ids, skip/resume, failures recorded, Ray (or a skip)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from harness.run.config import RunConfig
from harness.run.sweep import Plan, SweepConfig, run_state, run_sweep
from search_spaces.errors import ConfigError, UserError

TINY = {"spaces": ["s5"], "datasets": [{"dataset": "digits", "benchmark": "none"}], "budget": 1,
        "batch_size": 32, "subset": 96, "channels": 4}

PLAN_YAML = """
optimizers:
  - darts
  - name: rsws
    config: {n_candidates: 4}
    grid: {w_lr: [0.01, 0.02]}
spaces: [s5]
datasets: [digits, {dataset: digits, benchmark: none}]
seeds: [0, 1]
budget: [1, 2]
batch_size: 32
"""


def test_plan_expansion_and_stable_ids(tmp_path):
    p = tmp_path / "plan.yaml"
    p.write_text(PLAN_YAML)
    runs = Plan.load(p).expand()
    # (darts + 2 rsws settings) x 2 datasets x 2 budgets x 2 seeds
    assert len(runs) == 3 * 2 * 2 * 2 and len({r.run_id() for r in runs}) == len(runs)
    assert all(isinstance(r, RunConfig) and r.batch_size == 32 for r in runs)
    rs = [r for r in runs if r.optimizer == "rsws"]
    assert {r.optimizer_config["w_lr"] for r in rs} == {0.01, 0.02}
    assert all(r.optimizer_config["n_candidates"] == 4 for r in rs)
    assert {r.epochs for r in runs} == {1, 2} and {r.benchmark for r in runs} == {"s5-digits", "none"}
    # same plan, keys reordered: same ids in the same order
    p.write_text("seeds: [0, 1]\nbatch_size: 32\nbudget: [1, 2]\n" + PLAN_YAML.split("spaces:")[0]
                 + "spaces: [s5]\ndatasets: [digits, {benchmark: none, dataset: digits}]\n")
    assert [r.run_id() for r in Plan.load(p).expand()] == [r.run_id() for r in runs]
    # the id is the runner's: seed-specific, device-independent
    assert runs[0].run_id() == RunConfig(**{**runs[0].to_dict(), "device": "cuda"}).run_id()


@pytest.mark.parametrize("bad, match", [
    ({"optimizers": ["darts"], "lr": 1}, "unknown key 'lr'"),
    ({"seeds": [0]}, "'optimizers' is required"),
    ({"optimizers": [{"name": "darts", "grid": {"x": 3}}]}, "non-empty list"),
    ({"optimizers": ["darts"], "budget": 2, "epochs": 2}, "not both"),
    ({"optimizers": ["darts"], "seeds": [-1]}, "non-negative"),
    ({"optimizers": ["darts"], "epochs": 0}, "positive integer"),
])
def test_plan_validation(bad, match):
    with pytest.raises(ConfigError, match=match):
        Plan.from_dict(bad).expand()


def test_local_sweep_failure_recorded_then_skipped(tmp_path):
    # batch size 10000 > the 96-image split: a run-time error in one of two runs
    plan = Plan.from_dict({**TINY, "optimizers": ["darts"], "batch_size": [32, 10000]})
    runs = plan.expand()
    out = tmp_path / "out"
    seen = []
    res = run_sweep(runs, SweepConfig(out=str(out), jobs=1), on_result=seen.append)
    assert [r["status"] for r in res] == ["finished", "failed"] and len(seen) == 2
    failed = json.loads((out / runs[1].run_id() / "failed.json").read_text())
    assert "batch size 10000" in failed["error"] and failed["run"]["batch_size"] == 10000
    assert [run_state(r, out) for r in runs] == ["finished", "failed"]
    again = run_sweep(runs, SweepConfig(out=str(out), jobs=1, retry_failed=False), on_result=seen.append)
    assert [r["status"] for r in again] == ["skipped", "failed"] and len(seen) == 2  # nothing executed


@pytest.mark.slow  # two fresh worker processes each import torch and load the data (~40 s under load)
def test_local_sweep_parallel_processes(tmp_path):
    plan = Plan.from_dict({**TINY, "optimizers": ["darts"], "seeds": [0, 1], "batch_size": [32, 10000]})
    res = run_sweep(plan.expand(), SweepConfig(out=str(tmp_path), jobs=2))
    assert [r["status"] for r in res] == ["finished", "finished", "failed", "failed"]


def test_interrupted_run_is_resumed(tmp_path):
    from harness.run.runner import SearchRun

    cfg = Plan.from_dict({**TINY, "optimizers": ["darts"], "budget": 2}).expand()[0]

    class Stop(Exception):
        pass

    def crash(line: str) -> None:
        raise Stop

    with pytest.raises(Stop):  # killed after the first epoch's checkpoint
        SearchRun(cfg, tmp_path, progress=crash).run()
    assert run_state(cfg, tmp_path) == "resumable"
    (res,) = run_sweep([cfg], SweepConfig(out=str(tmp_path), jobs=1))
    assert res["status"] == "finished", res
    traj = (tmp_path / cfg.run_id() / "trajectory.csv").read_text().splitlines()
    assert len(traj) == 3  # header + epoch 0 (from the checkpoint) + epoch 1


def test_progress_line_quiet_off_terminal():
    from harness.commands.sweep import Progress

    buf = io.StringIO()
    with Progress(4, 2, stream=buf) as p:
        p.update("finished")
        p.update("failed")
    assert buf.getvalue() == ""  # not a terminal: no live line
    assert p.line().startswith("sweep: 1 done, 2 running, 1 failed, 0 waiting") and "ETA" in p.line()
    live = io.StringIO()
    with Progress(2, 1, stream=live, enabled=True) as p:
        p.update("finished")
    assert "1 done, 1 running" in live.getvalue() and live.getvalue().endswith("\n")


def test_ray_backend_import_guard(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if ray were not installed
    from harness.run.sweep import ray_available

    ok, why = ray_available()
    assert not ok and "nas-harness[ray]" in why
    runs = Plan.from_dict({**TINY, "optimizers": ["darts"]}).expand()
    with pytest.raises(UserError, match="ray is not installed"):
        run_sweep(runs, SweepConfig(out=str(tmp_path), backend="ray"))


_RAY_SCRIPT = """
import json, os, subprocess, sys
import ray
from harness.run.sweep import Plan, SweepConfig, run_sweep
plan = Plan.from_dict(json.loads(sys.argv[1]))
ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=2, num_gpus=0, log_to_driver=False)
links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
listen = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
res = run_sweep(plan.expand(), SweepConfig(out=sys.argv[2], backend="ray"))
ray.shutdown()
print("RESULT" + json.dumps({"links": links, "listen": listen, "res": res}))
"""


# ~25 s on an idle 2-core box (Ray start-up + 2 worker imports), 45-90 s under load; skips without ray
def test_ray_two_run_sweep(tmp_path):
    """Two runs as Ray tasks, in a network namespace that has only loopback.

    Ray 2.60 binds its gRPC servers to every interface even with
    ``_node_ip_address='127.0.0.1'``, so the test isolates the network itself
    (``unshare -n``) instead of trusting the bind address; it skips where that
    is not permitted.
    """
    import shutil
    import subprocess
    import sys

    pytest.importorskip("ray", reason="ray not installed (optional extra: pip install 'nas-harness[ray]')")
    if not (shutil.which("unshare") and shutil.which("ip")):
        pytest.skip("needs unshare and ip (util-linux, iproute2) to keep Ray on loopback")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n not permitted here (needs root or CAP_SYS_ADMIN); Ray would listen on all interfaces")
    plan = {**TINY, "optimizers": ["darts"], "seeds": [0, 1]}
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -c "$1" "$2" "$3"',
           sys.executable, _RAY_SCRIPT, json.dumps(plan), str(tmp_path)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.split("RESULT", 1)[1])
    assert [ln.split(":")[1].strip() for ln in out["links"].splitlines()] == ["lo"]  # nothing but loopback
    assert out["listen"].strip(), "Ray should be listening (on loopback only)"
    assert [r["status"] for r in out["res"]] == ["finished", "finished"]
    runs = Plan.from_dict(plan).expand()
    assert all((tmp_path / r.run_id() / "final.json").is_file() for r in runs)
