"""NB-101 tfrecord records: JSON ``[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]``.

``raw_adjacency`` is the '0'/'1' string of the row-major V x V matrix,
``raw_operations`` the comma-separated labels, ``raw_metrics`` a base64
``ModelMetrics`` protobuf whose ``evaluation_data`` holds the evaluations at
the start [0], half-way [1] and end [2] of training. There is one record per
(cell, epoch budget, repeat): 3 repeats per budget; ``nasbench_full`` has
budgets 4, 12, 36 and 108, ``nasbench_only108`` only 108.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.nb101.protobuf import ModelMetrics, decode_model_metrics, encode_model_metrics
from benchmarks.nb101.tfrecord import read_tfrecord
from search_spaces.errors import BenchmarkError


@dataclass
class NB101Record:
    """One decoded record.

    Attributes:
        module_hash: Official graph hash (md5 hex).
        epochs: Training budget of this run.
        raw_adjacency: '0'/'1' string, row-major.
        raw_operations: Comma-separated labels.
        metrics: Decoded ``ModelMetrics``.
        offset: Byte offset of the record in its file.
    """

    module_hash: str
    epochs: int
    raw_adjacency: str
    raw_operations: str
    metrics: ModelMetrics
    offset: int = 0

    @property
    def final(self):
        """Evaluation at the end of training (``evaluation_data[2]``, or the last present)."""
        ev = self.metrics.evaluation_data
        if not ev:
            raise BenchmarkError(f"record {self.module_hash}@{self.epochs} has no evaluation data")
        return ev[2] if len(ev) > 2 else ev[-1]


def encode_nb101_record(module_hash: str, epochs: int, raw_adjacency: str, raw_operations: str,
                        metrics: ModelMetrics) -> bytes:
    """The record data exactly as the official files store it (UTF-8 JSON list)."""
    raw_metrics = base64.b64encode(encode_model_metrics(metrics)).decode("ascii")
    return json.dumps([module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]).encode("utf-8")


def peek_hash(data: bytes) -> str | None:
    """The module hash of a record without parsing it (records start with ``["<32 hex>"``)."""
    if data[:2] == b'["' and data[34:35] == b'"':
        return data[2:34].decode("ascii", "replace")
    return None


def decode_nb101_record(data: bytes, offset: int = 0, name: str = "<record>") -> NB101Record:
    """Parse one record's data; ``BenchmarkError`` naming the offset when malformed."""
    try:
        h, epochs, adj, ops, raw = json.loads(data.decode("utf-8"))
        metrics = decode_model_metrics(base64.b64decode(raw, validate=True))
        return NB101Record(str(h), int(epochs), str(adj), str(ops), metrics, offset)
    except BenchmarkError as e:
        raise BenchmarkError(f"{name}: malformed metrics in record at byte offset {offset}: {e}") from None
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error) as e:
        raise BenchmarkError(f"{name}: malformed NB-101 record at byte offset {offset}: {e}") from None


def iter_nb101(path: str | Path, wanted: set[str] | None = None, verify: bool = True) -> Iterator[NB101Record]:
    """Stream decoded records of an official NB-101 tfrecord.

    Args:
        path: ``nasbench_only108.tfrecord`` or ``nasbench_full.tfrecord``.
        wanted: If given, only records whose hash is in it are decoded (the rest are skipped cheaply).
        verify: Check the CRCs of every record.
    """
    for offset, data in read_tfrecord(path, verify):
        if wanted is not None:
            h = peek_hash(data)
            if h is not None and h not in wanted:
                continue
        rec = decode_nb101_record(data, offset, str(path))
        if wanted is None or rec.module_hash in wanted:
            yield rec
