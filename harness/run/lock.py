"""A run-directory lock: at most one worker runs a given run id at a time, on one host or many.

The lock is a file created with ``O_CREAT | O_EXCL`` holding the owner's host,
pid, a random token and the time of its last refresh. The owner refreshes it
every ``heartbeat`` seconds (a daemon thread) and at every epoch end
(``refresh``). Staleness:

- same host: the owner's pid is gone (a crashed worker never blocks a run);
- another host (a shared file system): no refresh for ``stale_after`` seconds,
  judged by the later of the recorded refresh time and the file's mtime.

``release`` removes the lock only while it still holds our token, so a worker
whose lock was taken over (it was suspended past ``stale_after``) never deletes
the new owner's lock; ``refresh`` reports the loss and the runner stops before
writing anything. Defaults (ours): a heartbeat every 60 s and 15 minutes
without one before another host may take over: fifteen missed heartbeats is
no load spike, and a requeued SLURM job waits at most that long after a
node died (after SIGTERM the lock is released at once, see ``signals``).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from search_spaces.errors import UserError
from search_spaces.io import atomic_write_text
from search_spaces.safe_read import read_bytes

HEARTBEAT_S = 60.0
STALE_AFTER_S = 15 * 60.0


class RunLockedError(UserError):
    """Another live worker holds the run (or took it over from us)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


class RunLock:
    """Context manager locking ``directory`` (creates ``run.lock`` in it)."""

    def __init__(self, directory: str | Path, stale_after: float = STALE_AFTER_S,
                 heartbeat: float | None = HEARTBEAT_S) -> None:
        self.path = Path(directory) / "run.lock"
        self.stale_after = stale_after
        self.heartbeat = heartbeat
        self.token = uuid.uuid4().hex
        self.held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _content(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token, "time": time.time()}

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
                json.dump(self._content(), f)
                f.flush()
                os.fsync(f.fileno())
            self.held = True
            self._start_heartbeat()
            return
        raise RunLockedError(f"could not lock {self.path.parent}")

    def refresh(self) -> None:
        """Record that we are alive; raises ``RunLockedError`` when the lock is no longer ours."""
        if not self.held:
            return
        if self._read().get("token") != self.token:
            self.held = False
            self._stop.set()
            raise RunLockedError(f"{self.path.parent} was taken over by another worker ({self._owner()}) while "
                                 "this one was not refreshing its lock; this worker stops without writing")
        atomic_write_text(self.path, json.dumps(self._content()))

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file if it still holds our token."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.held:
            self.held = False
            if self._read().get("token") == self.token:
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass

    def _start_heartbeat(self) -> None:
        if not self.heartbeat:
            return
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(self.heartbeat):
                try:
                    self.refresh()
                except (RunLockedError, OSError):
                    return  # the main thread sees the loss at its next epoch-end refresh

        self._thread = threading.Thread(target=beat, name=f"lock-heartbeat {self.path.parent.name}", daemon=True)
        self._thread.start()

    def _read(self) -> dict:
        try:  # a FIFO or a huge file in its place reads as a damaged (empty) lock, never hangs
            o = json.loads(read_bytes(self.path, "lock", limit=4096) or b"{}")
            return o if isinstance(o, dict) else {}
        except (OSError, ValueError, RecursionError):
            return {}

    def _owner(self) -> str:
        o = self._read()
        return f"host {o.get('host', '?')}, pid {o.get('pid', '?')}"

    def _stale(self) -> bool:
        o = self._read()
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        if not o:  # empty/partial lock file: its writer died between create and write
            return time.time() - mtime > 5
        if o.get("host") == socket.gethostname():
            try:
                return not _alive(int(o.get("pid", -1)))
            except (TypeError, ValueError):
                return True
        try:
            refreshed = max(float(o.get("time", 0)), mtime)
        except (TypeError, ValueError):
            refreshed = mtime
        return time.time() - refreshed > self.stale_after

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
