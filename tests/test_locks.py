"""Run locks across hosts and signals (issue 34, item 2): refreshed while the owner lives, judged stale by
the refresh time, released only by their owner, released on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from harness.run import lock as lock_mod
from harness.run.lock import RunLock, RunLockedError


def _as_other_host(monkeypatch, fn):
    """Call ``fn`` as a worker on another host that shares the file system."""
    real = lock_mod.socket.gethostname
    monkeypatch.setattr(lock_mod.socket, "gethostname", lambda: real() + "-other-node")
    try:
        return fn()
    finally:
        monkeypatch.setattr(lock_mod.socket, "gethostname", real)


def test_refreshed_lock_is_not_taken_over_until_its_refreshes_stop(tmp_path, monkeypatch):
    owner = RunLock(tmp_path, heartbeat=0.1)
    owner.acquire()
    first = json.loads((tmp_path / "run.lock").read_text())["time"]
    # margins for a loaded CI machine: refreshes every 0.1 s, stale after 2 s without one
    other = RunLock(tmp_path, stale_after=2.0, heartbeat=None)
    deadline = time.time() + 3.0
    while time.time() < deadline:  # well past stale_after since the lock was created: refreshes keep it
        with pytest.raises(RunLockedError, match="another worker"):
            _as_other_host(monkeypatch, other.acquire)
        time.sleep(0.2)
    assert json.loads((tmp_path / "run.lock").read_text())["time"] > first + 2.0
    owner._stop.set()  # the owner hangs (suspended job, dead node): no more refreshes
    owner._thread.join()
    time.sleep(2.5)
    _as_other_host(monkeypatch, other.acquire)  # stale by its refresh time: taken over
    assert json.loads((tmp_path / "run.lock").read_text())["token"] == other.token
    # the old owner wakes up: it learns the loss at its next refresh and never deletes the new owner's lock
    with pytest.raises(RunLockedError, match="taken over"):
        owner.refresh()
    owner.release()
    assert json.loads((tmp_path / "run.lock").read_text())["token"] == other.token
    other.release()
    assert not (tmp_path / "run.lock").exists()


def test_a_fifo_as_run_lock_does_not_hang(tmp_path):
    import os

    os.mkfifo(tmp_path / "run.lock")
    past = time.time() - 60
    os.utime(tmp_path / "run.lock", (past, past))
    with RunLock(tmp_path, heartbeat=None):  # read as a damaged lock (not a hang) and replaced
        assert (tmp_path / "run.lock").is_file()


_HOLDER = """
import sys, time
from harness.run.lock import RunLock
from harness.run.signals import terminate_like_interrupt
terminate_like_interrupt()
lock = RunLock(sys.argv[1], heartbeat=0.2)
try:
    with lock:
        print("locked", flush=True)
        time.sleep(120)
except KeyboardInterrupt:
    sys.exit(143)
"""


def test_takeover_refused_while_owner_lives_then_allowed_after_sigterm(tmp_path, monkeypatch):
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        other = RunLock(tmp_path, stale_after=2.0, heartbeat=None)
        time.sleep(3.0)  # longer than stale_after: only the owner's refreshes keep the lock
        with pytest.raises(RunLockedError):
            _as_other_host(monkeypatch, other.acquire)
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(timeout=30) == 143
        assert not (tmp_path / "run.lock").exists()  # released at once, not left to go stale
        _as_other_host(monkeypatch, other.acquire)
        other.release()
    finally:
        holder.kill()
        holder.wait()
