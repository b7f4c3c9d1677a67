"""A run-directory lock: at most one worker runs a given run id at a time.

The lock is a file created with ``O_CREAT | O_EXCL`` holding the owner's host
and pid. A lock whose owner process is gone (same host, pid not alive) is
stale: it is removed and taken over, so a crashed worker never blocks a run
forever. Locks held on other hosts are trusted until ``stale_after`` seconds
without refresh.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from search_spaces.errors import UserError


class RunLockedError(UserError):
    """Another live worker holds the run."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Context manager locking ``directory`` (creates ``run.lock`` in it)."""

    def __init__(self, directory: str | Path, stale_after: float = 6 * 3600) -> None:
        self.path = Path(directory) / "run.lock"
        self.stale_after = stale_after
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._stale():
                    try:
                        self.path.unlink()
                    except FileNotFoundError:
                        pass
                    continue
                raise RunLockedError(f"{self.path.parent} is being run by another worker ({self._owner()}); "
                                     "if that worker is gone, delete run.lock") from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
                f.flush()
                os.fsync(f.fileno())
            self.held = True
            return
        raise RunLockedError(f"could not lock {self.path.parent}")

    def release(self) -> None:
        if self.held:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            self.held = False

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, json.JSONDecodeError):
            return {}

    def _owner(self) -> str:
        o = self._read()
        return f"host {o.get('host', '?')}, pid {o.get('pid', '?')}"

    def _stale(self) -> bool:
        o = self._read()
        if not o:  # empty/partial lock file: its writer died between create and write
            return time.time() - self.path.stat().st_mtime > 5
        if o.get("host") == socket.gethostname():
            return not _alive(int(o.get("pid", -1)))
        return time.time() - float(o.get("time", 0)) > self.stale_after

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
