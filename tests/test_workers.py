"""Worker processes of ``sweep`` and ``tabulate``: they stop when their parent dies, and a run in a worker
gives the trajectory of the same run in one process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _plan(tmp_path: Path, epochs: int) -> Path:
    import yaml

    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump({"optimizers": ["darts", "rsws"], "seeds": [0], "epochs": epochs, "subset": 128,
                                 "batch_size": 16}))
    return p


def test_sweep_workers_give_the_trajectories_of_one_process(tmp_path):
    # with the thread count pinned (--threads), a worker's float reductions, and trajectory, are the same;
    # unpinned, the two workers share the CPUs (each records its share in config.json)
    plan = _plan(tmp_path, 2)
    for name, args in (("j1", ["--jobs", "1", "--threads", "1"]), ("j2", ["--jobs", "2", "--threads", "1"]),
                       ("shared", ["--jobs", "2"])):
        r = subprocess.run([sys.executable, "-m", "harness", "sweep", str(plan), *args, "--out",
                            str(tmp_path / name)], capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == 0, r.stderr[-2000:]
    import json

    import pandas as pd

    from harness.run.cpus import usable_cpus

    for d in (tmp_path / "j1").iterdir():
        one, two = (pd.read_csv(r / d.name / "trajectory.csv").drop(columns="wall_seconds")
                    for r in (tmp_path / "j1", tmp_path / "j2"))
        pd.testing.assert_frame_equal(one, two, check_exact=True)
        for root, threads, source in (("j2", 1, "--threads"),
                                      ("shared", max(1, min(usable_cpus()[0], os.cpu_count()) // 2), None)):
            cpu = json.loads((tmp_path / root / d.name / "config.json").read_text())["resolved"]["cpu"]
            assert cpu["threads"] <= max(threads, 1) and cpu["usable_cpus"] >= 1
            if source:
                assert cpu["threads_source"] == source
            else:
                assert cpu["threads_source"] == "sweep worker's share"


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(x) for x in out]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _kill_parent(proc: subprocess.Popen, wait: float = 180) -> tuple[list[int], list[int]]:
    """SIGKILL ``proc``; its workers (children and grandchildren), and those still alive after ``wait`` s
    (which are then killed, so the test leaves nothing running). A worker stops at its next epoch
    boundary: seconds on an idle machine, longer on a loaded one, hence the generous wait."""
    import signal
    import time

    workers = [w for c in _children(proc.pid) for w in [c, *_children(c)]]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + wait
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.5)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    return workers, left


@pytest.mark.skipif(shutil.which("pgrep") is None, reason="needs pgrep to find the worker processes")
def test_workers_exit_when_the_sweep_is_killed(tmp_path):
    import time

    plan = _plan(tmp_path, 500)  # runs far longer than the test waits
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "sweep", str(plan), "--jobs", "2", "--out", str(out)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline:  # both runs have finished an epoch: the workers are busy
        rows = [p for p in out.glob("*/trajectory.csv") if p.stat().st_size and len(p.read_text().splitlines()) > 1]
        if len(rows) == 2:
            break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the sweep's workers did not start")
    workers, left = _kill_parent(proc)
    assert workers and not left, f"workers still running after their sweep died: {left}"
    assert not list(out.glob("*/final.json"))  # stopped, not finished: the runs resume with the next sweep


@pytest.mark.skipif(shutil.which("pgrep") is None, reason="needs pgrep to find the worker processes")
def test_tabulate_workers_exit_when_tabulate_is_killed(tmp_path):
    import time

    out = tmp_path / "t"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "tabulate", "--space", "s5", "--dataset", "digits",
                             "--epochs", "400", "--eval-epochs", "", "--seeds", "0", "--jobs", "2", "-o", str(out)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline, workers = time.time() + 120, []
    while time.time() < deadline and len(workers) < 2:
        workers = [w for c in _children(proc.pid) for w in [c, *_children(c)]
                   if "harness" not in Path(f"/proc/{w}/cmdline").read_text(errors="ignore")] if _alive(proc.pid) else []
        time.sleep(0.5)
    time.sleep(5)  # the workers are inside their first network's epochs
    workers, left = _kill_parent(proc)
    assert workers and not left, f"workers still running after tabulate died: {left}"


def test_sweep_off_a_terminal_shows_progress_and_stops_promptly_on_sigterm(tmp_path):
    """Issue 36: a sweep under nohup printed nothing, --log-file got nothing from the workers, and after SIGTERM
    the workers ran on to the end of their epoch. Now: per-epoch lines from the workers, a line per run with a
    counter and ETA, the log file gets both, and SIGTERM stops every worker within seconds, locks released."""
    import signal
    import time

    import yaml

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"optimizers": ["darts"], "seeds": [0, 1], "epochs": 30, "subset": 512,
                                    "batch_size": 16}))
    out, log = tmp_path / "runs", tmp_path / "sweep.log"
    cmd = [sys.executable, "-m", "harness", "--log-file", str(log), "sweep", str(plan), "--jobs", "2", "--out",
           str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    err_path = tmp_path / "stderr"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None and "epoch   2/30" not in err_path.read_text():
            time.sleep(0.1)
        assert proc.poll() is None, err_path.read_text()[-2000:]
        workers = _children(proc.pid)
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        took = time.time() - t0
    text = err_path.read_text()
    assert code == 143, text[-2000:]
    assert took < 30, took  # not the end of the epoch (or the run)
    assert "sweep interrupted" in text and "Traceback" not in text and "leaked" not in text, text[-2000:]
    assert "[darts seed 0] epoch   1/30" in text and "[darts seed 1] epoch   1/30" in text
    assert not list(out.glob("*/run.lock"))
    time.sleep(0.5)
    assert not [p for p in workers if _alive(p) and "Z" not in _state(p)]
    logged = log.read_text()
    assert "2 of 2 runs to do" in logged and "[darts seed 1] epoch   1/30" in logged


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
