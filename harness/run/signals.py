"""SIGTERM ends a command the way Ctrl-C does.

Batch systems stop jobs with SIGTERM (SLURM at the time limit or on
pre-emption, Kubernetes on eviction) and follow with SIGKILL after a grace
period. Python's default for SIGTERM is to die at once, leaving the run's
lock behind, so a requeued job on another node would wait until the lock goes
stale. Raised as ``Terminated`` (a ``KeyboardInterrupt``), it unwinds like an
interrupt: every ``with RunLock`` releases, temporary files are removed, the
last epoch's checkpoint stays, and the CLI exits 143 with one line.
"""

from __future__ import annotations

import signal
import threading


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


_state = {"seen": False}


def _on_sigterm(signum, frame) -> None:
    if _state["seen"]:
        return  # a second SIGTERM must not interrupt the clean-up the first one started
    _state["seen"] = True
    raise Terminated("SIGTERM")


def terminate_like_interrupt() -> bool:
    """Install the handler in the main thread unless someone else set one; returns whether it is installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm:
        return True
    if current not in (signal.SIG_DFL, None):
        return False  # an embedding program's own handler wins
    _state["seen"] = False
    signal.signal(signal.SIGTERM, _on_sigterm)
    return True
