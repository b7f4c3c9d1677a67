"""The space registry: ``register_space``, ``get_space``, ``list_spaces`` and the built-in spaces' modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from search_spaces.registry import Registry

if TYPE_CHECKING:
    from search_spaces.space import SearchSpace

SPACES: Registry[SearchSpace] = Registry("space")


def register_space(space: SearchSpace) -> SearchSpace:
    """Register a space instance under ``space.name``."""
    SPACES.register(space.name, space)
    return space


def get_space(name: str) -> SearchSpace:
    """The registered space ``name`` (``UnknownNameError`` with close matches otherwise)."""
    _load_builtin()
    return SPACES.get(name)


def list_spaces() -> list[str]:
    """Names of all registered spaces."""
    _load_builtin()
    return SPACES.names()


_loaded = False


def _load_builtin() -> None:
    # Deferred so that importing search_spaces stays cheap and cycle-free.
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for mod in _BUILTIN:
        importlib.import_module(mod)


#: Modules whose import registers the built-in spaces.
_BUILTIN: list[str] = ["search_spaces.nb201", "search_spaces.s5", "search_spaces.darts", "search_spaces.nb1shot1",
                       "search_spaces.randwire"]
