"""Reading files a user (or a shared folder) hands us: regular files only, bounded, one-line errors.

Every read of a user path goes through here, so that a FIFO or ``/dev/zero``
where a file is expected is refused instead of hanging or reading without end,
and damaged content (not UTF-8, not JSON, nested too deep, the wrong shape)
is a ``UserError`` naming the file, never a traceback. A missing file stays
``FileNotFoundError`` (callers and the CLI already treat it as one line).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from search_spaces.errors import UserError

# ours: the largest text file the harness reads is a trajectory or archs.csv of a long run (a few MB);
# 64 MiB leaves room and still bounds memory
MAX_TEXT_BYTES = 64 * 2**20
# ours: the deepest file the harness writes (config.json) nests 5 levels; 64 leaves room far below recursion
MAX_JSON_DEPTH = 64


class DamagedFileError(UserError):
    """A file that exists but cannot be what it should be."""


def require_regular(path: str | Path, what: str = "file") -> Path:
    """``path`` as a Path, after checking that it is a regular file (symlinks followed) without opening it."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise DamagedFileError(f"{what} {p} cannot be read ({os.strerror(e.errno) if e.errno else e})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a FIFO, device or socket)"
        raise DamagedFileError(f"{what} {p} is {kind}")
    return p


def read_bytes(path: str | Path, what: str = "file", limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``; larger is an error)."""
    p = Path(path)
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer; fstat then refuses it
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DamagedFileError(f"{what} {p} is not a regular file")
        if st.st_size > limit:
            raise DamagedFileError(f"{what} {p} is {st.st_size / 2**20:.0f} MiB, more than the "
                                   f"{limit / 2**20:.0f} MiB such a file can be")
        chunks, n = [], 0
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
            n += len(b)
            if n > limit:  # grew while we read
                raise DamagedFileError(f"{what} {p} is larger than {limit / 2**20:.0f} MiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | Path, what: str = "file", limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of the regular file ``path``."""
    try:
        return read_bytes(path, what, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise DamagedFileError(f"{what} {path} is not UTF-8 text") from None


def _depth(obj: Any, limit: int) -> int:
    stack, deepest = [(obj, 1)], 0
    while stack:
        o, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)
    return deepest


def parse_json(text: str, what: str) -> Any:
    """``json.loads`` whose failures (syntax, nesting, memory) are one line naming ``what``."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError, MemoryError) as e:
        raise DamagedFileError(f"{what} is not valid JSON ({type(e).__name__}: {str(e)[:80]})") from None
    if _depth(obj, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise DamagedFileError(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    return obj


def read_json(path: str | Path, what: str = "file", shape: type | tuple[type, ...] = dict,
              limit: int = MAX_TEXT_BYTES) -> Any:
    """The JSON value in ``path``; it must be of ``shape`` (a dict by default)."""
    obj = parse_json(read_text(path, what, limit), f"{what} {path}")
    if not isinstance(obj, shape):
        names = " or ".join(t.__name__ for t in (shape if isinstance(shape, tuple) else (shape,)))
        raise DamagedFileError(f"{what} {path} holds a JSON {type(obj).__name__}, not a {names}")
    return obj


def field(obj: dict, key: str, types: type | tuple[type, ...], what: str, default: Any = ...) -> Any:
    """``obj[key]`` checked against ``types`` (bool is not a number); missing: ``default`` or an error."""
    if key not in obj or obj[key] is None:
        if default is ...:
            raise DamagedFileError(f"{what} lacks {key!r}")
        return default
    v = obj[key]
    types_t = types if isinstance(types, tuple) else (types,)
    if isinstance(v, bool) and bool not in types_t:
        raise DamagedFileError(f"{what}: {key!r} must be {'/'.join(t.__name__ for t in types_t)}, got {v!r}")
    if not isinstance(v, types_t):
        raise DamagedFileError(f"{what}: {key!r} must be {'/'.join(t.__name__ for t in types_t)}, "
                               f"got {type(v).__name__}")
    return v
