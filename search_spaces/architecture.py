"""The architecture value type shared by every space.

An ``Architecture`` is a frozen, hashable pair (space name, integer choices).
What the choices mean is defined by the space (for NB-201: one op index per
edge). Its string form is the space's official one, e.g. NB-201's
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...|``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Architecture:
    """One discrete architecture of a registered space.

    Attributes:
        space: Registered space name (``"nb201"``, ``"s5"``, ...).
        choices: Space-defined integer encoding (e.g. op index per edge).
    """

    space: str
    choices: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(int(c) for c in self.choices))

    def to_str(self) -> str:
        """The official string form, as the space writes it."""
        from search_spaces.catalog import get_space

        return get_space(self.space).to_str(self)

    def __str__(self) -> str:
        return self.to_str()

    @property
    def index(self) -> int:
        """Position in the space's canonical enumeration (enumerable spaces only)."""
        from search_spaces.catalog import get_space

        return get_space(self.space).index(self)
