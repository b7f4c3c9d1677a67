"""Random-wired wide ResNet, the space of NSA's official network (see ``space``)."""

from search_spaces import register_space
from search_spaces.randwire.space import ENTRIES, NUM_NODES, STAGES, RandWireSpace, er_adjacency

RANDWIRE = register_space(RandWireSpace())

__all__ = ["ENTRIES", "NUM_NODES", "RANDWIRE", "STAGES", "RandWireSpace", "er_adjacency"]
