"""TFRecord framing, read and written without TensorFlow.

Each record on disk is::

    uint64 little-endian  length
    uint32 little-endian  masked CRC-32C of the 8 length bytes
    bytes[length]         data
    uint32 little-endian  masked CRC-32C of data

Reading streams one record at a time (constant memory). A truncated file or
a CRC mismatch raises ``BenchmarkError`` naming the file and the byte offset
of the bad record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from benchmarks.nb101.crc32c import masked_crc32c
from search_spaces.errors import BenchmarkError

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


def encode_record(data: bytes) -> bytes:
    """One record's bytes in TFRecord framing."""
    head = _U64.pack(len(data))
    return head + _U32.pack(masked_crc32c(head)) + data + _U32.pack(masked_crc32c(data))


def write_tfrecord(path: str | Path, records: Iterable[bytes]) -> None:
    """Write ``records`` to ``path`` in TFRecord framing."""
    with open(path, "wb") as f:
        for r in records:
            f.write(encode_record(r))


def iter_records(f: BinaryIO, name: str = "<stream>", verify: bool = True) -> Iterator[tuple[int, bytes]]:
    """``(byte offset, data)`` of every record of an open binary file.

    Args:
        f: File opened in binary mode, positioned at a record boundary.
        name: File name for error messages.
        verify: Check both CRCs (disable only for speed on trusted files).

    Raises:
        BenchmarkError: Truncated record or CRC mismatch, naming the offset.
    """
    offset = f.tell()
    while True:
        head = f.read(12)
        if not head:
            return
        if len(head) < 12:
            raise BenchmarkError(f"{name}: truncated record header at byte offset {offset}")
        length_bytes = head[:8]
        (length,) = _U64.unpack(length_bytes)
        (len_crc,) = _U32.unpack(head[8:])
        if verify and masked_crc32c(length_bytes) != len_crc:
            raise BenchmarkError(f"{name}: corrupted record at byte offset {offset} (length CRC mismatch)")
        body = f.read(length + 4)
        if len(body) < length + 4:
            raise BenchmarkError(f"{name}: truncated record at byte offset {offset} "
                                 f"(needs {length + 4} bytes after the header, got {len(body)})")
        data = body[:length]
        if verify:
            (data_crc,) = _U32.unpack(body[length:])
            if masked_crc32c(data) != data_crc:
                raise BenchmarkError(f"{name}: corrupted record at byte offset {offset} (data CRC mismatch)")
        yield offset, data
        offset += 12 + length + 4


def read_tfrecord(path: str | Path, verify: bool = True) -> Iterator[tuple[int, bytes]]:
    """``(byte offset, data)`` of every record in the file at ``path``."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise BenchmarkError(f"cannot open tfrecord {path}: {e.strerror}") from None
    with f:
        yield from iter_records(f, str(path), verify)
