"""NAS-Bench-101 cells: ``ModelSpec`` (pruning, validity), the official graph hash,
and the discrete NB-101 network. Not a registered space itself: the
NAS-Bench-1Shot1 spaces (``search_spaces.nb1shot1``) are built on it."""

from search_spaces.nb101.hashing import hash_graph, hash_module
from search_spaces.nb101.spec import (
    CANONICAL_OPS, CONV1X1, CONV3X3, INPUT, MAX_EDGES, MAX_VERTICES, MAXPOOL3X3, OUTPUT, TUPLE_CODES, ModelSpec,
)

__all__ = [
    "CANONICAL_OPS", "CONV1X1", "CONV3X3", "INPUT", "MAXPOOL3X3", "MAX_EDGES", "MAX_VERTICES", "OUTPUT",
    "TUPLE_CODES", "ModelSpec", "hash_graph", "hash_module",
]
