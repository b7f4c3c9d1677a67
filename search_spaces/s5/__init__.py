"""S5: the 81-architecture DARTS-style space (see ``space`` for the definition)."""

from search_spaces import register_space
from search_spaces.s5.space import EDGES, OPS, S5Space

S5 = register_space(S5Space())

__all__ = ["EDGES", "OPS", "S5", "S5Space"]
