"""Worker processes that stop when the process that started them dies (a killed ``sweep`` or ``tabulate``)."""

from __future__ import annotations

import os
from collections.abc import Callable


class ParentDied(RuntimeError):
    """The process that started this worker is gone; the worker stops (its run resumes later)."""


def parent_watch(parent_pid: int) -> Callable[[], bool]:
    """A check that turns True once ``parent_pid``, this worker's parent, has died (Linux re-parents us)."""
    return lambda: os.getppid() != parent_pid


def exit_if_orphaned(check: Callable[[], bool] | None) -> None:
    """End this worker process now when ``check`` says its parent died (locks are files and go stale)."""
    if check is not None and check():
        os._exit(3)
