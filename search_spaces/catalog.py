"""The space registry: ``register_space``, ``get_space``, ``list_spaces`` and the built-in spaces' modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from search_spaces.registry import Registry

if TYPE_CHECKING:
    from search_spaces.space import SearchSpace

#: Modules whose import registers the built-in spaces.
_BUILTIN: list[str] = ["search_spaces.nb201", "search_spaces.s5", "search_spaces.darts", "search_spaces.nb1shot1",
                       "search_spaces.randwire"]


def _adopt(name: str, obj: object) -> None:
    # an entry point naming a space class or instance that did not register itself
    space = obj() if isinstance(obj, type) else obj
    if getattr(space, "name", name) != name:
        raise ValueError(f"entry point {name!r} names space {space.name!r}; use the space's name")
    SPACES.register(name, space)


SPACES: Registry[SearchSpace] = Registry("space", _BUILTIN, "nas_harness.spaces", _adopt)


def register_space(space: SearchSpace) -> SearchSpace:
    """Register a space instance under ``space.name``."""
    SPACES.register(space.name, space, source=type(space).__module__)
    return space


def get_space(name: str) -> SearchSpace:
    """The registered space ``name`` (``UnknownNameError`` with close matches otherwise)."""
    return SPACES.get(name)


def list_spaces() -> list[str]:
    """Names of all registered spaces."""
    return SPACES.names()
