"""NAS-Bench-1Shot1 (Zela et al., ICLR 2020): three sub-spaces of NAS-Bench-101
with a one-shot supernet; registered as ``nb1shot1-s1``, ``nb1shot1-s2``, ``nb1shot1-s3``."""

from search_spaces import register_space
from search_spaces.nb1shot1.space import NB1Shot1Space
from search_spaces.nb1shot1.structure import DEAD_OP, OPS, STRUCTURES, SpaceStructure

NB1SHOT1_S1 = register_space(NB1Shot1Space(STRUCTURES[1]))
NB1SHOT1_S2 = register_space(NB1Shot1Space(STRUCTURES[2]))
NB1SHOT1_S3 = register_space(NB1Shot1Space(STRUCTURES[3]))
SPACES_BY_NUMBER = {1: NB1SHOT1_S1, 2: NB1SHOT1_S2, 3: NB1SHOT1_S3}

__all__ = ["DEAD_OP", "NB1SHOT1_S1", "NB1SHOT1_S2", "NB1SHOT1_S3", "OPS", "SPACES_BY_NUMBER", "STRUCTURES",
           "NB1Shot1Space", "SpaceStructure"]
