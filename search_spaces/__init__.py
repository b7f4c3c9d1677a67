"""Search spaces: architecture encodings, primitive ops, supernets and networks.

Spaces register themselves in ``SPACES``; ``get_space(name)`` returns the
(stateless) space object. The lowest package: it imports neither ``benchmarks``
nor ``harness``.
"""

from __future__ import annotations

from search_spaces.architecture import Architecture
from search_spaces.errors import ArchitectureError, UserError
from search_spaces.catalog import SPACES, get_space, list_spaces, register_space
from search_spaces.space import ParamGroup, SearchSpace, SupernetConfig

__all__ = [
    "SPACES", "Architecture", "ArchitectureError", "ParamGroup", "SearchSpace",
    "SupernetConfig", "UserError", "get_space", "list_spaces", "register_space",
]
