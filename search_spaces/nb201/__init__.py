"""NAS-Bench-201 space, supernet and discrete network."""

from search_spaces import register_space
from search_spaces.nb201.space import EDGES, OPS, NB201Space

NB201 = register_space(NB201Space())

__all__ = ["EDGES", "NB201", "OPS", "NB201Space"]
