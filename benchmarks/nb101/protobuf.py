"""A minimal protobuf wire-format codec for NB-101's ``ModelMetrics``.

Schema (nasbench ``model_metrics.proto``)::

    message EvaluationData {            message ModelMetrics {
      double current_epoch = 1;           repeated EvaluationData evaluation_data = 1;
      double training_time = 2;           int32 trainable_parameters = 2;
      double train_accuracy = 3;          double total_time = 3;
      double validation_accuracy = 4;   }
      double test_accuracy = 5;
      string checkpoint_path = 6;
    }

Wire types handled: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
(unknown fields are skipped, as protobuf requires). Accuracies are stored as
fractions in [0, 1].
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from search_spaces.errors import BenchmarkError

_F64 = struct.Struct("<d")


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; returns ``(value, next position)``."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise BenchmarkError("protobuf: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise BenchmarkError("protobuf: varint longer than 10 bytes")


def parse_fields(buf: bytes) -> dict[int, list[int | bytes]]:
    """Field number -> raw values (int for varints, bytes for fixed64/32 and length-delimited)."""
    out: dict[int, list[int | bytes]] = {}
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = read_varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = read_varint(buf, pos)
        elif wire == 1:
            val, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = read_varint(buf, pos)
            val, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            val, pos = buf[pos:pos + 4], pos + 4
        else:
            raise BenchmarkError(f"protobuf: unsupported wire type {wire} (field {num})")
        if pos > n:
            raise BenchmarkError(f"protobuf: field {num} runs past the end of the message")
        out.setdefault(num, []).append(val)
    return out


def _double(fields: dict[int, list[int | bytes]], num: int) -> float:
    vals = fields.get(num)
    if not vals:
        return 0.0  # proto3 default
    v = vals[-1]  # last one wins for non-repeated fields
    if not isinstance(v, bytes) or len(v) != 8:
        raise BenchmarkError(f"protobuf: field {num} is not a double")
    return _F64.unpack(v)[0]


@dataclass
class EvaluationData:
    """Metrics at one point of training (accuracies are fractions)."""

    current_epoch: float = 0.0
    training_time: float = 0.0
    train_accuracy: float = 0.0
    validation_accuracy: float = 0.0
    test_accuracy: float = 0.0
    checkpoint_path: str = ""


@dataclass
class ModelMetrics:
    """One training run: evaluations at start, half-way and end, params and total time."""

    evaluation_data: list[EvaluationData] = field(default_factory=list)
    trainable_parameters: int = 0
    total_time: float = 0.0


def decode_evaluation(buf: bytes) -> EvaluationData:
    """Decode one serialized ``EvaluationData``."""
    f = parse_fields(buf)
    path = f.get(6, [b""])[-1]
    return EvaluationData(_double(f, 1), _double(f, 2), _double(f, 3), _double(f, 4), _double(f, 5),
                          path.decode("utf-8", "replace") if isinstance(path, bytes) else "")


def decode_model_metrics(buf: bytes) -> ModelMetrics:
    """Decode one serialized ``ModelMetrics``."""
    f = parse_fields(buf)
    evals = [decode_evaluation(b) for b in f.get(1, []) if isinstance(b, bytes)]
    params = f.get(2, [0])[-1]
    if not isinstance(params, int):
        raise BenchmarkError("protobuf: trainable_parameters is not a varint")
    if params >= 1 << 63:  # int32 negatives are sign-extended to 64 bits
        params -= 1 << 64
    return ModelMetrics(evals, params, _double(f, 3))


# -- encoding (for writing files in the official format) -------------------
def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(num: int, wire: int) -> bytes:
    return _varint(num << 3 | wire)


def encode_evaluation(e: EvaluationData) -> bytes:
    """Serialize one ``EvaluationData`` (zero doubles and empty strings omitted, as proto3 does)."""
    out = bytearray()
    for num, v in enumerate((e.current_epoch, e.training_time, e.train_accuracy,
                             e.validation_accuracy, e.test_accuracy), start=1):
        if v != 0.0:
            out += _key(num, 1) + _F64.pack(v)
    if e.checkpoint_path:
        p = e.checkpoint_path.encode()
        out += _key(6, 2) + _varint(len(p)) + p
    return bytes(out)


def encode_model_metrics(m: ModelMetrics) -> bytes:
    """Serialize one ``ModelMetrics``."""
    out = bytearray()
    for e in m.evaluation_data:
        b = encode_evaluation(e)
        out += _key(1, 2) + _varint(len(b)) + b
    if m.trainable_parameters:
        out += _key(2, 0) + _varint(m.trainable_parameters)
    if m.total_time != 0.0:
        out += _key(3, 1) + _F64.pack(m.total_time)
    return bytes(out)
