"""The data a protocol family is written in: a value with its source (``V``) and a family (``Family``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class V(NamedTuple):
    """A preset value and where it comes from."""

    value: Any
    source: str


@dataclass(frozen=True)
class Family:
    """The protocol of one benchmark family.

    Attributes:
        name: Preset prefix (``nb201`` -> presets ``nb201/<optimizer>``).
        spaces: Space names this family's presets apply to.
        description: One line for ``harness protocol --list``.
        common: Values shared by every optimizer of the family.
        methods: Per optimizer, values that differ from ``common``.
        deviations: Per optimizer (``"*"``: all), deliberate differences from the official code.
        rule: ``rule(optimizer, values, sources, overridden keys)`` sets values that follow other values
            after overrides (e.g. RobustDARTS turns Cutout off when the drop-path probability is 0).
    """

    name: str
    spaces: tuple[str, ...]
    description: str
    common: dict[str, V]
    methods: dict[str, dict[str, V]] = field(default_factory=dict)
    deviations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rule: Callable[[str, dict[str, Any], dict[str, str], set[str]], None] | None = None
