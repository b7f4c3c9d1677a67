"""CRC-32C (Castagnoli) and the TFRecord CRC mask, in pure Python.

CRC-32C is not zlib's CRC-32: it uses the Castagnoli polynomial
(0x1EDC6F41, reflected 0x82F63B78), initial value and final XOR 0xFFFFFFFF,
reflected input and output. Check value: ``crc32c(b"123456789") ==
0xE3069283``. TFRecord stores ``mask(crc)``: rotate right by 15 bits and add
0xA282EAD8 modulo 2^32.

The byte-wise table loop is the bottleneck of reading a 500 MB tfrecord, so
an installed ``google_crc32c`` or ``crc32c`` package is used when present
(same values); the pure-Python table is the fallback and the reference.
"""

from __future__ import annotations

from collections.abc import Callable

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8
_M32 = 0xFFFFFFFF


def _make_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE = _make_table()


def crc32c_py(data: bytes, crc: int = 0) -> int:
    """Table-driven CRC-32C of ``data``, continuing from ``crc`` (0 to start)."""
    c = crc ^ _M32
    t = _TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ _M32


def _accelerated() -> Callable[[bytes], int] | None:
    try:
        import google_crc32c  # type: ignore[import-not-found]

        return lambda d: int(google_crc32c.value(bytes(d)))
    except ImportError:
        pass
    try:
        import crc32c as _c  # type: ignore[import-not-found]

        return lambda d: int(_c.crc32c(bytes(d)))
    except ImportError:
        return None


_FAST = _accelerated()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (accelerated package if installed, else pure Python)."""
    return _FAST(data) if _FAST is not None else crc32c_py(data)


def mask(crc: int) -> int:
    """TFRecord's masked CRC: ``((crc >> 15) | (crc << 17)) + 0xA282EAD8`` mod 2^32."""
    return ((((crc >> 15) | (crc << 17)) & _M32) + _MASK_DELTA) & _M32


def masked_crc32c(data: bytes) -> int:
    """``mask(crc32c(data))``, the value stored in TFRecord framing."""
    return mask(crc32c(data))
