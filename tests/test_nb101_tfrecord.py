"""NB-101 file format: CRC-32C, TFRecord framing, the ModelMetrics protobuf, JSON records."""

from __future__ import annotations

import struct
import zlib

import pytest

from benchmarks.nb101 import (
    EvaluationData, ModelMetrics, crc32c, crc32c_py, decode_model_metrics, decode_nb101_record,
    encode_model_metrics, encode_nb101_record, iter_nb101, mask, masked_crc32c, read_tfrecord, write_tfrecord,
)
from search_spaces.errors import BenchmarkError


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c_py(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") != zlib.crc32(b"123456789")  # not the zlib polynomial


def test_crc32c_incremental_and_mask():
    assert crc32c_py(b"56789", crc32c_py(b"1234")) == 0xE3069283
    c = 0xE3069283
    assert mask(c) == ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert masked_crc32c(b"123456789") == mask(c)


def _hand_framed(data: bytes) -> bytes:
    # framing written out independently of encode_record
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", mask(crc32c_py(head))) + data + struct.pack("<I", mask(crc32c_py(data)))


def test_tfrecord_roundtrip(tmp_path):
    records = [b"", b"a", b"hello world" * 50, bytes(range(256))]
    p = tmp_path / "x.tfrecord"
    p.write_bytes(b"".join(_hand_framed(r) for r in records))
    got = list(read_tfrecord(p))
    assert [d for _, d in got] == records
    offsets = [0]
    for r in records[:-1]:
        offsets.append(offsets[-1] + 16 + len(r))
    assert [o for o, _ in got] == offsets
    q = tmp_path / "y.tfrecord"
    write_tfrecord(q, records)
    assert q.read_bytes() == p.read_bytes()


def test_tfrecord_data_corruption_names_offset(tmp_path):
    records = [b"first record", b"second record", b"third"]
    p = tmp_path / "bad.tfrecord"
    write_tfrecord(p, records)
    raw = bytearray(p.read_bytes())
    second = 16 + len(records[0])
    raw[second + 12 + 3] ^= 0xFF  # flip a data byte of the second record
    p.write_bytes(bytes(raw))
    it = read_tfrecord(p)
    assert next(it)[1] == b"first record"
    with pytest.raises(BenchmarkError, match=f"byte offset {second}.*data CRC"):
        next(it)


def test_tfrecord_length_corruption_and_truncation(tmp_path):
    p = tmp_path / "bad.tfrecord"
    write_tfrecord(p, [b"abc", b"defgh"])
    raw = bytearray(p.read_bytes())
    raw[0] ^= 0x01
    p.write_bytes(bytes(raw))
    with pytest.raises(BenchmarkError, match="byte offset 0.*length CRC"):
        list(read_tfrecord(p))
    write_tfrecord(p, [b"abc", b"defgh"])
    p.write_bytes(p.read_bytes()[:-2])
    with pytest.raises(BenchmarkError, match="truncated record at byte offset 19"):
        list(read_tfrecord(p))
    with pytest.raises(BenchmarkError, match="cannot open"):
        list(read_tfrecord(tmp_path / "missing.tfrecord"))


def test_protobuf_known_bytes():
    # trainable_parameters = 300 -> key 0x10, varint 0xAC 0x02; total_time = 1.5 -> key 0x19 + LE double
    buf = b"\x10\xac\x02" + b"\x19" + struct.pack("<d", 1.5)
    m = decode_model_metrics(buf)
    assert m.trainable_parameters == 300 and m.total_time == 1.5 and m.evaluation_data == []
    assert encode_model_metrics(m) == buf


def test_protobuf_nested_roundtrip_and_unknown_fields():
    evals = [EvaluationData(0.0, 0.0, 0.1, 0.1, 0.1),
             EvaluationData(54.0, 600.5, 0.8, 0.75, 0.74, "ckpt/54"),
             EvaluationData(108.0, 1200.25, 1.0, 0.93, 0.925, "ckpt/108")]
    m = ModelMetrics(evals, 2_694_282, 1300.0)
    buf = encode_model_metrics(m)
    assert decode_model_metrics(buf) == m
    # an unknown varint field (15) and an unknown fixed32 field (16) are skipped
    extra = bytes([15 << 3 | 0, 7]) + bytes([(16 << 3 | 5) | 0x80, 1]) + b"\x00\x00\x00\x00"
    assert decode_model_metrics(buf + extra) == m
    with pytest.raises(BenchmarkError):
        decode_model_metrics(buf[:-3])


def test_nb101_record_roundtrip(tmp_path):
    m = ModelMetrics([EvaluationData(), EvaluationData(2.0), EvaluationData(4.0, 10.0, 0.5, 0.4, 0.3)], 1000, 12.0)
    adj = "0100000" + "0010000" + "0001000" + "0000100" + "0000010" + "0000001" + "0000000"
    ops = "input,conv3x3-bn-relu,conv1x1-bn-relu,maxpool3x3,conv3x3-bn-relu,conv3x3-bn-relu,output"
    data = encode_nb101_record("0" * 32, 4, adj, ops, m)
    assert data.startswith(b'["00000000000000000000000000000000", 4, "0100000')
    rec = decode_nb101_record(data)
    assert (rec.module_hash, rec.epochs, rec.raw_adjacency, rec.raw_operations) == ("0" * 32, 4, adj, ops)
    assert rec.final.test_accuracy == 0.3 and rec.metrics == m
    p = tmp_path / "r.tfrecord"
    write_tfrecord(p, [data, b'["not json'])
    it = iter_nb101(p)
    assert next(it).epochs == 4
    with pytest.raises(BenchmarkError, match=f"byte offset {16 + len(data)}"):
        next(it)
