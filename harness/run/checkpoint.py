"""Checksummed, atomically written checkpoints.

File layout: 64 hex characters of the payload's sha256, a newline, then the
``torch.save`` payload. A truncated or corrupted file fails verification and
is never loaded as valid. Payloads are read with ``torch.load(weights_only=True)``:
anyone can recompute the checksum, so a crafted file in a shared run folder must
not run code; what a checkpoint holds (tensors, numbers, strings, plain
containers) is what the weights-only loader accepts.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from search_spaces.io import atomic_write_bytes


class CheckpointError(RuntimeError):
    """A checkpoint failed verification."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Serialise ``state`` and write it atomically with its digest."""
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    atomic_write_bytes(path, hashlib.sha256(data).hexdigest().encode() + b"\n" + data)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint``; ``CheckpointError`` if corrupted."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {path} is not a regular file")
    raw = p.read_bytes()
    digest, sep, data = raw[:64], raw[64:65], raw[65:]
    if sep != b"\n" or hashlib.sha256(data).hexdigest().encode() != digest:
        raise CheckpointError(f"checkpoint {path} is corrupted (checksum mismatch)")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # refused objects (a crafted payload) or a payload torch cannot read
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {path} holds what a weights-only load refuses ({first[:120]}); "
                              "it was not written by this tool") from None
