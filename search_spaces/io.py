"""Atomic file writes: temp file in the same folder, fsync, rename.

A reader therefore sees either the old file or the complete new one, never a
partial write, even if the process is killed mid-write.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; results take the mode any new file gets (the umask), so a group
        # on a shared cluster can read them
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and not e.filename:  # a full disk says so without naming the file
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; set it straight back
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (NaN/inf become null: strict JSON)."""
    atomic_write_text(path, json.dumps(finite(obj), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n")


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (recursively), ready for strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def empty_dirs_removed_on_failure(path: str | Path) -> Iterator[None]:
    """On an exception inside the block, remove the folders up to ``path`` that did not exist before it and are
    still empty (a failed command leaves no empty output folders; folders holding results stay)."""
    path = Path(path)
    new = [d for d in (path, *path.parents) if not d.exists()]
    try:
        yield
    except BaseException:
        if new and new[-1].is_dir():  # everything below the topmost new folder is this block's
            for root, _dirs, _files in os.walk(new[-1], topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(root)  # only when empty
        raise
