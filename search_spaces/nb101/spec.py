"""NAS-Bench-101 cell specification: adjacency + op labels, pruned as NB-101 does.

A cell is a DAG of at most 7 vertices whose first vertex is ``input`` and
last is ``output``; interior vertices carry one of three ops. Construction
keeps the raw matrix/ops and derives the pruned form exactly like the
official ``ModelSpec``: vertices not reachable from the input (forward) *and*
not reaching the output (backward) are deleted, the rest keep their order.
If fewer than two vertices survive, input and output are disconnected and
the spec is invalid. Validity for a lookup additionally needs at most 7
vertices and at most 9 edges after pruning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search_spaces.errors import ArchitectureError
from search_spaces.nb101.hashing import hash_module

INPUT, OUTPUT = "input", "output"
CONV3X3, CONV1X1, MAXPOOL3X3 = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
#: Op order of the official config (``available_ops``); defines hash labels.
CANONICAL_OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)
MAX_VERTICES = 7
MAX_EDGES = 9
#: Op codes of the 56-tuple encoding used by NASLib (and the shared 500-cell file).
TUPLE_CODES = {0: INPUT, 1: OUTPUT, 2: MAXPOOL3X3, 3: CONV1X1, 4: CONV3X3}


class ModelSpec:
    """One NB-101 cell, raw and pruned.

    Args:
        matrix: ``[V, V]`` 0/1 upper-triangular adjacency, ``matrix[i, j]`` = edge i -> j.
        ops: ``V`` labels; first ``"input"``, last ``"output"``.

    Attributes:
        original_matrix: ``[V, V]`` int8 raw adjacency.
        original_ops: Raw labels.
        matrix: ``[V', V']`` int8 pruned adjacency, or None when invalid.
        ops: Pruned labels, or None when invalid.
        valid_spec: False when pruning disconnects input from output.
        kept_vertices: Raw indices of the vertices that survive pruning.
    """

    def __init__(self, matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]) -> None:
        m = np.asarray(matrix)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ArchitectureError(f"NB-101 matrix must be square, got shape {m.shape}")
        if m.shape[0] != len(ops):
            raise ArchitectureError(f"NB-101 spec: {len(ops)} ops for a {m.shape[0]}-vertex matrix")
        if not np.isin(m, (0, 1)).all():
            raise ArchitectureError("NB-101 matrix entries must be 0 or 1")
        if np.tril(m).any():
            raise ArchitectureError("NB-101 matrix must be strictly upper triangular")
        self.original_matrix = m.astype(np.int8)
        self.original_ops = list(ops)
        self.matrix: np.ndarray | None
        self.ops: list[str] | None
        self.valid_spec = True
        self.kept_vertices: list[int] = []
        self._prune()

    def _prune(self) -> None:
        m, v = self.original_matrix, self.original_matrix.shape[0]
        fwd, stack = {0}, [0]
        while stack:
            top = stack.pop()
            for w in range(top + 1, v):
                if m[top, w] and w not in fwd:
                    fwd.add(w)
                    stack.append(w)
        bwd, stack = {v - 1}, [v - 1]
        while stack:
            top = stack.pop()
            for w in range(top):
                if m[w, top] and w not in bwd:
                    bwd.add(w)
                    stack.append(w)
        keep = sorted(fwd & bwd)
        # Only input and output could both survive alone if they are adjacent;
        # fewer than two survivors means no input->output path at all.
        if len(keep) < 2:
            self.matrix, self.ops, self.valid_spec = None, None, False
            return
        self.kept_vertices = keep
        self.matrix = m[np.ix_(keep, keep)].copy()
        self.ops = [self.original_ops[i] for i in keep]

    # -- properties ------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        """Vertices after pruning (0 when invalid)."""
        return 0 if self.matrix is None else int(self.matrix.shape[0])

    @property
    def num_edges(self) -> int:
        """Edges after pruning (0 when invalid)."""
        return 0 if self.matrix is None else int(self.matrix.sum())

    def problems(self) -> list[str]:
        """Why the spec cannot be looked up in NB-101 (empty when it can)."""
        if not self.valid_spec or self.ops is None:
            return ["input is not connected to output"]
        out = []
        if self.num_vertices > MAX_VERTICES:
            out.append(f"{self.num_vertices} vertices > {MAX_VERTICES}")
        if self.num_edges > MAX_EDGES:
            out.append(f"{self.num_edges} edges > {MAX_EDGES}")
        if self.ops[0] != INPUT or self.ops[-1] != OUTPUT:
            out.append("first op must be 'input' and last 'output'")
        bad = [o for o in self.ops[1:-1] if o not in CANONICAL_OPS]
        if bad:
            out.append(f"unknown ops {bad} (known: {', '.join(CANONICAL_OPS)})")
        return out

    def is_valid(self) -> bool:
        """True when the official API would accept the spec."""
        return not self.problems()

    def hash(self) -> str:
        """Official ``module_hash`` of the pruned cell; ``ArchitectureError`` if invalid."""
        probs = self.problems()
        if probs:
            raise ArchitectureError(f"invalid NB-101 spec ({'; '.join(probs)}): {self.to_str(raw=True)}")
        assert self.ops is not None and self.matrix is not None
        labels = [-1] + [CANONICAL_OPS.index(o) for o in self.ops[1:-1]] + [-2]
        return hash_module(self.matrix, labels)

    # -- text forms --------------------------------------------------------
    def to_str(self, raw: bool = False) -> str:
        """``"<row-major adjacency bits>|<comma-separated ops>"`` of the pruned (or raw) cell."""
        m, ops = (self.original_matrix, self.original_ops) if raw or self.matrix is None else (self.matrix, self.ops)
        return "".join(str(int(b)) for b in m.flatten()) + "|" + ",".join(ops)

    @classmethod
    def from_str(cls, text: str) -> ModelSpec:
        """Inverse of ``to_str``; ``ArchitectureError`` quoting ``text`` otherwise."""
        bits, sep, ops_text = text.strip().partition("|")
        ops = ops_text.split(",")
        v = len(ops)
        if not sep or len(bits) != v * v or set(bits) - {"0", "1"}:
            raise ArchitectureError(f"malformed NB-101 spec string {text!r} (expected V*V bits|op,...,op)")
        return cls(np.array([int(b) for b in bits]).reshape(v, v), ops)

    @classmethod
    def from_raw(cls, raw_adjacency: str, raw_operations: str) -> ModelSpec:
        """From a tfrecord's ``raw_adjacency`` ('0'/'1' string) and ``raw_operations`` (comma list)."""
        ops = raw_operations.split(",")
        v = len(ops)
        if len(raw_adjacency) != v * v or set(raw_adjacency) - {"0", "1"}:
            raise ArchitectureError(f"raw adjacency {raw_adjacency!r} does not fit {v} ops")
        return cls(np.frombuffer(raw_adjacency.encode(), dtype=np.uint8).reshape(v, v) - ord("0"), ops)

    @classmethod
    def from_tuple56(cls, codes: Sequence[int]) -> ModelSpec:
        """From NASLib's 56-tuple: 49 row-major adjacency bits then 7 op codes (see ``TUPLE_CODES``)."""
        if len(codes) != 56:
            raise ArchitectureError(f"NB-101 56-tuple has {len(codes)} entries")
        try:
            ops = [TUPLE_CODES[int(c)] for c in codes[49:]]
        except KeyError as e:
            raise ArchitectureError(f"unknown NB-101 op code {e.args[0]} (known: {TUPLE_CODES})") from None
        return cls(np.array(codes[:49], dtype=np.int64).reshape(7, 7), ops)

    def __repr__(self) -> str:
        return f"ModelSpec({self.to_str(raw=True)!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ModelSpec) and self.original_ops == other.original_ops
                and np.array_equal(self.original_matrix, other.original_matrix))

    def __hash__(self) -> int:
        return hash(self.to_str(raw=True))
