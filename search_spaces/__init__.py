"""Search spaces: architecture encodings, primitive ops, supernets and networks.

Spaces register themselves in ``SPACES``; ``get_space(name)`` returns the
(stateless) space object. The lowest package: it imports neither ``benchmarks``
nor ``harness``.
"""

from __future__ import annotations

from search_spaces.architecture import Architecture
from search_spaces.catalog import SPACES, get_space, list_spaces, register_space
from search_spaces.errors import ArchitectureError, UserError

_LAZY = {"ParamGroup", "SearchSpace", "SupernetConfig"}  # they import torch: loaded on first use, so the
# CLI's --help and --version start without it


def __getattr__(name: str):
    if name in _LAZY:
        from search_spaces import space

        return getattr(space, name)
    raise AttributeError(f"module 'search_spaces' has no attribute {name!r}")


__all__ = [
    "SPACES", "Architecture", "ArchitectureError", "ParamGroup", "SearchSpace",
    "SupernetConfig", "UserError", "get_space", "list_spaces", "register_space",
]
