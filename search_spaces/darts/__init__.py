"""DARTS-style spaces: RobustDARTS S1-S4 (``s1``..``s4``) and the 81-architecture S5 (``s5``).

Ops, supernet and discrete network are shared; each space is data
(``spaces.py``). ``s5`` is registered here only while the older
``search_spaces.s5`` package is not among the built-in space modules: both
define the same encoding and string form, and a name cannot be registered
twice. Remove ``"search_spaces.s5"`` from ``search_spaces.catalog._BUILTIN`` to switch.
"""

from search_spaces import SPACES, register_space
from search_spaces.catalog import _BUILTIN
from search_spaces.darts.genotype import Genotype, parse_genotypes
from search_spaces.darts.network import DartsNetwork, DiscreteCell, EvalNetConfig, network_from_genotype
from search_spaces.darts.s5 import S5Space
from search_spaces.darts.space import DartsSpace
from search_spaces.darts.spaces import DARTS_SPECS, S5_OPS, S5_SPEC, CellSpec, darts_edges
from search_spaces.darts.supernet import DartsSupernet, reduction_cells

S1, S2, S3, S4 = (register_space(DartsSpace(name, DARTS_SPECS[name])) for name in ("s1", "s2", "s3", "s4"))
#: The S5 space object (registered as ``s5`` unless the legacy package owns the name).
S5 = S5Space()
if "search_spaces.s5" not in _BUILTIN and "s5" not in SPACES:
    register_space(S5)

__all__ = [
    "DARTS_SPECS", "S1", "S2", "S3", "S4", "S5", "S5_OPS", "S5_SPEC", "CellSpec", "DartsNetwork", "DartsSpace",
    "DartsSupernet", "DiscreteCell", "EvalNetConfig", "Genotype", "S5Space", "darts_edges",
    "network_from_genotype", "parse_genotypes", "reduction_cells",
]
