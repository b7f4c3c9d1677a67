"""Fault injection: SIGKILL at random points, concurrent workers, NaN, truncated files, bad strings.

Every kill point is drawn from a seeded generator, so a failure is reproducible.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.reporting.aggregate import load_runs, summary_table
from harness.run.checkpoint import load_checkpoint, save_checkpoint
from harness.run.config import RunConfig
from harness.run.runner import SearchRun
from search_spaces import Architecture, get_space
from search_spaces.errors import ArchitectureError, UserError

ARGS = ["--space", "s5", "--benchmark", "none", "--optimizer", "darts", "--seeds", "0", "--epochs", "4",
        "--subset", "96", "--batch-size", "32", "--channels", "4", "--no-summary"]
CFG = RunConfig(space="s5", benchmark="none", optimizer="darts", seed=0, epochs=4, subset=96, batch_size=32,
                channels=4)
KILL_POINTS = 4


def _cli(out, *extra):
    return [sys.executable, "-m", "harness", "run", *ARGS, "--out", str(out), *extra]


def _traj(root):
    return pd.read_csv(root / CFG.run_id() / "trajectory.csv").drop(columns=["wall_seconds"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    t0 = time.time()
    subprocess.run(_cli(root), check=True, capture_output=True, timeout=300)
    return root, time.time() - t0


def test_sigkill_at_random_points_then_resume(reference, tmp_path):
    ref_root, duration = reference
    rng = np.random.default_rng(2024)
    kills = 0
    for k in range(KILL_POINTS):
        out = tmp_path / f"k{k}"
        proc = subprocess.Popen(_cli(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(float(rng.uniform(0.3, 1.0)) * duration)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        # no partially written file is ever visible
        d = out / CFG.run_id()
        assert not list(d.glob(".*.tmp")) or all(p.name.startswith(".") for p in d.glob(".*.tmp"))
        if (d / "checkpoint.pt").exists():
            load_checkpoint(d / "checkpoint.pt")
        for f in ("config.json", "final.json"):
            if (d / f).exists():
                json.loads((d / f).read_text())
        r = subprocess.run(_cli(out, "--resume"), capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        pd.testing.assert_frame_equal(_traj(ref_root), _traj(out))
        assert json.loads((d / "final.json").read_text())["status"] == "finished"
    assert kills >= 1  # the drawn points must hit a running process at least once


def test_two_workers_on_one_run(reference, tmp_path):
    ref_root, _ = reference
    procs = [subprocess.Popen(_cli(tmp_path, "--resume"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    # either one ran and the other was refused (exit 2, one line), or the second found it finished
    assert codes in ([0, 0], [0, 2])
    for out, err, code in results:
        if code == 2:
            assert "another worker" in err and "Traceback" not in err
    pd.testing.assert_frame_equal(_traj(ref_root), _traj(tmp_path))
    assert not (tmp_path / CFG.run_id() / "run.lock").exists()


def test_stale_lock_from_dead_worker_is_recovered(tmp_path):
    d = tmp_path / CFG.run_id()
    d.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    (d / "run.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "time": 0}))
    assert SearchRun(CFG, tmp_path).run()["status"] == "finished"


def test_nan_loss_marks_run_diverged(tmp_path, monkeypatch):
    import harness.optimizers.darts as darts

    calls = {"n": 0}
    real = darts.F.cross_entropy

    def poisoned(*a, **k):
        calls["n"] += 1
        loss = real(*a, **k)
        return loss * float("nan") if calls["n"] > 8 else loss

    monkeypatch.setattr(darts.F, "cross_entropy", poisoned)
    final = SearchRun(CFG, tmp_path).run()
    assert final["status"] == "diverged" and "non-finite" in final["reason"]
    assert final["diverged_epoch"] is not None
    monkeypatch.setattr(darts.F, "cross_entropy", real)
    SearchRun(RunConfig(**{**CFG.__dict__, "seed": 1}), tmp_path).run()
    table = summary_table(load_runs([tmp_path]))
    line = [ln for ln in table.splitlines() if ln.startswith("darts")][0]
    assert line.split()[-2:] == ["1", "1"]  # one finished seed averaged, one diverged counted apart


def test_truncated_checkpoint_and_final_are_rejected(tmp_path):
    p = tmp_path / "c.pt"
    save_checkpoint(p, {"x": torch.arange(10)})
    p.write_bytes(p.read_bytes()[:-7])
    with pytest.raises(Exception, match="corrupted"):
        load_checkpoint(p)
    SearchRun(CFG, tmp_path).run()
    f = tmp_path / CFG.run_id() / "final.json"
    f.write_text(f.read_text()[:20])
    with pytest.raises(UserError, match="not valid JSON"):
        SearchRun(CFG, tmp_path).run()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["nb201", "s5"]), st.data())
def test_architecture_strings_roundtrip(space_name, data):
    space = get_space(space_name)
    n = len(space.param_groups[0].row_options)
    k = len(space.param_groups[0].row_options[0])
    choices = data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    a = Architecture(space_name, tuple(choices))
    assert space.from_str(space.to_str(a)) == a
    assert space.from_index(space.index(a)) == a


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["nb201", "s5"]), st.text(alphabet="|+~0123456789abcdeknopr_-", max_size=80))
def test_garbage_strings_raise_architecture_error_only(space_name, text):
    space = get_space(space_name)
    try:
        a = space.from_str(text)
    except ArchitectureError:
        return
    assert space.to_str(a) == text.strip()


def test_disk_full_fails_cleanly_and_keeps_what_was_written(reference, tmp_path, monkeypatch, capsys):
    import errno
    from pathlib import Path

    import search_spaces.io as sio
    from harness.cli import main

    real = sio.atomic_write_bytes
    writes = {"n": 0}

    def full_disk(path, data):
        if Path(path).name == "trajectory.csv":
            writes["n"] += 1
            if writes["n"] == 3:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(sio, "atomic_write_bytes", full_disk)
    with pytest.raises(SystemExit) as e:
        main(["run", *ARGS, "--out", str(tmp_path)])
    assert e.value.code == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if " epoch " not in ln]  # progress lines
    assert len(err) == 1 and "no space left" in err[0] and "trajectory.csv" in err[0]  # names the file
    d = tmp_path / CFG.run_id()
    assert len(pd.read_csv(d / "trajectory.csv")) == 2  # the epochs written before the disk filled
    assert load_checkpoint(d / "checkpoint.pt")["epoch"] == 1
    assert not (d / "run.lock").exists() and not (d / "final.json").exists()
    monkeypatch.setattr(sio, "atomic_write_bytes", real)  # space freed: resume completes identically
    try:
        main(["run", *ARGS, "--out", str(tmp_path), "--resume"])
    except SystemExit as e:  # click may exit 0 explicitly
        assert e.code in (0, None)
    pd.testing.assert_frame_equal(_traj(reference[0]), _traj(tmp_path))


def test_read_only_output_fails_cleanly_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """Simulated with EROFS from the atomic writer (as root, chmod would not stop a write)."""
    import errno
    from pathlib import Path

    import search_spaces.io as sio
    from harness.cli import main

    def read_only(path, data):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(sio, "atomic_write_bytes", read_only)
    with pytest.raises(SystemExit) as e:
        main(["run", *ARGS, "--out", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "read-only file system" in err[0] and "Traceback" not in err[0]
    written = [p for p in Path(tmp_path).rglob("*") if p.is_file()]
    assert written == [], written  # no half-made run directory content, no stale lock


class _Payload:
    """Pickles as a call that creates ``marker``: what a crafted checkpoint would run on a full unpickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_crafted_checkpoint_with_a_valid_checksum_runs_no_code(tmp_path):
    """checkpoint.pt / supernet.pt are loaded weights-only: a __reduce__ payload with a recomputed checksum is
    refused with one line and exit 2 by `harness run --resume`, and nothing it asks for happens."""
    import subprocess
    import sys

    from harness.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from harness.run.config import RunConfig
    from harness.run.runner import SearchRun

    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.pt"
    save_checkpoint(bad, {"epoch": 0, "x": _Payload(marker)})  # checksum valid, payload hostile
    with pytest.raises(CheckpointError, match="weights-only"):
        load_checkpoint(bad)
    assert not marker.exists()

    class Kill(Exception):
        pass

    def die(_line):
        raise Kill

    out = tmp_path / "runs"
    cfg = RunConfig(space="s5", benchmark="none", optimizer="darts", seed=0, epochs=3, subset=96, batch_size=32,
                    channels=4)
    with pytest.raises(Kill):  # an unfinished run, its checkpoint then swapped for the crafted one
        SearchRun(cfg, out, progress=die).run()
    ckpt = out / cfg.run_id() / "checkpoint.pt"
    save_checkpoint(ckpt, {"optimizer": _Payload(marker), "epoch": 0})
    r = subprocess.run([sys.executable, "-m", "harness", "run", "--space", "s5", "--benchmark", "none",
                        "--optimizer", "darts", "--seeds", "0", "--epochs", "3", "--subset", "96", "--batch-size",
                        "32", "--channels", "4", "--no-summary", "--out", str(out), "--resume"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "weights-only" in r.stderr, r.stderr
    assert not marker.exists()


def test_the_loser_of_a_lock_race_leaves_the_winners_folder(tmp_path, monkeypatch):
    """The race of issue 34: both workers see no run folder; the other one creates it and takes the lock first.
    The loser fails with one line and must not delete the folder holding the winner's lock."""
    import json
    import socket
    import subprocess
    import sys

    from harness.run import lock as lock_mod
    from harness.run.config import RunConfig
    from harness.run.runner import SearchRun

    winner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run = SearchRun(RunConfig(epochs=1, seed=0), tmp_path / "runs")
        assert not run.dir.exists()
        real = lock_mod.RunLock.acquire

        def winner_first(self):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"host": socket.gethostname(), "pid": winner.pid, "time": 0}))
            return real(self)

        monkeypatch.setattr(lock_mod.RunLock, "acquire", winner_first)
        with pytest.raises(lock_mod.RunLockedError):
            run.run()
        assert (run.dir / "run.lock").is_file()  # the winner's folder and lock survive
        assert json.loads((run.dir / "run.lock").read_text())["pid"] == winner.pid
    finally:
        winner.kill()
        winner.wait()


def test_sigterm_releases_the_lock_and_the_run_resumes(reference, tmp_path):
    """What SLURM and Kubernetes send: the run stops with one line (exit 143), keeps its last checkpoint, leaves
    no lock, and a requeued job continues to the same trajectory."""
    ref_root, _ = reference
    d = tmp_path / CFG.run_id()
    proc = subprocess.Popen(_cli(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (d / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before its first checkpoint was seen (a very fast machine)")
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1]
    if proc.returncode == 0:
        pytest.skip("the run finished before SIGTERM arrived")
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "terminated (SIGTERM): checkpoints kept, locks released", err
    assert "Traceback" not in err
    assert not (d / "run.lock").exists() and not (d / "final.json").exists()
    r = subprocess.run(_cli(tmp_path, "--resume"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    pd.testing.assert_frame_equal(_traj(ref_root), _traj(tmp_path))


@pytest.mark.parametrize("forge", ["epoch-beyond", "epoch-text", "rows-short", "elapsed-text", "rows-not-list"])
def test_forged_checkpoint_never_ends_a_run_finished(tmp_path, forge):
    """Issue 34 item 4: a checkpoint with a valid checksum but a forged ``epoch`` (beyond the run) made a
    6-epoch run 'finished' after 2 epochs; wrong types gave tracebacks. Each is one line; nothing is written."""
    cfg = RunConfig(**{**CFG.__dict__, "epochs": 6})
    stop = {"n": 0}

    class Kill(Exception):
        pass

    def die_after_two(_line):
        stop["n"] += 1
        if stop["n"] == 2:
            raise Kill

    with pytest.raises(Kill):
        SearchRun(cfg, tmp_path, progress=die_after_two).run()
    ckpt = tmp_path / cfg.run_id() / "checkpoint.pt"
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 1
    state.update({"epoch-beyond": {"epoch": 5}, "epoch-text": {"epoch": "5"}, "rows-short": {"rows": state["rows"][:1]},
                  "elapsed-text": {"elapsed": "0"}, "rows-not-list": {"rows": 7}}[forge])
    save_checkpoint(ckpt, state)
    with pytest.raises(UserError, match="does not hold this run's state"):
        SearchRun(cfg, tmp_path).run(resume=True)
    assert not (tmp_path / cfg.run_id() / "final.json").exists()


def test_final_json_must_agree_with_the_trajectory(tmp_path):
    """A finished run's final.json that claims fewer epochs than the run has, or more than its trajectory holds,
    is a damaged run: tables refuse it (one line) instead of averaging it with complete runs."""
    from harness.reporting.aggregate import load_frame

    SearchRun(CFG, tmp_path).run()
    fp = tmp_path / CFG.run_id() / "final.json"
    good = json.loads(fp.read_text())
    for forged, match in (({"epochs_completed": 2}, "trajectory.csv holds 4"),
                          ({"status": "done"}, "is not one of"), ({"epochs_completed": "4"}, "must be int")):
        fp.write_text(json.dumps({**good, **forged}))
        with pytest.raises(UserError, match=match):
            load_runs([tmp_path])
        dropped = []
        assert load_frame([tmp_path], dropped).empty and len(dropped) == 1
    traj = tmp_path / CFG.run_id() / "trajectory.csv"
    traj.write_text("\n".join(traj.read_text().splitlines()[:3]) + "\n")  # 2 of 4 epochs kept
    fp.write_text(json.dumps({**good, "epochs_completed": 2}))
    with pytest.raises(UserError, match="finished after 2 of the run's 4 epochs"):
        load_runs([tmp_path])


def test_foreign_supernet_file_is_one_line(tmp_path):
    """Issue 34 item 4: another run's (or a forged) supernet.pt with a valid checksum gave a traceback."""
    from harness.run.trained import load_trained

    SearchRun(CFG, tmp_path).run()
    d = tmp_path / CFG.run_id()
    for payload in ({"state_dict": {"stem.weight": torch.zeros(3)}}, {"format": 1}, {"state_dict": 7}):
        save_checkpoint(d / "supernet.pt", payload)
        with pytest.raises(UserError, match="does not hold the supernet"):
            load_trained(d)
