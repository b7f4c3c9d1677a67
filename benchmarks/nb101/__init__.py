"""Reading the official NAS-Bench-101 files without TensorFlow.

``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord``: TFRecord framing
(``tfrecord``, with CRC-32C in ``crc32c``), JSON records (``records``) whose
metrics are a base64 ``ModelMetrics`` protobuf (``protobuf``). The tables of
the NAS-Bench-1Shot1 spaces are built from these in ``benchmarks.nb1shot1``.
"""

from benchmarks.nb101.crc32c import crc32c, crc32c_py, mask, masked_crc32c
from benchmarks.nb101.protobuf import EvaluationData, ModelMetrics, decode_model_metrics, encode_model_metrics
from benchmarks.nb101.records import NB101Record, decode_nb101_record, encode_nb101_record, iter_nb101
from benchmarks.nb101.tfrecord import encode_record, iter_records, read_tfrecord, write_tfrecord

__all__ = [
    "EvaluationData", "ModelMetrics", "NB101Record", "crc32c", "crc32c_py", "decode_model_metrics",
    "decode_nb101_record", "encode_model_metrics", "encode_nb101_record", "encode_record", "iter_nb101",
    "iter_records", "mask", "masked_crc32c", "read_tfrecord", "write_tfrecord",
]
